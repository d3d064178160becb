"""OrthogonalProjector fit + transform against fairlearn and a bare numpy solve.

n = 1,000,000 rows, 100 columns (4 protected), float64, in one run. Prints the
best of ``--repeats`` wall times, the ratios against both baselines and the
peak memory of our fit + transform (tracemalloc, which sees NumPy's buffers)
relative to the size of X.

    PYTHONPATH=. python benchmarks/bench_projector.py [--rows N] [--repeats R]
"""

import argparse
import os
import time
import tracemalloc

import numpy as np

from orthokit import OrthogonalProjector


def bare_numpy(X, k):
    """The same maths in plain NumPy: centred Gram matrix, solve, subtract."""
    S, F = X[:, :k], X[:, k:]
    S_centred = S - S.mean(axis=0)
    coef = np.linalg.solve(S_centred.T @ S_centred, S_centred.T @ F)
    return F - S_centred @ coef


def fairlearn_remover(X, k):
    from fairlearn.preprocessing import CorrelationRemover

    return CorrelationRemover(sensitive_feature_ids=list(range(k))).fit_transform(X)


def ours(X, k):
    return OrthogonalProjector(protected=list(range(k))).fit_transform(X)


def best_time(func, X, k, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        out = func(X, k)
        times.append(time.perf_counter() - start)
        del out
    return min(times)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--features", type=int, default=100)
    parser.add_argument("--protected", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    k = args.protected
    X = rng.normal(size=(args.rows, args.features))
    X[:, k:] += X[:, :k] @ rng.normal(size=(k, args.features - k))

    np.testing.assert_allclose(ours(X[:5000], k), bare_numpy(X[:5000], k), atol=1e-9)
    timings = {
        "orthokit OrthogonalProjector": best_time(ours, X, k, args.repeats),
        "bare numpy Gram-and-solve": best_time(bare_numpy, X, k, args.repeats),
        "fairlearn CorrelationRemover": best_time(fairlearn_remover, X, k, 1),
    }
    tracemalloc.start()
    ours(X, k)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()

    size_gb = X.nbytes / 1e9
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"OPENBLAS_NUM_THREADS={threads}; best of {args.repeats} (fairlearn: 1 run)")
    print(
        f"X: {args.rows:,} x {args.features} float64 ({size_gb:.2f} GB), {k} protected"
    )
    print(f"{'method':32s} {'fit+transform (s)':>18s} {'orthokit speed-up':>18s}")
    ours_time = timings["orthokit OrthogonalProjector"]
    for name, seconds in timings.items():
        print(f"{name:32s} {seconds:18.3f} {seconds / ours_time:17.1f}x")
    print(
        f"peak memory of orthokit fit+transform: X + {peak / 1e9:.2f} GB allocated "
        f"= {(X.nbytes + peak) / X.nbytes:.2f}x the size of X"
    )


if __name__ == "__main__":
    main()
