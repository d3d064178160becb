"""Cost of atomic, overflow-safe and offset-exact streams (issue 17).

Times the same workloads with this checkout's orthokit and with another copy
(``--before``, e.g. the commit before issue 17 exported with ``git archive``),
each in its own process, and prints the ratios after / before:

- OrthogonalProjector fit + transform (one chunk; the features are now scaled
  and shifted block by block instead of read once as they are);
- OrthogonalProjector partial_fit over chunks of 1,000 rows (each chunk's
  statistics are checked before they are merged);
- RecursiveResidualizer partial_fit with single rows, and fit in one batch;
- RecursiveMetadataNorm training steps (the new state is checked finite).

    git archive <commit> orthokit | tar -x -C /tmp/before
    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_streams.py \\
        --before /tmp/before
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def best_time(func, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return min(times)


def workloads(rows, features, repeats):
    """Return {name: seconds} measured with whichever orthokit is importable."""
    import torch

    from orthokit.nn import RecursiveMetadataNorm
    from orthokit.preprocessing import OrthogonalProjector, RecursiveResidualizer

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    k = 4
    X = rng.normal(size=(rows, features))
    X[:, k:] += X[:, :k] @ rng.normal(size=(k, features - k))
    protected = list(range(k))
    chunks = np.array_split(X[:200_000], 200)
    single = X[:2000, :12]

    def projector_fit():
        OrthogonalProjector(protected=protected).fit_transform(X)

    def projector_stream():
        projector = OrthogonalProjector(protected=protected)
        for chunk in chunks:
            projector.partial_fit(chunk)

    def residualizer_rows():
        residualizer = RecursiveResidualizer(protected=protected)
        for i in range(len(single)):
            residualizer.partial_fit(single[i : i + 1])

    def residualizer_fit():
        RecursiveResidualizer(protected=protected).fit(X)

    x = torch.randn(500, 64, 128)
    S = torch.randn(500, 64, 2)

    def rmdn_steps():
        layer = RecursiveMetadataNorm(128, 2)
        for i in range(len(x)):
            layer(x[i], S[i])

    cases = {
        f"projector fit+transform {rows:,}x{features}": projector_fit,
        "projector partial_fit, 200 chunks of 1,000 rows": projector_stream,
        "residualizer partial_fit, 2,000 single rows": residualizer_rows,
        f"residualizer fit {rows:,}x{features}": residualizer_fit,
        "R-MDN training, 500 batches of 64x128": rmdn_steps,
    }
    return {name: best_time(func, repeats) for name, func in cases.items()}


def measure_in(path, args):
    """Run the workloads in a fresh process importing orthokit from ``path``."""
    env = dict(os.environ, PYTHONPATH=path)
    command = [
        sys.executable,
        __file__,
        "--worker",
        f"--rows={args.rows}",
        f"--features={args.features}",
        f"--repeats={args.repeats}",
    ]
    out = subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--before", required=False, help="path holding the old orthokit"
    )
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--features", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(workloads(args.rows, args.features, args.repeats)))
        return
    after = measure_in(os.getcwd(), args)
    before = measure_in(args.before, args) if args.before else None
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "default")
    print(f"OPENBLAS_NUM_THREADS={threads}; best of {args.repeats}")
    print(f"{'workload':52s} {'before (s)':>11s} {'after (s)':>10s} {'ratio':>6s}")
    for name, seconds in after.items():
        old = before[name] if before else float("nan")
        print(f"{name:52s} {old:11.4f} {seconds:10.4f} {seconds / old:6.2f}")


if __name__ == "__main__":
    main()
