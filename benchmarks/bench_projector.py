"""OrthogonalProjector fit + transform against fairlearn and a bare numpy solve.

n = 1,000,000 rows, 100 columns (4 protected), float64, in one run. Prints the
best of ``--repeats`` wall times, the ratios against both baselines and the
peak memory of our fit + transform (tracemalloc, which sees NumPy's buffers)
relative to the size of X.

    PYTHONPATH=. python benchmarks/bench_projector.py [--rows N] [--repeats R]

With ``--one-pass`` (issue 33) it times instead fit + transform of 1,000,000
x 104 (4 protected) from numpy, pandas and polars, float64 and float32, against
one read plus one copy of the same data as a NumPy array (``X.sum(axis=0)``
and ``X.copy()``, the least a fit that reads X and a transform that writes a
new array can cost) and against fairlearn's CorrelationRemover, all in the same
run: cold (the first call on a freshly built input) and warm (best of
``--repeats`` further calls), BLAS at one thread and at its default. It
prints a markdown table.
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
    parser.add_argument("--one-pass", action="store_true", help="issue 33 table")
    args = parser.parse_args()
    if args.one_pass:
        one_pass_table(args.rows, args.repeats)
        return
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


def numpy_floor(X, k, block_rows=1024):
    """The projector's arithmetic alone, in NumPy and BLAS: the floor of its design.

    Fit: per cached block of rows, the columns' range (max, min) and the
    products ``[1, S - mean]ᵀ F`` (float64); transform: per block, a copy of
    the features into the new output, then BLAS subtracts ``(S - mean) B``
    from it in place, and the block's sum checks it for NaN. No validation,
    no pivots, no frames: what fit + transform cannot go below with these
    building blocks.
    """
    from scipy.linalg.blas import get_blas_funcs
    from threadpoolctl import threadpool_limits

    n, d = X.shape[0], X.shape[1] - k
    S = np.asfortranarray(X[:, :k], dtype=np.float64)
    mean = S.mean(axis=0)
    design = np.empty((block_rows, k + 1), order="F")
    design[:, 0] = 1.0
    work = np.empty((block_rows, d))
    gram, products = np.zeros((k + 1, k + 1)), np.zeros((k + 1, d))
    with threadpool_limits(limits=1, user_api="blas"):
        for start in range(0, n, block_rows):
            block = X[start : start + block_rows, k:]
            rows = design[: block.shape[0]]
            np.subtract(S[start : start + block_rows], mean, out=rows[:, 1:])
            block.max(axis=0), block.min(axis=0)
            if block.dtype != np.float64:
                converted = work[: block.shape[0]]
                np.copyto(converted, block)
                block = converted
            products += rows.T @ block
            gram += rows.T @ rows
        coef = np.linalg.solve(gram[1:, 1:], products[1:] - np.outer(
            gram[0, 1:], products[0] / n))  # fmt: skip
        coef = np.asfortranarray(coef, dtype=X.dtype)
        out = np.empty((n, d), dtype=X.dtype)
        centred = np.empty((block_rows, k), dtype=X.dtype, order="F")
        gemm = get_blas_funcs("gemm", dtype=X.dtype)
        ones = np.ones(block_rows, dtype=X.dtype)
        for start in range(0, n, block_rows):
            stop = min(start + block_rows, n)
            np.subtract(S[start:stop], mean, out=centred[: stop - start])
            np.copyto(out[start:stop], X[start:stop, k:])
            gemm(-1.0, coef, centred[: stop - start], beta=1.0, c=out[start:stop].T,
                 overwrite_c=True, trans_a=True, trans_b=True)  # fmt: skip
            np.isfinite(ones[: stop - start] @ out[start:stop]).all()
    return out


def _timed(func):
    start = time.perf_counter()
    out = func()
    return time.perf_counter() - start, out


def _cold_warm(func, repeats):
    """Seconds of the first call and the best of ``repeats`` more; the last output.

    Also the best CPU seconds (user + system, of this process) of the warm
    calls, which a machine shared with other jobs inflates less than wall time.
    """
    cold, out = _timed(func)
    del out
    warm, cpu = [], []
    for _ in range(repeats):
        before = time.process_time()
        seconds, out = _timed(func)
        cpu.append(time.process_time() - before)
        warm.append(seconds)
        if len(warm) < repeats:
            del out
    return cold, min(warm), min(cpu), out


def _inputs(X, names, library):
    import pandas as pd
    import polars as pl

    if library == "numpy":
        return X
    if library == "pandas":
        return pd.DataFrame(X, columns=names)
    return pl.DataFrame(X, schema=names)


def one_pass_table(rows, repeats, n_columns=104, k=4):
    """Print the issue-33 table: fit + transform vs one read + one copy of X.

    BLAS at one thread and at its default, switched in this process
    (threadpoolctl); fairlearn is timed once per float64 input, at one thread
    (it takes a hundred times longer than the rest).
    """
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    base = rng.normal(size=(rows, n_columns))
    base[:, k:] += base[:, :k] @ rng.normal(size=(k, n_columns - k))
    names = [f"x{j}" for j in range(n_columns)]
    protected = names[:k]
    print(
        f"{rows:,} x {n_columns}, {k} protected; cold = first call on a new input, "
        f"warm = best of {repeats}; fairlearn: one call"
    )
    print(
        "| input | dtype | BLAS threads | one read + one copy, cold / warm (s) | "
        "orthokit fit + transform, cold / warm (s) | ratio, cold / warm | "
        "numpy floor, cold / warm (s) | floor ratio, cold / warm | "
        "CPU-time ratio warm, orthokit / floor | fairlearn (s) | "
        "fairlearn / orthokit (warm) | max abs diff vs fairlearn |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for dtype in (np.float64, np.float32):
        X = base.astype(dtype, copy=False)
        for library in ("numpy", "pandas", "polars"):
            data = _inputs(X, names, library)
            spec = protected if library != "numpy" else list(range(k))
            for threads in (1, None):
                with threadpool_limits(limits=threads, user_api="blas"):
                    _one_pass_row(X, data, library, spec, repeats, threads, dtype)
            del data


def _one_pass_row(X, data, library, spec, repeats, threads, dtype, k=4):
    from fairlearn.preprocessing import CorrelationRemover

    projector = OrthogonalProjector(protected=spec)

    def ours():
        return projector.fit(data).transform(data)

    def anchor():
        X.sum(axis=0)
        return X.copy()

    cold, warm, cpu, out = _cold_warm(ours, repeats)
    anchor_cold, anchor_warm, anchor_cpu, copy = _cold_warm(anchor, repeats)
    del copy
    floor_cold, floor_warm, floor_cpu, floor = _cold_warm(
        lambda: numpy_floor(X, k), repeats
    )
    scale = np.abs(floor).max()
    assert np.abs(floor - out).max() <= 1e-4 * scale, "the floor differs"
    del floor
    assert out.dtype == dtype, out.dtype
    fairlearn = "-"
    if threads == 1 and dtype == np.float64:
        remover = CorrelationRemover(sensitive_feature_ids=spec)
        seconds, reference = _timed(lambda: remover.fit_transform(data))
        diff = np.abs(out - reference).max()
        del reference
        fairlearn = f"{seconds:.2f} | {seconds / warm:.1f} | {diff:.1e}"
    else:
        fairlearn = "- | - | -"
    label = "1" if threads == 1 else "default"
    print(
        f"| {library} | {np.dtype(dtype).name} | {label} | {anchor_cold:.3f} / "
        f"{anchor_warm:.3f} | {cold:.3f} / {warm:.3f} | {cold / anchor_cold:.2f} / "
        f"{warm / anchor_warm:.2f} | {floor_cold:.3f} / {floor_warm:.3f} | "
        f"{floor_cold / anchor_cold:.2f} / {floor_warm / anchor_warm:.2f} | "
        f"{cpu / anchor_cpu:.2f} / {floor_cpu / anchor_cpu:.2f} | {fairlearn} |",
        flush=True,
    )


if __name__ == "__main__":
    main()
