"""CPU seconds of one OrthogonalGLM fit, in memory and on dask's synchronous scheduler.

The dask fit runs every block task in this process, so its CPU is the arithmetic a
cluster's workers do for the fit, without the cluster (scheduling, transfers, the
workers' allocator): the 2,000,000 x 9 binomial GLM of ``bench_dask.py --only glm``, 4
blocks of 500,000 rows held in memory. The minimum and median CPU over 5 fits of each.

    OPENBLAS_NUM_THREADS=1 PYTHONPATH=. python benchmarks/_glm_cpu_sync.py

To compare another checkout, run its orthokit on the same script (``PYTHONPATH=other``).
"""

import time

import dask
import dask.array as da
from bench_dask import make_glm

from orthokit.linear_model import OrthogonalGLM


def _cpu(fit, repeats=5):
    """Minimum and median CPU seconds of ``fit()`` over ``repeats`` calls."""
    seconds = []
    for _ in range(repeats):
        start = time.process_time()
        fit()
        seconds.append(time.process_time() - start)
    return min(seconds), sorted(seconds)[repeats // 2]


def main():
    X, y = dask.compute(*make_glm(2_000_000))
    X_dask = da.from_array(X, chunks=(500_000, 9))
    y_dask = da.from_array(y, chunks=500_000)
    memory = _cpu(lambda: OrthogonalGLM(protected=[7, 8]).fit(X, y))
    with dask.config.set(scheduler="sync"):
        blocks = _cpu(lambda: OrthogonalGLM(protected=[7, 8]).fit(X_dask, y_dask))
    print(
        f"in memory {memory[0]:.3f} s CPU (median {memory[1]:.3f}); dask, synchronous "
        f"scheduler {blocks[0]:.3f} s (median {blocks[1]:.3f}); ratio of the minima "
        f"{blocks[0] / memory[0]:.2f}x"
    )


if __name__ == "__main__":
    main()
