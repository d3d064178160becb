"""RecursiveResidualizer: speed against OrthogonalProjector and padasip, and accuracy.

Run from the repository root:

    PYTHONPATH=. python benchmarks/bench_recursive.py > benchmarks/results/recursive.md

One run of each measurement; ratios compare timings taken in the same run.
"""

import os

# On a machine shared by several developers OpenBLAS's worker threads spin
# against each other: a 50,000 x 68 product took 60 times longer with 2 threads
# than with 1. Pin one thread unless told otherwise.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import padasip  # noqa: E402

from orthokit._rls import rls_init, rls_update  # noqa: E402
from orthokit.preprocessing import (  # noqa: E402
    OrthogonalProjector,
    RecursiveResidualizer,
)

N_ROWS, N_FEATURES, N_PROTECTED, CHUNK = 1_000_000, 64, 4, 1024
PROTECTED = list(range(N_PROTECTED))
FORGETTING = 0.999


def make_stream(n, rng, dtype=np.float64, start=0, total=None):
    """Protected columns and features whose dependence on them drifts slowly."""
    total = n if total is None else total
    S = rng.standard_normal((n, N_PROTECTED)) + [0.0, 5.0, 40.0, 0.0]
    S[:, 3] = S[:, 3] > 0
    phase = (start + np.arange(n)) / total
    base = np.linspace(-1, 1, N_PROTECTED * N_FEATURES).reshape(N_PROTECTED, -1)
    F = rng.standard_normal((n, N_FEATURES))
    F += S @ base + phase[:, None] * (S @ base[::-1])
    return np.hstack([S, F]).astype(dtype, copy=False)


def timed(function):
    start = time.perf_counter()
    result = function()
    return time.perf_counter() - start, result


def stream(estimator, X, chunk):
    for start in range(0, len(X), chunk):
        estimator.partial_fit(X[start : start + chunk])
    return estimator


def padasip_filters(X):
    """One padasip FilterRLS per feature, adapted row by row."""
    M = np.column_stack([np.ones(len(X)), X[:, :N_PROTECTED]])
    filters = [
        padasip.filters.FilterRLS(N_PROTECTED + 1, mu=FORGETTING, eps=1.0, w="zeros")
        for _ in range(N_FEATURES)
    ]
    for i in range(len(X)):
        for j, f in enumerate(filters):
            f.adapt(X[i, N_PROTECTED + j], M[i])
    return np.column_stack([f.w for f in filters])


def main():
    rng = np.random.default_rng(0)
    X = make_stream(N_ROWS, rng)
    rows = []
    small = np.ones((5, 5))
    t_op, _ = timed(lambda: [small + small for _ in range(100_000)])

    t_proj, _ = timed(lambda: OrthogonalProjector(protected=PROTECTED).fit(X))
    rows.append(("OrthogonalProjector.fit (baseline)", t_proj, N_ROWS / t_proj, 1.0))

    def add(label, seconds, n=N_ROWS):
        rows.append((label, seconds, n / seconds, seconds / t_proj))

    per_batch = {"protected": PROTECTED, "forgetting_factor": FORGETTING}
    t, _ = timed(lambda: RecursiveResidualizer(batch_size=CHUNK, **per_batch).fit(X))
    add(f"fit, batch_size={CHUNK}, forgetting per batch", t)
    t, _ = timed(lambda: stream(RecursiveResidualizer(**per_batch), X, CHUNK))
    add(f"partial_fit x {N_ROWS // CHUNK + 1} chunks of {CHUNK}, per batch", t)
    per_sample = dict(per_batch, forget_per="sample")
    t, ours = timed(lambda: stream(RecursiveResidualizer(**per_sample), X, CHUNK))
    add(f"partial_fit, chunks of {CHUNK}, forgetting per sample", t)
    t, _ = timed(lambda: RecursiveResidualizer(**per_sample).fit(X))
    add("fit, forgetting per sample (one call)", t)

    # Single rows: the per-call overhead of partial_fit.
    single = RecursiveResidualizer(**per_sample).partial_fit(X[:CHUNK])
    n_single = 5000
    t_single, _ = timed(lambda: stream(single, X[CHUNK : CHUNK + n_single], 1))
    add(f"partial_fit, {n_single} single rows", t_single, n_single)

    # padasip on a prefix.
    n_prefix = 20_000
    prefix = X[:n_prefix]
    t_pada, w_pada = timed(lambda: padasip_filters(prefix))
    t_ours_prefix, _ = timed(
        lambda: stream(RecursiveResidualizer(**per_sample), prefix, CHUNK)
    )
    # Same filter as padasip (raw regressors, P0 = I / eps, zero start) in the core.
    M = np.column_stack([np.ones(n_prefix), prefix[:, :N_PROTECTED]])
    state = rls_init(N_PROTECTED + 1, N_FEATURES, 1.0)
    state = rls_update(
        *state, M, prefix[:, N_PROTECTED:], forgetting=FORGETTING, per_sample=True
    )
    pada_gap = np.abs(state[2] - w_pada).max() / np.abs(w_pada).max()

    print("# RecursiveResidualizer benchmark\n")
    print(
        f"Machine: {platform.processor() or platform.machine()}, shared by several "
        "developers during the run (load was high, timings are noisy); one run of "
        "each. numpy "
        f"{np.__version__}. Data: {N_ROWS:,} rows, {N_FEATURES} float64 features, "
        f"{N_PROTECTED} protected columns (one binary, two with non-zero means), "
        f"forgetting factor {FORGETTING}.\n"
    )
    print("| what | seconds | rows/s | time / OrthogonalProjector.fit |")
    print("|---|---:|---:|---:|")
    for label, seconds, rate, ratio in rows:
        print(f"| {label} | {seconds:.3f} | {rate:,.0f} | {ratio:.2f} |")
    print(
        f"\nSingle-row partial_fit: {t_single / n_single * 1e6:.0f} µs per call "
        f"(target <= 200 µs); for scale, one numpy addition of two 5x5 arrays "
        f"took {t_op / 100_000 * 1e6:.2f} µs in this run.\n"
    )
    print(f"## Against padasip FilterRLS ({n_prefix:,}-row prefix)\n")
    print("| what | seconds | rows/s | speed-up over padasip |")
    print("|---|---:|---:|---:|")
    rate_pada = n_prefix / t_pada
    print(f"| padasip, 64 filters, row by row | {t_pada:.2f} | {rate_pada:,.0f} | 1 |")
    print(
        f"| ours, per sample, chunks of {CHUNK} | {t_ours_prefix:.3f} | "
        f"{n_prefix / t_ours_prefix:,.0f} | {t_pada / t_ours_prefix:,.0f} |"
    )
    rate_single = n_single / t_single
    print(
        f"| ours, single-row partial_fit (from above) | - | {rate_single:,.0f} | "
        f"{rate_single / (n_prefix / t_pada):,.1f} |"
    )
    print(
        f"\nSame filter in the core (`rls_update`, raw regressors, P0 = I): max "
        f"relative difference to padasip's weights {pada_gap:.1e}.\n"
    )
    return per_sample


def big_stream(per_sample):
    # 10 million float32 rows, generated and streamed chunk by chunk.
    n_big, chunk_big, keep = 10_000_000, 100_000, 60_000
    rng = np.random.default_rng(1)
    big = RecursiveResidualizer(**per_sample)
    start_time = time.perf_counter()
    tail = []
    for start in range(0, n_big, chunk_big):
        chunk = make_stream(chunk_big, rng, np.float32, start, n_big)
        big.partial_fit(chunk)
        if start + chunk_big > n_big - keep:
            tail.append(chunk)
    t_big = time.perf_counter() - start_time
    tail = np.vstack(tail)[-keep:].astype(np.float64)
    # Older rows have weight below 0.999**60000 = 1e-26: nothing in float64.
    weights = FORGETTING ** np.arange(keep - 1, -1, -1.0)
    S, F = tail[:, :N_PROTECTED], tail[:, N_PROTECTED:]
    M = np.column_stack([np.ones(keep), S - S.mean(axis=0)])
    root = np.sqrt(weights)[:, None]
    reference = np.linalg.lstsq(M * root, F * root, rcond=None)[0][1:]
    gap = np.abs(big.coef_ - reference).max() / np.abs(reference).max()
    print(f"## {n_big:,} float32 rows, forgetting {FORGETTING} per sample\n")
    print(
        f"Streamed in chunks of {chunk_big:,} (generation included): {t_big:.1f} s. "
        f"Max relative difference of `coef_` to a weighted least-squares reference "
        f"(float64 `lstsq` on the last {keep:,} rows with weights 0.999^age): "
        f"{gap:.1e} (target 1e-6).\n"
    )


if __name__ == "__main__":
    big_stream(main())
