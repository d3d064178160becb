"""OrthogonalProjector and OrthogonalGLM on dask: a local cluster against in memory,
and out of core.

1. At a size that fits in memory (default 4,000,000 x 32 float64, 1 GB): fit on
   a numpy array in this process against fit on the same data as a dask array
   generated and persisted on LocalClusters of 1 and 2 single-threaded workers
   (``_dask_cluster.py``), each timed cold and warm; the per-block cost of the
   pass, and from it a cluster of N machines.
2. Out of core (default 50,000,000 x 32 float64, 12.8 GB, more than 4 GiB):
   generated block by block by dask, fitted with the threaded scheduler in this
   process; peak resident memory against the size of the data.

3. GLM out of core (default 16,000,000 x 9, a binomial GLM with 2 protected
   columns, generated block by block): OrthogonalGLM(solver="newton") with the
   threaded scheduler; peak resident memory, passes over the data, constraint
   violation.
4. GLM in memory against dask on the same data (default 2,000,000 x 9): numpy in
   this process (the baseline), a dask array with the threaded scheduler, and
   LocalClusters of 1 and 2 single-threaded workers holding the data
   (generated and persisted on them); each timed cold (first fit) and warm
   (second fit), with the coefficient difference to the in-memory fit, and the
   per-block costs of a pass from which a cluster of N machines is
   extrapolated.

5. The audit (``check_orthogonality``, default 4,000,000 rows): binomial
   predictions against two categorical protected columns (race, 5 levels;
   sex), in memory (pandas) against dask data frames (threaded scheduler in
   this process, then a 2-worker LocalCluster with the data persisted on the
   workers). Each is timed twice: cold (first call) and warm (second).
6. The audit with numeric protected columns (default 4,000,000 rows): binomial
   predictions against age and income (numeric) and sex, in memory (pandas,
   statsmodels on all rows) against dask data frames with the threaded
   scheduler (IRLS, one pass of block reductions per iteration); one call each.

    PYTHONPATH=. python benchmarks/bench_dask.py [--rows N] [--big-rows N]
        [--glm-rows N] [--glm-big-rows N] [--audit-rows N]
        [--only {all,projector,glm,audit,audit-numeric}]

Print OpenBLAS's thread count with the results: run it with
``OPENBLAS_NUM_THREADS=1`` and without.
"""

import argparse
import os
import resource
import time

import dask
import dask.array as da
import numpy as np

from benchmarks._dask_cluster import glm_vs_cluster, projector_vs_cluster
from orthokit import OrthogonalProjector
from orthokit.evaluation import check_orthogonality
from orthokit.linear_model import OrthogonalGLM

# Read before dask.distributed is imported (in functions): it sets it to 1.
OPENBLAS_THREADS = os.environ.get("OPENBLAS_NUM_THREADS", "default")
K = 4


def make(rows, columns, chunk_rows, seed=0):
    """A lazily generated dask array whose last columns depend on the first K."""
    rng = da.random.default_rng(seed)
    X = rng.normal(size=(rows, columns), chunks=(chunk_rows, columns))
    mix = np.random.default_rng(seed).normal(size=(K, columns - K))
    X = da.concatenate([X[:, :K], X[:, K:] + X[:, :K] @ mix], axis=1)
    return X.rechunk({1: -1})  # one chunk along the columns, as the fit reads them


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


def out_of_core(rows, columns):
    X = make(rows, columns, chunk_rows=500_000, seed=1)
    size_gb = rows * columns * 8 / 1e9
    before = peak_rss_gb()
    start = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        fitted = OrthogonalProjector(protected=list(range(K))).fit(X)
    seconds = time.perf_counter() - start
    print(f"2. out of core: {rows:,} x {columns} float64 = {size_gb:.1f} GB generated")
    print(f"   block by block; fit in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    print(
        f"   peak RSS of this process: {peak_rss_gb():.2f} GB (before the fit "
        f"{before:.2f} GB) = {peak_rss_gb() / size_gb:.3f}x the size of the data"
    )
    print(f"   rows seen: {fitted.n_samples_seen_:,}")


def audit_data(rows, seed=2):
    """Predictions and protected columns (pandas categoricals), in memory."""
    import pandas as pd

    rng = np.random.default_rng(seed)
    race = rng.choice(5, rows, p=[0.6, 0.2, 0.1, 0.06, 0.04])
    sex = rng.integers(0, 2, rows)
    eta = rng.normal(size=rows) + 0.05 * sex
    S = pd.DataFrame(
        {
            "race": pd.Categorical.from_codes(race, list("WBAHO")),
            "sex": pd.Categorical.from_codes(sex, ["F", "M"]),
        }
    )
    return pd.Series(1 / (1 + np.exp(-eta)), name="p"), S


def _twice(function):
    """Time two calls: cold (the first) and warm; return both and the result."""
    times = []
    for _ in range(2):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def audit_vs_memory(rows, blocks=16):
    import dask.dataframe as dd
    from dask.distributed import Client, LocalCluster

    y, S = audit_data(rows)
    t_memory, reference = _twice(lambda: check_orthogonality(y, S))
    y_dask, S_dask = dd.from_pandas(y, blocks), dd.from_pandas(S, blocks)
    y_dask, S_dask = dask.persist(y_dask, S_dask)
    with dask.config.set(scheduler="threads", num_workers=2):
        t_threads, threaded = _twice(lambda: check_orthogonality(y_dask, S_dask))
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="4GiB") as cluster,
        Client(cluster) as client,
    ):
        y_c, S_c = client.persist(
            [dd.from_pandas(y, blocks), dd.from_pandas(S, blocks)]
        )
        t_cluster, clustered = _twice(lambda: check_orthogonality(y_c, S_c))
    columns = ["coef", "std_err", "statistic", "p_value", "ci_lower", "ci_upper"]
    expected = reference.to_frame()[columns].to_numpy()
    scale = np.maximum(np.abs(expected), np.finfo(float).tiny)
    error = max(
        float(np.max(np.abs(r.to_frame()[columns].to_numpy() - expected) / scale))
        for r in (threaded, clustered)
    )
    print(
        f"3. audit: check_orthogonality, {rows:,} binomial predictions on race (5 "
        f"levels) and sex, {blocks} blocks (OPENBLAS_NUM_THREADS="
        f"{OPENBLAS_THREADS})"
    )
    timings = [
        ("in memory (pandas, baseline)", t_memory),
        ("dask, threaded scheduler (2 threads)", t_threads),
        ("dask, 2-worker LocalCluster, persisted", t_cluster),
    ]
    for label, (cold, warm) in timings:
        print(
            f"   {label:40s} cold {cold:7.3f} s ({cold / t_memory[0]:5.2f}x)  "
            f"warm {warm:7.3f} s ({warm / t_memory[1]:5.2f}x)"
        )
    print(f"   max relative difference of the report from in memory: {error:.1e}")


def audit_numeric_vs_memory(rows, blocks=16, seed=3):
    import dask.dataframe as dd
    import pandas as pd

    rng = np.random.default_rng(seed)
    S = pd.DataFrame(
        {
            "age": rng.normal(40, 10, rows),
            "income": rng.lognormal(10, 1, rows),
            "sex": pd.Categorical.from_codes(rng.integers(0, 2, rows), ["F", "M"]),
        }
    )
    eta = rng.normal(size=rows) + 0.01 * (S["age"].to_numpy() - 40)
    y = pd.Series(1 / (1 + np.exp(-eta)), name="p")
    start = time.perf_counter()
    reference = check_orthogonality(y, S)
    t_memory = time.perf_counter() - start
    y_dask, S_dask = dask.persist(dd.from_pandas(y, blocks), dd.from_pandas(S, blocks))
    with dask.config.set(scheduler="threads", num_workers=2):
        start = time.perf_counter()
        threaded = check_orthogonality(y_dask, S_dask)
        t_threads = time.perf_counter() - start
    columns = ["coef", "std_err", "statistic", "p_value", "ci_lower", "ci_upper"]
    expected = reference.to_frame()[columns].to_numpy()
    scale = np.maximum(np.abs(expected), np.finfo(float).tiny)
    got = threaded.to_frame()[columns].to_numpy()
    error = float(np.max(np.abs(got - expected) / scale))
    print(
        f"6. audit, numeric protected columns: check_orthogonality, {rows:,} "
        f"binomial predictions on age, income (numeric) and sex, {blocks} blocks "
        f"(OPENBLAS_NUM_THREADS={OPENBLAS_THREADS}); one call each"
    )
    print(f"   in memory (pandas, statsmodels on all rows)  {t_memory:7.2f} s (1.00x)")
    print(
        f"   dask, threaded scheduler (2 threads)         {t_threads:7.2f} s "
        f"({t_threads / t_memory:.2f}x)"
    )
    print(f"   max relative difference of the report from in memory: {error:.1e}")


GLM_CHUNK = 500_000


def make_glm(rows, chunk_rows=GLM_CHUNK, seed=0):
    """A lazily generated binomial GLM: 7 predictors, then 2 protected columns."""
    rng = da.random.default_rng(seed)
    Z = rng.normal(size=(rows, 9), chunks=(chunk_rows, 9))
    # One chunk along the columns, as the fit reads them (rechunked once here,
    # not by every pass over persisted data).
    X = da.concatenate([Z[:, :7], Z[:, 7:] + 0.5 * Z[:, :2]], axis=1).rechunk({1: -1})
    eta = X[:, :7] @ np.linspace(-1.0, 1.0, 7) + 0.2
    y = (rng.random(size=rows, chunks=chunk_rows) < 1 / (1 + da.exp(-eta))).astype(
        np.int8
    )
    return X, y


def glm_out_of_core(rows):
    X, y = make_glm(rows, seed=1)
    before = peak_rss_gb()
    start = time.perf_counter()
    with dask.config.set(scheduler="threads", num_workers=2):
        glm = OrthogonalGLM(protected=[7, 8]).fit(X, y)
    seconds = time.perf_counter() - start
    size_gb = rows * 9 * 8 / 1e9
    print(f"3. GLM out of core: {rows:,} x 9 float64 = {size_gb:.2f} GB, binomial,")
    print(f"   generated block by block ({GLM_CHUNK:,} rows), threaded scheduler")
    print(
        f"   fit in {seconds:.1f} s: {glm.n_iter_} Newton iterations, "
        f"{glm._n_passes} passes over the data "
        f"({rows * glm._n_passes / seconds:,.0f} rows/s per pass)"
    )
    print(
        f"   peak RSS of this process: {peak_rss_gb():.2f} GB (before the fit "
        f"{before:.2f} GB); constraint violation {glm.constraint_violation_:.1e}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--big-rows", type=int, default=50_000_000)
    parser.add_argument("--columns", type=int, default=32)
    parser.add_argument("--glm-rows", type=int, default=2_000_000)
    parser.add_argument("--glm-big-rows", type=int, default=16_000_000)
    parser.add_argument("--audit-rows", type=int, default=4_000_000)
    parser.add_argument(
        "--only",
        choices=["all", "projector", "glm", "audit", "audit-numeric"],
        default="all",
    )
    args = parser.parse_args()
    print(f"OPENBLAS_NUM_THREADS={OPENBLAS_THREADS}")
    if args.only in ("all", "projector"):
        if args.big_rows:
            out_of_core(args.big_rows, args.columns)  # first: its peak RSS is its own
        projector_vs_cluster(make, args.rows, args.columns, 250_000, list(range(K)))
    if args.only in ("all", "glm"):
        if args.only == "glm" and args.glm_big_rows:
            glm_out_of_core(args.glm_big_rows)  # first: its peak RSS is its own
        glm_vs_cluster(make_glm, args.glm_rows, GLM_CHUNK)
    if args.only in ("all", "audit"):
        audit_vs_memory(args.audit_rows)
    if args.only in ("all", "audit-numeric"):
        audit_numeric_vs_memory(args.audit_rows)


if __name__ == "__main__":
    main()
