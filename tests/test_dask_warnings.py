"""Warnings raised inside dask block tasks reach the caller, once each."""

import os
import warnings

import numpy as np
import pytest

from orthokit._dask import compute_relayed, relayed
from orthokit.preprocessing import OrthogonalProjector

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def process_client():
    """One worker process (tasks run outside this process), one thread."""
    with (
        distributed.LocalCluster(
            n_workers=1, processes=True, threads_per_worker=1, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


def log_of_blocks(values):
    """A reduction whose every block warns: ``log(0)`` divides by zero."""
    import dask

    blocks = da.from_array(values, chunks=1).to_delayed().ravel()
    parts = [dask.delayed(relayed(np.log))(block) for block in blocks]
    return compute_relayed(parts, np.minimum)


def caught_by(run):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run()
    return result, [(w.category, str(w.message)) for w in caught]


def test_a_worker_process_relays_each_distinct_warning_once(process_client):
    workers = set(process_client.run(os.getpid).values())
    assert os.getpid() not in workers
    import dask

    # Without the relay the worker's warnings stay there.
    plain = da.from_array(np.zeros(4), chunks=1).map_blocks(np.log)
    assert caught_by(lambda: dask.compute(plain))[1] == []
    result, caught = caught_by(lambda: log_of_blocks(np.zeros(4)))
    # numpy's own warning, raised in the worker by each of the four blocks.
    with warnings.catch_warnings(record=True) as reference:
        warnings.simplefilter("always")
        expected = np.log(np.zeros(1))
    assert np.array_equal(result, expected)
    assert caught == [(reference[0].category, str(reference[0].message))]
    # A second call warns again: the worker's registry does not swallow it.
    assert caught_by(lambda: log_of_blocks(np.zeros(4)))[1] == caught


def test_a_list_of_relayed_parts_relays_too(process_client):
    import dask

    blocks = da.from_array(np.array([0.0, 1.0, 0.0]), chunks=1).to_delayed().ravel()
    parts = [dask.delayed(relayed(np.log))(block) for block in blocks]
    values, caught = caught_by(lambda: compute_relayed(parts))
    with np.errstate(divide="ignore"):
        expected = np.log([0.0, 1.0, 0.0])
    assert np.array_equal(np.concatenate(values), expected)
    assert len(caught) == 1 and caught[0][0] is RuntimeWarning


def test_the_threaded_scheduler_warns_as_before():
    """In the client's process the blocks' warnings reach the caller directly."""
    import dask

    with dask.config.set(scheduler="threads"):
        result, caught = caught_by(lambda: log_of_blocks(np.zeros(4)))
    with np.errstate(divide="ignore"):
        assert np.array_equal(result, np.log(np.zeros(1)))
    # Nothing is recorded or re-emitted: each block's warning, as without
    # orthokit's relay (numpy warns per call under "always").
    assert len(caught) == 4
    assert {category for category, _ in caught} == {RuntimeWarning}


def test_a_projector_fit_on_worker_processes_equals_in_memory(process_client):
    rng = np.random.default_rng(0)
    X = np.column_stack([rng.normal(size=(300, 3)), rng.integers(0, 2, 300)])
    expected = OrthogonalProjector(protected=[3]).fit(X).transform(X)
    dask_X = da.from_array(X, chunks=100)
    got = OrthogonalProjector(protected=[3]).fit(dask_X).transform(dask_X).compute()
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-12)


def test_a_glm_fit_on_worker_processes_equals_in_memory(process_client):
    from orthokit.linear_model import OrthogonalGLM

    rng = np.random.default_rng(1)
    X = np.column_stack([rng.normal(size=(600, 3)), rng.integers(0, 2, 600)])
    y = (X[:, 0] + rng.normal(size=600) > 0).astype(float)
    expected = OrthogonalGLM(protected=[3]).fit(X, y)
    got = OrthogonalGLM(protected=[3]).fit(
        da.from_array(X, chunks=200), da.from_array(y, chunks=200)
    )
    np.testing.assert_allclose(got.coef_, expected.coef_, rtol=1e-8, atol=1e-10)
    # An error in a block names the row of the whole array there too.
    X[450, 1] = np.nan
    with pytest.raises(ValueError, match=r"the first in row 450\)"):
        OrthogonalGLM(protected=[3]).fit(
            da.from_array(X, chunks=200), da.from_array(y, chunks=200)
        )
