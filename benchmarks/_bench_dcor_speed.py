"""Issue 33: distance correlation with continuous multivariate confounders.

Run: ``PYTHONPATH=. python benchmarks/bench_dcor.py speed``. Each BLAS setting
(``OPENBLAS_NUM_THREADS=1`` and the library default) runs in a fresh process;
in it every workload runs twice, "cold" (first call in the process) and then
"warm". Rows: the anchor, 1e5 x 256 features against 3 binary protected
columns (``S`` exact on its 8 groups, random projections of the features),
and the same features against 3 continuous confounders (block U-statistics).

Then the accuracy check: the estimator against dcor's own exact
``distance_correlation_sqr`` on random subsamples of the continuous data
(dcor's exact is O(n^2) in time and memory), at the default accuracy and at a
loose one (0.02), which keeps the blocks small so that the errors are large
enough to compare with the reported standard errors.
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

N, D = 100_000, 256
SUBSAMPLE_ROWS = 2_000


def _data(continuous, n=N, seed=0):
    rng = np.random.default_rng(seed)
    if continuous:
        s = rng.normal(size=(n, 3))
    else:
        s = rng.integers(0, 2, (n, 3)).astype(float)
    x = rng.normal(size=(n, D)) + 0.5 * np.tanh(s @ rng.normal(size=(3, D)))
    return x, s


def _timed(f):
    start = time.perf_counter()
    out = f()
    return out, time.perf_counter() - start


def _worker():
    from orthokit.evaluation import distance_correlation

    binary, continuous = _data(False), _data(True)
    for state in ("cold", "warm"):
        row = {"state": state, "threads": os.environ.get("OPENBLAS_NUM_THREADS")}
        r, row["anchor_s"] = _timed(
            lambda: distance_correlation(*binary, random_state=0)
        )
        row["anchor_value"], row["anchor_se"] = r.value, r.std_error
        r, row["continuous_s"] = _timed(
            lambda: distance_correlation(*continuous, random_state=0)
        )
        row["value"], row["se"], row["method"] = r.value, r.std_error, r.method
        print(json.dumps(row), flush=True)


def _accuracy():
    import dcor

    from orthokit.evaluation import distance_correlation

    x, s = _data(True)
    print(f"\n## Against dcor's exact value on {SUBSAMPLE_ROWS:,}-row subsamples\n")
    print(
        "| subsample seed | dcor exact | estimate, accuracy 0.005 | error / SE | "
        "estimate, accuracy 0.02 | error / SE | blocks (0.02) |"
    )
    print("|---|---|---|---|---|---|---|")
    for seed in range(6):
        rows = np.random.default_rng(100 + seed).choice(N, SUBSAMPLE_ROWS, False)
        exact = dcor.distance_correlation_sqr(x[rows], s[rows])
        cells = [f"{seed}", f"{exact:.5f}"]
        for accuracy in (0.005, 0.02):
            r = distance_correlation(
                x[rows],
                s[rows],
                method="projection",
                accuracy=accuracy,
                random_state=seed,
            )
            z = (r.value - exact) / r.std_error if r.std_error else 0.0
            cells += [f"{r.value:.5f} +- {1.96 * r.std_error:.5f}", f"{z:+.2f}"]
        cells.append(r.method.split("into ")[-1].split(";")[0])
        print("| " + " | ".join(cells) + " |", flush=True)


def main():
    """Run both BLAS settings in fresh processes, then the accuracy check."""
    if os.environ.get("_BENCH_DCOR_WORKER"):
        _worker()
        return
    print(
        "| BLAS threads | state | anchor: binary S (s) | continuous S (s) | "
        "ratio | value +- 1.96 SE |"
    )
    print("|---|---|---|---|---|---|")
    methods = set()
    for threads in ("1", None):
        env = dict(os.environ, _BENCH_DCOR_WORKER="1")
        env.pop("OPENBLAS_NUM_THREADS", None)
        if threads:
            env["OPENBLAS_NUM_THREADS"] = threads
        done = subprocess.run(
            [sys.executable, __file__],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        for line in done.stdout.splitlines():
            r = json.loads(line)
            methods.add(r["method"])
            print(
                f"| {threads or 'default'} | {r['state']} | {r['anchor_s']:.1f} | "
                f"{r['continuous_s']:.1f} | {r['continuous_s'] / r['anchor_s']:.2f}x | "
                f"{r['value']:.4f} +- {1.96 * r['se']:.4f} |",
                flush=True,
            )
    print("\n" + "\n".join(f"`{m}`" for m in sorted(methods)))
    _accuracy()


if __name__ == "__main__":
    main()
