"""bench_dask.py's local-cluster comparisons: the projector and the GLM on
LocalClusters of 1 and 2 single-threaded workers against in memory.

The data are generated on the workers by the same dask graph that made the
in-memory copy (same seeds and chunks, so the same numbers) and persisted
there: nothing of the size of the data passes through the scheduler or sits
in a task graph. Each fit is timed cold (the first in the process, or on a
fresh cluster) and warm (the second), on clusters started with dask's
defaults and with the malloc setting of the cluster recipe (``RECIPE``: see
the docs' dask section), with the workers' CPU seconds (user and system) and
minor page faults from ``getrusage``. The per-block costs are timed in this
process on one block (one thread), and a cluster of N machines is
extrapolated from them.
"""

import resource
import time

import dask
import numpy as np

from orthokit import OrthogonalProjector
from orthokit.linear_model import OrthogonalGLM

#: The cluster recipe: dask's nanny sets ``MALLOC_TRIM_THRESHOLD_=65536`` in
#: its workers, which turns off glibc's adaptive mmap threshold, so that every
#: temporary over 128 KiB is mapped afresh and its pages faulted in (system
#: CPU); a fixed 32 MiB mmap threshold keeps them in the heap.
RECIPE = {"MALLOC_MMAP_THRESHOLD_": 33554432}


def _usage():
    """``(user + system, system, minor faults)`` of this process so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return np.array([usage.ru_utime + usage.ru_stime, usage.ru_stime, usage.ru_minflt])


def _own_cpu():
    return {"this process": _usage()}


def _twice(function, cpu=_own_cpu):
    """Time two calls: cold (the first) and warm; return both and the result.

    ``cpu()`` gives ``_usage()`` of the processes doing the work, by name;
    the warm call's are kept as ``(total CPU, busiest CPU, system CPU and
    minor faults of the workers)``: on a shared machine CPU time says what the
    wall time would be with a core per process.
    """
    times = []
    for _ in range(2):
        before = cpu()
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
        spent = {name: cpu()[name] - before[name] for name in before}
    workers = [v for k, v in spent.items() if k not in ("this process", "scheduler")]
    workers = sum(workers) if workers else spent["this process"]
    cpu_seconds = [v[0] for v in spent.values()]
    return (*times, sum(cpu_seconds), max(cpu_seconds), workers[1], workers[2]), result


def _peak_gb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6


def _balanced(client, make):
    """Persist ``make()`` on the workers, row block ``i`` on worker ``i mod n``.

    Left to itself the scheduler places the generated blocks where their
    inputs are, 3 of 4 on one worker in some runs, and a held fit's tasks run
    where the blocks are; each task of the generating graph is annotated with
    the worker of its row block.
    """
    from distributed import wait

    workers = sorted(client.scheduler_info()["workers"])

    def worker_of(key):
        row = key[1] if isinstance(key, tuple) and len(key) > 1 else 0
        return [workers[row % len(workers)]]

    with dask.annotate(workers=worker_of, allow_other_workers=False):
        data = make()
    data = client.persist(data, optimize_graph=False)
    wait(data)
    return data


def _blocks_per_worker(client, X):
    from dask.core import flatten

    keys = {str(key) for key in flatten(X.__dask_keys__())}
    held = client.has_what()
    return {w: sum(str(key) in keys for key in held[w]) for w in held}


def _on_clusters(make, fit, workers=(1, 2)):
    """``[(label, times, fitted, worker peak GB)]`` on fresh LocalClusters.

    ``workers`` workers each, started with dask's defaults and with
    :data:`RECIPE`; ``times``: see :func:`_twice`.
    """
    from dask.distributed import Client, LocalCluster

    out = []
    for setting, extra in (("dask's defaults", {}), ("the recipe", RECIPE)):
        environ = {**dask.config.get("distributed.nanny.pre-spawn-environ"), **extra}
        for n in workers:
            with (
                dask.config.set({"distributed.nanny.pre-spawn-environ": environ}),
                LocalCluster(
                    n_workers=n, threads_per_worker=1, memory_limit="3GiB",
                    dashboard_address=":0",
                ) as cluster,
                Client(cluster) as client,
            ):  # fmt: skip

                def cpu(client=client):
                    spent = client.run(_usage)
                    spent["scheduler"] = client.run_on_scheduler(_usage)
                    spent["this process"] = _usage()
                    return spent

                data = _balanced(client, make)
                placed = _blocks_per_worker(client, data[0])
                times, fitted = _twice(lambda data=data: fit(*data), cpu)
                peak = max(client.run(_peak_gb).values())
            label = (
                f"LocalCluster, {n} worker(s) x 1 thread, {setting}, blocks of X per "
                f"worker {sorted(placed.values())}"
            )
            out.append((label, times, fitted, peak))
    return out


def _table(baseline, rows, error):
    print(
        "   | fit | cold (s) | warm (s) | cold ratio | warm ratio | warm CPU, all "
        "processes (s) | CPU ratio | busiest process CPU (s) | workers' system CPU "
        "(s) | workers' minor faults | max coef diff |"
    )
    print("   |---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for label, (cold, warm, total, busiest, system, faults), fitted in rows:
        diff = 0.0 if fitted is None else error(fitted)
        print(
            f"   | {label} | {cold:.2f} | {warm:.2f} | {cold / baseline[0]:.2f}x "
            f"| {warm / baseline[1]:.2f}x | {total:.2f} | {total / baseline[2]:.2f}x "
            f"| {busiest:.2f} | {system:.2f} | {faults:,.0f} | {diff:.1e} |"
        )


def _cluster_rows(clusters):
    rows = []
    for label, times, fitted, peak in clusters:
        rows.append((f"{label} (worker peak {peak:.2f} GB)", times, fitted))
    return rows


def _extrapolate(passes, per_block, n_blocks, cluster_warm, workers, chunk_rows):
    """Print the cost model and what it says for 10^9 rows on 16 x 8 cores."""
    compute = sum(
        k * -(-n_blocks // workers) * t for k, t in zip(passes, per_block, strict=True)
    )
    latency = max(cluster_warm - compute, 0.0) / sum(passes)
    terms = " + ".join(
        f"{k} x {t:.3f} s" for k, t in zip(passes, per_block, strict=True)
    )
    print(
        f"   model: fit = ceil(blocks / cores) x ({terms}) + {sum(passes)} passes x "
        f"latency; the {workers}-worker warm fit leaves {latency:.3f} s of latency "
        "per pass (scheduling, transfers, the local solve)."
    )
    blocks = -(-(10**9) // chunk_rows)
    per_core = -(-blocks // 128)
    big = sum(k * per_core * t for k, t in zip(passes, per_block, strict=True))
    print(
        f"   e.g. 10^9 rows in {blocks:,} such blocks on 16 machines x 8 cores "
        f"({per_core} blocks per core and pass): about {big:.0f} s of compute, plus "
        f"{sum(passes)} x the latency."
    )


def projector_vs_cluster(make, rows, columns, chunk_rows, protected):
    """The projector: in memory, then LocalClusters of 1 and 2 workers."""
    X = make(rows, columns, chunk_rows).compute()

    def fit(data):
        return OrthogonalProjector(protected=protected).fit(data)

    memory, reference = _twice(lambda: fit(X))
    clusters = _on_clusters(lambda: (make(rows, columns, chunk_rows),), fit)
    print(
        f"1. projector: {rows:,} x {columns} float64 ({X.nbytes / 1e9:.2f} GB), "
        f"blocks of {chunk_rows:,} rows; one pass"
    )
    rows_out = [("in memory (numpy, this process): the baseline", memory, None)]
    rows_out += _cluster_rows(clusters)
    scale = np.abs(reference.coef_).max()
    _table(memory, rows_out, lambda f: np.abs(f.coef_ - reference.coef_).max() / scale)
    import dask.array as da

    block = da.from_array(X[:chunk_rows], chunks=(chunk_rows, columns))
    with dask.config.set(scheduler="sync"):  # the dask fit of one block
        per_block = min(_twice(lambda: fit(block))[0][:2])
    _extrapolate(
        [1], [per_block], -(-rows // chunk_rows), clusters[-1][1][1], 2, chunk_rows
    )


def glm_vs_cluster(make, rows, chunk_rows):
    """OrthogonalGLM: in memory, threaded dask, LocalClusters of 1 and 2 workers."""
    X, y = dask.compute(*make(rows, chunk_rows))

    def fit(X, y):
        return OrthogonalGLM(protected=[7, 8]).fit(X, y)

    memory, reference = _twice(lambda: fit(X, y))
    with dask.config.set(scheduler="threads", num_workers=2):
        import dask.array as da

        X_local, y_local = (
            da.from_array(X, chunks=(chunk_rows, 9)),
            da.from_array(y, chunks=chunk_rows),
        )
        threads, glm = _twice(lambda: fit(X_local, y_local))
    clusters = _on_clusters(lambda: make(rows, chunk_rows), fit)
    n_blocks = -(-rows // chunk_rows)
    n_reads = getattr(glm, "_n_reads", glm._n_passes)  # an older orthokit: all
    print(
        f"4. GLM: {rows:,} x 9 float64 ({X.nbytes / 1e9:.2f} GB), binomial, "
        f"{n_blocks} blocks of {chunk_rows:,} rows; {reference.n_iter_} Newton "
        f"iterations; dask: {glm._n_passes} passes, {n_reads} reading the "
        "data (held data: the solver's passes read its persisted columns)"
    )
    rows_out = [
        ("in memory (numpy, this process): the baseline", memory, None),
        ("dask array, threaded scheduler (2 threads)", threads, glm),
    ]
    rows_out += _cluster_rows(clusters)
    _table(memory, rows_out, lambda f: np.abs(f.coef_ - reference.coef_).max())
    try:
        from orthokit.linear_model._dask_problem import evaluate_block, prepare_block
    except ImportError:  # an older orthokit, run to compare: no per-block costs
        return
    # The per-block costs: a read pass (ranges, means, moments, preparing the
    # solver's columns, the final check: the costliest, preparing, is timed)
    # and a solver pass on the prepared columns.
    scales = _scales_of(X[:chunk_rows], y[:chunk_rows])
    block = (X[:chunk_rows], y[:chunk_rows], None)
    t_read = min(_twice(lambda: prepare_block(*block, *scales))[0][:2])
    prepared = prepare_block(*block, *scales)
    theta = np.zeros(scales[1]["axes"].shape[1] + 1)
    # A Newton pass: the Hessian of the Lagrangian at some multipliers.
    multipliers = np.full(scales[1]["basis_map"].shape[1], 0.1)
    t_eval = min(
        _twice(lambda: evaluate_block(prepared, scales[1], theta, multipliers))[0][:2]
    )
    print(
        f"   per-block costs ({chunk_rows:,} rows, one core): read and standardize "
        f"{t_read:.3f} s; a solver pass on the held columns {t_eval:.3f} s"
    )
    solver = glm._n_passes - glm._n_reads
    _extrapolate(
        [glm._n_reads, solver],
        [t_read, t_eval],
        n_blocks,
        clusters[-1][1][1],
        2,
        chunk_rows,
    )


def _scales_of(X, y):
    """``(estimator, scales)`` of a dask fit on one block: what a block pass needs."""
    import dask.array as da

    from orthokit.linear_model import _dask_problem

    captured = {}
    passes = _dask_problem.block_passes

    def spy(blocks, estimator, scales, held, whole=None):
        captured.update(estimator=estimator, scales=scales)
        return passes(blocks, estimator, scales, held, whole=whole)

    _dask_problem.block_passes = spy
    from orthokit.linear_model import _dask_glm

    original, _dask_glm.block_passes = _dask_glm.block_passes, spy
    try:
        with dask.config.set(scheduler="sync"):
            OrthogonalGLM(protected=[7, 8]).fit(da.from_array(X), da.from_array(y))
    finally:
        _dask_problem.block_passes = passes
        _dask_glm.block_passes = original
    return captured["estimator"], captured["scales"]
