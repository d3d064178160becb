"""The input layer: many levels by group means, and every frame library.

1. One categorical protected column with many levels, absorbed by group means
   (no one-hot matrix): 5,000 levels x 200,000 rows x 16 features and 10,000
   levels x 10,001 rows, OrthogonalProjector fit + transform from a pandas
   frame, against pyfixest's ``demean`` (the fixed-effects absorption of a
   regression library) and a pandas ``groupby().transform("mean")``, on the
   same data in the same run; the largest difference from pyfixest, and the
   peak memory of our fit + transform (tracemalloc).
2. Two categorical protected columns (5,000 and 50, and 5,000 and 3,000
   levels, 200,000 rows):
   the exact sparse normal equations against pyfixest's ``demean`` with two
   factors (alternating projections to ``tol=1e-10``).
3. check_orthogonality (binomial) of 100,000 predictions on one column of
   2,000 levels, against statsmodels' GLM on the dummy matrix (one cold run).
4. OrthogonalProjector fit + transform on 1e6 x 100 (4 numeric protected)
   read from numpy, pandas, polars and pyarrow: time as a ratio to numpy input.

Cold is the first call in the process (imports, numba's compilation for
pyfixest), warm the best of ``--repeats`` further calls.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_inputs.py

``--sections`` runs some of them (``levels,two,evaluation,frames``).
"""

import argparse
import os
import time
import tracemalloc

import numpy as np
import pandas as pd

from orthokit import OrthogonalProjector


def timed(func, repeats):
    """Return (cold seconds, warm best seconds, last output)."""
    start = time.perf_counter()
    out = func()
    cold = time.perf_counter() - start
    warm = [np.inf]
    for _ in range(repeats):
        start = time.perf_counter()
        out = func()
        warm.append(time.perf_counter() - start)
    return cold, min(warm), out


def peak_memory(func):
    tracemalloc.start()
    func()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def levels_data(n_rows, n_levels, n_features, seed=0):
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, n_levels, n_rows)
    codes[:n_levels] = np.arange(n_levels)
    F = rng.normal(size=(n_rows, n_features)) + rng.normal(size=(n_levels, 1))[codes]
    frame = pd.DataFrame(F, columns=[f"f{j}" for j in range(n_features)])
    frame["site"] = pd.Categorical.from_codes(
        codes, [f"L{j:05d}" for j in range(n_levels)]
    )
    return frame, F, codes


def many_levels(n_rows, n_levels, n_features, repeats):
    frame, F, codes = levels_data(n_rows, n_levels, n_features)

    def ours():
        return OrthogonalProjector(protected=["site"]).fit_transform(frame)

    def by_pandas():
        values = pd.DataFrame(F)
        return (values - values.groupby(codes).transform("mean")).to_numpy()

    rows = {"orthokit group means": timed(ours, repeats)}
    rows["pandas groupby demean"] = timed(by_pandas, repeats)
    try:
        from pyfixest.estimation import demean
    except ImportError:
        print("pyfixest is not installed: its row is left out")
    else:

        def by_pyfixest():
            out, converged = demean(
                F, codes[:, None].astype(np.uint64), np.ones(n_rows), tol=1e-10
            )
            assert converged
            return out

        rows["pyfixest demean"] = timed(by_pyfixest, repeats)
    ours_out = rows["orthokit group means"][2] - F.mean(axis=0)
    reference = rows.get("pyfixest demean", rows["pandas groupby demean"])[2]
    error = np.abs(ours_out - reference).max()
    peak = peak_memory(ours)
    print(
        f"\n{n_levels:,} levels x {n_rows:,} rows x {n_features} features "
        f"(X {F.nbytes / 1e6:.0f} MB); largest difference from the reference "
        f"{error:.1e}; our peak memory {peak / 1e6:.0f} MB ({peak / F.nbytes:.1f}x X)"
    )
    _table(rows, "orthokit group means")


def two_columns(n_rows, n_site, n_batch, n_features, repeats):
    """Two categorical columns: sparse normal equations vs pyfixest's demean."""
    frame, F, site = levels_data(n_rows, n_site, n_features)
    rng = np.random.default_rng(1)
    batch = rng.integers(0, n_batch, n_rows)
    F = F + rng.normal(size=(n_batch, 1))[batch]
    frame[[f"f{j}" for j in range(n_features)]] = F
    frame["batch"] = pd.Categorical.from_codes(
        batch, [f"B{j:03d}" for j in range(n_batch)]
    )

    def ours():
        projector = OrthogonalProjector(protected=["site", "batch"])
        return projector.fit_transform(frame)

    rows = {"orthokit normal equations": timed(ours, repeats)}
    try:
        from pyfixest.estimation import demean
    except ImportError:
        print("pyfixest is not installed: its row is left out")
        return
    groups = np.column_stack([site, batch]).astype(np.uint64)

    def by_pyfixest():
        out, converged = demean(F, groups, np.ones(n_rows), tol=1e-10)
        assert converged
        return out

    rows["pyfixest demean"] = timed(by_pyfixest, repeats)
    ours_out = rows["orthokit normal equations"][2] - F.mean(axis=0)
    error = np.abs(ours_out - rows["pyfixest demean"][2]).max()
    peak = peak_memory(ours)
    print(
        f"\ntwo columns: {n_site:,} x {n_batch} levels, {n_rows:,} rows x "
        f"{n_features} features; largest difference from pyfixest {error:.1e}; "
        f"our peak memory {peak / 1e6:.0f} MB ({peak / F.nbytes:.1f}x X)"
    )
    _table(rows, "orthokit normal equations")


def evaluation_levels(n_rows, n_levels, repeats):
    """check_orthogonality on one column of many levels, vs statsmodels' dummies."""
    import statsmodels.api as sm

    from orthokit.evaluation import check_orthogonality

    rng = np.random.default_rng(0)
    codes = np.concatenate([np.arange(n_levels), rng.integers(0, n_levels, n_rows)])
    codes = codes[:n_rows]
    p = 1 / (1 + np.exp(-(rng.normal(size=n_rows) + 0.1 * (codes % 3))))
    site = pd.Series(pd.Categorical.from_codes(codes, [f"L{j:05d}" for j in range(
        n_levels)]), name="site")  # fmt: skip

    def ours():
        return check_orthogonality(p, site).to_frame()

    def dense():
        design = sm.add_constant(pd.get_dummies(site, drop_first=True, dtype=float))
        return sm.GLM(p, design, family=sm.families.Binomial()).fit(tol=1e-12)

    rows = {"orthokit (level means)": timed(ours, repeats)}
    rows["statsmodels GLM on dummies"] = timed(dense, 0)
    table, direct = (
        rows["orthokit (level means)"][2],
        rows["statsmodels GLM on dummies"][2],
    )
    error = max(
        np.abs(table["coef"] - direct.params.to_numpy()[1:]).max(),
        np.abs(table["std_err"] - direct.bse.to_numpy()[1:]).max(),
    )
    peaks = {
        name: peak_memory(func) for name, func in (("ours", ours), ("dense", dense))
    }
    print(
        f"\ncheck_orthogonality, binomial, {n_levels:,} levels x {n_rows:,} rows; "
        f"largest difference in coef / std_err from statsmodels {error:.1e}; peak "
        "memory "
        f"{peaks['ours'] / 1e6:.0f} MB vs {peaks['dense'] / 1e6:.0f} MB"
    )
    _table(rows, "orthokit (level means)")


def frame_libraries(n_rows, n_features, repeats):
    import polars as pl
    import pyarrow as pa

    rng = np.random.default_rng(0)
    X = rng.normal(size=(n_rows, n_features))
    X[:, 4:] += X[:, :4] @ rng.normal(size=(4, n_features - 4))
    frame = pd.DataFrame(X, columns=[f"c{j}" for j in range(n_features)])
    inputs = {
        "numpy": (X, [0, 1, 2, 3]),
        "pandas": (frame, ["c0", "c1", "c2", "c3"]),
        "polars": (pl.from_pandas(frame), ["c0", "c1", "c2", "c3"]),
        "pyarrow": (pa.Table.from_pandas(frame), ["c0", "c1", "c2", "c3"]),
    }
    rows = {}
    for name, (data, protected) in inputs.items():
        rows[name] = timed(
            lambda d=data, p=protected: OrthogonalProjector(protected=p).fit_transform(
                d
            ),
            repeats,
        )
    print(
        f"\nOrthogonalProjector fit + transform, {n_rows:,} x {n_features}, 4 protected"
    )
    _table(rows, "numpy")


def _table(rows, baseline):
    cold0, warm0 = rows[baseline][:2]
    print(f"| {'method':26s} | cold s | cold ratio | warm s | warm ratio |")
    print("|---|---:|---:|---:|---:|")
    for name, (cold, warm, _) in rows.items():
        warm_cells = (
            f"{warm:6.3f} | {warm / warm0:9.2f}x" if np.isfinite(warm) else "- | -"
        )
        print(f"| {name:26s} | {cold:6.3f} | {cold / cold0:9.2f}x | {warm_cells} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--sections", default="levels,two,evaluation,frames")
    args = parser.parse_args()
    sections = args.sections.split(",")
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"OPENBLAS_NUM_THREADS={threads}; warm: best of {args.repeats}")
    if "levels" in sections:
        many_levels(200_000, 5000, 16, args.repeats)
        many_levels(10_001, 10_000, 16, args.repeats)
    if "two" in sections:
        two_columns(200_000, 5000, 50, 16, args.repeats)
        two_columns(200_000, 5000, 3000, 16, 1)
    if "evaluation" in sections:
        evaluation_levels(100_000, 2000, args.repeats)
    if "frames" in sections:
        frame_libraries(args.rows, 100, args.repeats)


if __name__ == "__main__":
    main()
