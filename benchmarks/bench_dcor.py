"""Distance correlation: exact (dcor) vs the projection estimator.

1. Accuracy at n = 3,000 (exact is feasible): |projection - exact| over seeds.
2. Speed at n = 4,000 against exact dcor (the baseline, same run).
3. The target shape: n = 100,000 x 256 features vs 3 protected columns.
"""

import time

import numpy as np
import pandas as pd

from orthokit.evaluation import distance_correlation


def data(n, d, strength, seed=0, continuous=False):
    rng = np.random.default_rng(seed)
    cols = {f"s{j}": rng.integers(0, 2, n) for j in range(3)}
    if continuous:
        cols = {f"s{j}": rng.normal(size=n) for j in range(3)}
    S = pd.DataFrame(cols)
    W = rng.normal(size=(3, d))
    X = rng.normal(size=(n, d)) + strength * np.tanh(S.to_numpy(float) @ W)
    return X, S


def timed(f):
    t = time.perf_counter()
    out = f()
    return out, time.perf_counter() - t


print("## Accuracy at n = 3,000 (3 binary protected columns)\n")
print("| d | strength | exact | projection (5 seeds) | max abs error |")
print("|---|---|---|---|---|")
for d in (16, 64):
    for strength in (0.0, 0.3, 1.0):
        X, S = data(3000, d, strength)
        exact = distance_correlation(X, S, method="exact").value
        est = [
            distance_correlation(X, S, method="projection", random_state=s).value
            for s in range(5)
        ]
        err = max(abs(e - exact) for e in est)
        print(
            f"| {d} | {strength} | {exact:.4f} | "
            f"{', '.join(f'{e:.4f}' for e in est)} | {err:.4f} |",
            flush=True,
        )

print("\n## Speed at n = 4,000, d = 256 (baseline: exact dcor, same run)\n")
X, S = data(4000, 256, 0.3)
exact, t_exact = timed(lambda: distance_correlation(X, S, method="exact").value)
est, t_proj = timed(
    lambda: distance_correlation(X, S, method="projection", random_state=0).value
)
print("| method | value | seconds | speed-up |")
print("|---|---|---|---|")
print(f"| exact (dcor) | {exact:.4f} | {t_exact:.1f} | 1.0 |")
print(
    f"| projection | {est:.4f} | {t_proj:.1f} | {t_exact / t_proj:.1f}x |", flush=True
)

print("\n## Target: n = 100,000, d = 256, 3 protected columns\n")
print("| protected | n_projections | value | seconds | method |")
print("|---|---|---|---|---|")
for continuous in (False, True):
    X, S = data(100_000, 256, 0.3, continuous=continuous)
    for k in (16, 64):
        r, t = timed(
            lambda X=X, S=S, k=k: distance_correlation(
                X, S, method="projection", n_projections=k, random_state=0
            )
        )
        kind = "continuous" if continuous else "binary"
        print(f"| {kind} | {k} | {r.value:.4f} | {t:.1f} | {r.method} |", flush=True)
