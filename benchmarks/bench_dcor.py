"""Distance correlation: the projection estimator against the exact value.

``python benchmarks/bench_dcor.py speed`` runs only the speed rows of issue 33
(``_bench_dcor_speed.py``): 1e5 x 256 features with 3 continuous confounders,
the binary-S anchor in the same run, BLAS at one thread and at the default, cold
(first call in a fresh process) and warm, then the estimator against dcor's
exact value on subsamples.

Reference: for 1-D features dcor's own O(n log n) exact statistic
(``method="mergesort"``); for multivariate features orthokit's blocked exact
path, which ``tests/evaluation/test_evaluation_dcor.py`` checks against
``dcor.distance_correlation_sqr`` to 1e-12 (dcor's own multivariate exact is far
slower here: 8 s at 1,500 x 64). Run: ``OPENBLAS_NUM_THREADS=1 PYTHONPATH=.
python benchmarks/bench_dcor.py`` (about 4 minutes on one core). Coverage is
the fraction of seeds with ``|estimate - exact| <= 1.96 std_error``.
"""

import sys
import time

import dcor  # noqa: F401  (numba compiles on import; keep it out of the timings)
import numpy as np

from orthokit.evaluation import distance_correlation
from orthokit.evaluation._dcor_exact import exact_dcor

if sys.argv[1:] == ["speed"]:
    from _bench_dcor_speed import main

    main()
    sys.exit()
# ``continuous``: only the rows whose S has a continuous column (the block
# U-statistics estimator), without the projection curve and the target shape.
ONLY_CONTINUOUS = sys.argv[1:] == ["continuous"]

# (n, feature columns, seeds); fewer seeds where the O(n^2) reference is slow.
GRID = [
    (1_000, 1, 20),
    (1_000, 16, 20),
    (1_000, 256, 20),
    (3_000, 64, 20),
    (5_000, 1, 20),
    (5_000, 3, 20),
    (5_000, 16, 20),
    (5_000, 256, 5),
    (20_000, 1, 20),
    (20_000, 16, 2),
    (100_000, 1, 5),
    (3_000, 16, 20, True),
    (5_000, 64, 10, True),
]


def data(n, d, seed, continuous=False):
    rng = np.random.default_rng(seed)
    S = rng.integers(0, 2, (n, 3)).astype(float)
    if continuous:  # many distinct rows: block U-statistics
        S[:, 2] = rng.normal(size=n)
    X = rng.normal(size=(n, d)) + 0.5 * np.tanh(S @ rng.normal(size=(3, d)))
    return X, S


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


print("## Error against the exact value (default accuracy 0.005)\n")
print(
    "| n | d | seeds | exact (mean) | max abs error | within 0.005 | coverage | "
    "rms error / rms SE | mean projections | projection s | exact s |"
)
print("|---|---|---|---|---|---|---|---|---|---|---|")
for n, d, seeds, *continuous in GRID:
    if ONLY_CONTINUOUS and not continuous:
        continue
    errors, ses, ks, tp, te, values = [], [], [], [], [], []
    for seed in range(seeds):
        X, S = data(n, d, seed, *continuous)
        exact, t_exact = timed(lambda X=X, S=S: exact_dcor(X, S))
        r, t_proj = timed(
            lambda X=X, S=S, seed=seed: distance_correlation(
                X, S, method="projection", random_state=seed
            )
        )
        errors.append(abs(r.value - exact))
        ses.append(r.std_error)
        ks.append(r.n_projections)
        tp.append(t_proj)
        te.append(t_exact)
        values.append(exact)
    errors, ses = np.array(errors), np.array(ses)
    # 1e-12: for d = 1 the projection is exact and its standard error 0.
    covered = np.mean(errors <= 1.96 * ses + 1e-12)
    rms = np.sqrt(np.mean(errors**2)) / max(np.sqrt(np.mean(ses**2)), 1e-300)
    ratio = f"{rms:.2f}" if ses.max() > 1e-12 else "-"  # "-": SE is rounding
    print(
        f"| {n} | {d}{' (S continuous)' if continuous else ''} | {seeds} | "
        f"{np.mean(values):.4f} | {errors.max():.4f} | "
        f"{np.mean(errors <= 0.005):.2f} | {covered:.2f} | "
        f"{ratio} | {np.mean(ks):.0f} | "
        f"{np.mean(tp):.2f} | {np.mean(te):.2f} |",
        flush=True,
    )

if ONLY_CONTINUOUS:
    sys.exit()
print("\n## Error curve: n = 5,000, d = 64, fixed projections, 5 seeds\n")
print("| projections | mean abs error | mean reported SE | coverage |")
print("|---|---|---|---|")
curves = {}
for seed in range(5):
    X, S = data(5_000, 64, 100 + seed)
    exact = exact_dcor(X, S)
    for k in (128, 256, 512, 1024):
        r = distance_correlation(
            X, S, method="projection", n_projections=k, random_state=seed
        )
        curves.setdefault(k, []).append((abs(r.value - exact), r.std_error))
for k, rows in curves.items():
    e, s = np.mean(rows, axis=0)
    covered = np.mean([err <= 1.96 * se for err, se in rows])
    print(f"| {k} | {e:.5f} | {s:.5f} | {covered:.1f} |", flush=True)

print("\n## Target shape: n = 100,000 x 256 (no exact reference: O(n^2 d) is hours)\n")
for seed in range(2):
    X, S = data(100_000, 256, seed)
    r, t = timed(
        lambda X=X, S=S, seed=seed: distance_correlation(X, S, random_state=seed)
    )
    print(
        f"seed {seed}: value {r.value:.4f}, standard error {r.std_error:.4f}, "
        f"{r.n_projections} projections, {t:.1f} s\n\n{r.method}\n",
        flush=True,
    )
