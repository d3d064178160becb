"""OrthogonalProjector on dask: a local cluster against in memory, and out of core.

1. At a size that fits in memory (default 4,000,000 x 32 float64, 1 GB): fit on
   a numpy array in this process against fit on the same data as a dask array
   held by a 2-worker LocalCluster (statistics reduced across blocks by dask).
   Prints the time ratio and peak memory (this process; each worker).
2. Out of core (default 50,000,000 x 32 float64, 12.8 GB, more than 4 GiB):
   generated block by block by dask, fitted with the threaded scheduler in this
   process; peak resident memory against the size of the data.

    PYTHONPATH=. python benchmarks/bench_dask.py [--rows N] [--big-rows N]
"""

import argparse
import resource
import time

import dask
import dask.array as da
import numpy as np

from orthokit import OrthogonalProjector

K = 4


def make(rows, columns, chunk_rows, seed=0):
    """A lazily generated dask array whose last columns depend on the first K."""
    rng = da.random.default_rng(seed)
    X = rng.normal(size=(rows, columns), chunks=(chunk_rows, columns))
    mix = np.random.default_rng(seed).normal(size=(K, columns - K))
    return da.concatenate([X[:, :K], X[:, K:] + X[:, :K] @ mix], axis=1)


def peak_rss_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6  # KiB on Linux


def in_memory_vs_cluster(rows, columns):
    from dask.distributed import Client, LocalCluster

    X_dask = make(rows, columns, chunk_rows=250_000)
    X = X_dask.compute()
    start = time.perf_counter()
    reference = OrthogonalProjector(protected=list(range(K))).fit(X)
    t_memory = time.perf_counter() - start
    with (
        LocalCluster(n_workers=2, threads_per_worker=1, memory_limit="4GiB") as cluster,
        Client(cluster) as client,
    ):
        X_cluster = client.persist(da.from_array(X, chunks=(250_000, columns)))
        X_cluster = X_cluster.persist()
        start = time.perf_counter()
        fitted = OrthogonalProjector(protected=list(range(K))).fit(X_cluster)
        t_cluster = time.perf_counter() - start
        worker_peak = client.run(
            lambda: resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
        )
    error = np.abs(fitted.coef_ - reference.coef_).max() / np.abs(reference.coef_).max()
    print(f"1. {rows:,} x {columns} float64 ({X.nbytes / 1e9:.2f} GB)")
    print(f"   in-memory fit (numpy, this process): {t_memory:8.3f} s")
    print(
        f"   dask fit on a 2-worker LocalCluster: {t_cluster:8.3f} s "
        f"({t_cluster / t_memory:.2f}x the in-memory time)"
    )
    print(f"   max relative coefficient difference: {error:.1e}")
    print(
        f"   peak RSS: this process {peak_rss_gb():.2f} GB; workers "
        + ", ".join(f"{v:.2f} GB" for v in worker_peak.values())
    )


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=4_000_000)
    parser.add_argument("--big-rows", type=int, default=50_000_000)
    parser.add_argument("--columns", type=int, default=32)
    args = parser.parse_args()
    out_of_core(args.big_rows, args.columns)  # first, so its peak RSS is its own
    in_memory_vs_cluster(args.rows, args.columns)


if __name__ == "__main__":
    main()
