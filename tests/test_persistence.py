"""Persistence and determinism of every public estimator.

Estimators and their constructor settings come from ``test_common.py`` (the
same discovery and ``SETTINGS`` table), so a new estimator is covered here as
soon as it has settings there. Every fitted estimator must give identical
outputs after pickle and after skops (the safe format for files from others),
from several threads at once, and, for the stochastic ones, on refitting with
the same ``random_state``.
"""

import io
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import skops.io as sio
from sklearn.base import clone, is_classifier
from test_common import SETTINGS, discover_estimators

import orthokit
from orthokit.datasets import make_biographies, make_spirals
from orthokit.evaluation import distance_correlation, nonlinear_check

METHODS = ("predict", "predict_proba", "decision_function", "transform")

ESTIMATORS = discover_estimators()
INSTANCES = [
    pytest.param(ESTIMATORS[name](**params), id=f"{name}-{i}")
    for name in sorted(ESTIMATORS)
    for i, params in enumerate(SETTINGS[name])
]


def data(estimator, n=90, seed=0):
    """Column 0 takes 3 values (protected column or cluster); 3 features.

    Classifiers get 3 classes, binary-only ones (by their tags) 2.
    """
    rng = np.random.default_rng(seed)
    group = rng.integers(0, 3, size=n)
    features = rng.normal(size=(n, 3)) + group[:, None] * [0.5, -0.5, 0.0]
    X = np.column_stack([group, features])
    eta = features @ [1.0, -1.0, 0.5]
    if is_classifier(estimator):
        binary = not estimator.__sklearn_tags__().classifier_tags.multi_class
        y = np.digitize(eta + rng.normal(size=n), [0.0] if binary else [-0.5, 0.5])
    else:
        y = rng.poisson(np.exp(0.3 * eta)).astype(float)
    return X, y


def outputs(estimator, X):
    """Every output method the estimator has, on ``X``."""
    found = {}
    for method in METHODS:
        if hasattr(estimator, method):
            found[method] = np.asarray(getattr(estimator, method)(X))
    assert found, f"{type(estimator).__name__} has none of {METHODS}"
    return found


def assert_same(got, expected):
    assert got.keys() == expected.keys()
    for method, values in expected.items():
        np.testing.assert_array_equal(got[method], values, err_msg=method)


@pytest.fixture(autouse=True)
def _one_torch_thread():
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a test dependency
        return
    torch.set_num_threads(1)


def fitted(estimator):
    X, y = data(estimator)
    return clone(estimator).fit(X, y), X


@pytest.mark.parametrize("estimator", INSTANCES)
def test_pickle_round_trip(estimator):
    model, X = fitted(estimator)
    loaded = pickle.loads(pickle.dumps(model))
    assert_same(outputs(loaded, X), outputs(model, X))


# skops refuses every type it does not know unless the caller trusts it by
# name: orthokit.trusted_types() lists exactly the names our estimators need,
# so anything else that appears fails the test instead of being trusted.
@pytest.mark.parametrize("estimator", INSTANCES)
def test_skops_round_trip(estimator, tmp_path):
    model, X = fitted(estimator)
    path = tmp_path / "model.skops"
    sio.dump(model, path)
    untrusted = sio.get_untrusted_types(file=path)
    unexpected = sorted(set(untrusted) - set(orthokit.trusted_types()))
    assert not unexpected, f"skops would need to trust {unexpected}"
    loaded = sio.load(path, trusted=orthokit.trusted_types())
    assert_same(outputs(loaded, X), outputs(model, X))


def fitted_on_a_mapping():
    """ARMED fit on images given as a mapping (its cluster spec is a ClusterKey)."""
    pytest.importorskip("torch")
    from orthokit.mixed import ARMEDClassifier
    from orthokit.mixed._modules import DenseBackbone

    rng = np.random.default_rng(0)
    X = {"images": rng.normal(size=(40, 1, 4, 4)), "site": np.repeat(["a", "b"], 20)}
    model = ARMEDClassifier(
        cluster="site",
        backbone=DenseBackbone,
        backbone__hidden_layer_sizes=(4,),
        max_epochs=2,
        random_state=0,
    )
    return model.fit(X, np.tile([0, 1], 20)), X


def test_skops_round_trip_of_a_model_fit_on_a_mapping():
    model, X = fitted_on_a_mapping()
    dumped = sio.dumps(model)
    assert not set(sio.get_untrusted_types(data=dumped)) - set(orthokit.trusted_types())
    loaded = sio.loads(dumped, trusted=orthokit.trusted_types())
    assert_same(outputs(loaded, X), outputs(model, X))


@pytest.mark.slow
def test_trusted_types_are_exactly_what_the_estimators_need():
    needed = set()
    models = [fitted(param.values[0])[0] for param in INSTANCES]
    for model in [*models, fitted_on_a_mapping()[0]]:
        needed.update(sio.get_untrusted_types(data=sio.dumps(model)))
    assert sorted(needed) == sorted(orthokit.trusted_types())


@pytest.mark.parametrize("estimator", INSTANCES)
def test_outputs_identical_from_several_threads(estimator):
    model, X = fitted(estimator)
    expected = outputs(model, X)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(lambda _: outputs(model, X), range(8)))
    for result in results:
        assert_same(result, expected)


@pytest.mark.parametrize("estimator", INSTANCES)
def test_refitting_reproduces_the_outputs(estimator):
    # Deterministic estimators always; stochastic ones given a random_state
    # (the settings fix it), whatever the global random state in between.
    model, X = fitted(estimator)
    np.random.seed(12345)
    again, _ = fitted(estimator)
    assert_same(outputs(again, X), outputs(model, X))


STOCHASTIC = [
    pytest.param(ESTIMATORS[name](**params), id=name)
    for name in sorted(ESTIMATORS)
    for params in SETTINGS[name][:1]
    if "random_state" in ESTIMATORS[name]().get_params()
]


def test_stochastic_estimators_are_found():
    assert {p.id for p in STOCHASTIC} >= {"ARMEDClassifier", "ARMEDRegressor"}


@pytest.mark.parametrize("estimator", STOCHASTIC)
def test_random_state_matters(estimator):
    # The seed is what makes the fit reproducible: another seed, another fit.
    model, X = fitted(estimator.set_params(random_state=0))
    other, _ = fitted(estimator.set_params(random_state=1))
    first, second = outputs(model, X), outputs(other, X)
    assert any(not np.array_equal(first[m], second[m]) for m in first)


RANDOM_FUNCTIONS = {
    "make_spirals": lambda seed: make_spirals(
        n_clusters=2, n_per_cluster=20, random_state=seed
    )[0].to_numpy(dtype=object),
    "make_biographies": lambda seed: make_biographies(10, random_state=seed).to_numpy(),
    "distance_correlation(projection)": lambda seed: (
        distance_correlation(
            np.arange(200.0)[:, None] % 7,
            np.arange(200) % 3,
            method="projection",
            subsample=64,
            random_state=seed,
        ).value
    ),
    "nonlinear_check": lambda seed: nonlinear_check(
        np.sin(np.arange(60.0)), np.arange(60) % 4, n_permutations=2, random_state=seed
    ).to_numpy(),
}


@pytest.mark.parametrize("name", sorted(RANDOM_FUNCTIONS))
def test_random_state_reproduces_functions(name):
    call = RANDOM_FUNCTIONS[name]
    first = call(0)
    np.random.seed(999)
    np.testing.assert_array_equal(np.asarray(call(0)), np.asarray(first))


# ------------------------------------------------------- torch modules


def test_armed_module_state_dict_round_trip():
    torch = pytest.importorskip("torch")
    from orthokit.mixed import ARMEDClassifier

    params = dict(SETTINGS["ARMEDClassifier"][0])
    model, X = fitted(ARMEDClassifier(**params))
    buffer = io.BytesIO()
    torch.save(model.module_.state_dict(), buffer)
    # Another fit (another seed) has the same layout and different weights;
    # loading the saved state makes it predict exactly as the first.
    other, _ = fitted(ARMEDClassifier(**{**params, "random_state": 1}))
    assert not np.array_equal(other.predict_proba(X), model.predict_proba(X))
    buffer.seek(0)
    other.module_.load_state_dict(torch.load(buffer, weights_only=True))
    np.testing.assert_array_equal(other.predict_proba(X), model.predict_proba(X))


LAYERS = {
    "MetadataNorm": {"n_features": 4, "n_metadata": 2},
    "PenaltyMetadataNorm": {"n_features": 4, "n_metadata": 2},
    "RecursiveMetadataNorm": {"n_features": 4, "n_metadata": 2},
    "MetadataMLP": {"n_features": 4, "n_metadata": 2, "norm": "mdn"},
}


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_nn_layer_state_dict_round_trip(name):
    torch = pytest.importorskip("torch")
    import orthokit.nn

    def build(seed):
        torch.manual_seed(seed)
        layer = getattr(orthokit.nn, name)(**LAYERS[name])
        for module in layer.modules():  # MDN needs the training kernel
            if isinstance(module, orthokit.nn.MetadataNorm):
                module.set_metadata_kernel(S)
        return layer

    generator = torch.Generator().manual_seed(0)
    S = torch.randn(64, 2, generator=generator)
    x = torch.randn(64, 4, generator=generator) + S @ torch.ones(2, 4)
    layer = build(0).train()
    for batch in range(4):  # running statistics and RLS state move
        layer(x[16 * batch : 16 * (batch + 1)], S[16 * batch : 16 * (batch + 1)])
    layer.eval()
    buffer = io.BytesIO()
    torch.save(layer.state_dict(), buffer)
    buffer.seek(0)
    fresh = build(1)
    fresh.load_state_dict(torch.load(buffer, weights_only=True))
    fresh.eval()
    with torch.no_grad():
        torch.testing.assert_close(fresh(x, S), layer(x, S), rtol=0, atol=0)


@pytest.mark.parametrize("name", ["ARMEDClassifier", "ARMEDRegressor"])
def test_armed_pandas_attributes_survive_skops(name):
    import pandas as pd

    model, _ = fitted(ESTIMATORS[name](**SETTINGS[name][0]))
    dumped = sio.dumps(model)
    loaded = sio.loads(dumped, trusted=orthokit.trusted_types())
    for attribute in ("random_effects_", "random_effects_variance_"):
        expected = getattr(model, attribute)
        got = getattr(loaded, attribute)
        assert type(got) is type(expected)
        if isinstance(expected, pd.DataFrame):
            pd.testing.assert_frame_equal(got, expected)
        else:
            pd.testing.assert_series_equal(got, expected)


def test_armed_learning_rate_can_be_set_after_loading():
    from orthokit.mixed import ARMEDRegressor

    model, _ = fitted(ARMEDRegressor(**SETTINGS["ARMEDRegressor"][0]))
    dumped = sio.dumps(model)
    loaded = sio.loads(dumped, trusted=orthokit.trusted_types())
    loaded.set_params(lr=0.5)  # skorch's setter, rebuilt on loading
    assert loaded.optimizer_.param_groups[0]["lr"] == 0.5
