"""The skorch nets' state: what ``__init__`` sets, what fit sets, what loads.

skorch's ``NeuralNet.__init__`` sets ``history_``, ``initialized_`` and
``virtual_params_``; orthokit's nets keep them under private keys
(``orthokit._skorch.PrivateInitStateMixin``) so that ``__init__`` sets
parameters only, as scikit-learn asks, while the attributes read and write as
on any skorch net. ARMED stores a new ``callbacks`` list of an unfitted net as
given and checks it in fit.
"""

import numpy as np
import pandas as pd
import pytest
from skorch.callbacks import EpochScoring
from skorch.history import History

from orthokit.mixed import ARMEDClassifier, ARMEDRegressor
from orthokit.nn import MetadataNormClassifier

SKORCH_INIT = ("history_", "initialized_", "virtual_params_")
FAST = {"max_epochs": 2, "batch_size": 32, "random_state": 0}


def _data():
    rng = np.random.default_rng(0)
    X = pd.DataFrame({"site": np.repeat(["a", "b", "c"], 20), "x": rng.normal(size=60)})
    y = (X["x"] + (X["site"] == "a") > 0.5).astype(int)
    return X, y


NETS = {
    "ARMEDClassifier": lambda: ARMEDClassifier(cluster="site", **FAST),
    "ARMEDRegressor": lambda: ARMEDRegressor(cluster="site", **FAST),
    "MetadataNormClassifier": lambda: MetadataNormClassifier(
        metadata=["site"], train_split=None, verbose=0, **FAST
    ),
}


@pytest.fixture(scope="module", params=sorted(NETS))
def fitted(request):
    X, y = _data()
    return NETS[request.param]().fit(X, y), X


def _predict(net, X):
    method = "predict_proba" if hasattr(net, "predict_proba") else "predict"
    return getattr(net, method)(X)


@pytest.mark.parametrize("name", sorted(NETS))
def test_init_sets_parameters_and_private_keys_only(name):
    net = NETS[name]()
    public = {key for key in vars(net) if not key.startswith("_")}
    assert not {key for key in public if key.endswith("_")}
    assert {f"_{key}" for key in SKORCH_INIT} <= set(vars(net))
    assert net.initialized_ is False
    assert net.history_ is None
    assert net.virtual_params_ == {}
    assert not set(SKORCH_INIT) & set(net.get_params())


def test_fit_sets_skorch_attributes_through_the_private_keys(fitted):
    net, _ = fitted
    assert net.initialized_ is True
    assert net.history is net.history_ is vars(net)["_history_"]
    assert len(net.history_) == FAST["max_epochs"]
    assert not set(SKORCH_INIT) & set(vars(net))


def test_unset_attribute_is_missing_as_a_plain_one_would_be():
    net = ARMEDRegressor.__new__(ARMEDRegressor)
    assert not hasattr(net, "initialized_")
    net.initialized_ = True
    assert vars(net) == {"_initialized_": True}
    del net.initialized_
    with pytest.raises(AttributeError, match="initialized_"):
        del net.initialized_


def test_state_with_skorch_public_names_loads(fitted):
    # a state written before the attributes moved to private keys
    net, X = fitted
    state = net.__getstate__()
    for key in SKORCH_INIT:
        state[key] = state.pop(f"_{key}")
    loaded = type(net).__new__(type(net))
    loaded.__setstate__(state)
    assert not set(SKORCH_INIT) & set(vars(loaded))
    assert loaded.initialized_ is True
    assert isinstance(loaded.history_, History)
    assert loaded.history_[:, "train_loss"] == net.history_[:, "train_loss"]
    np.testing.assert_array_equal(_predict(loaded, X), _predict(net, X))


@pytest.mark.parametrize("estimator", [ARMEDClassifier, ARMEDRegressor])
@pytest.mark.parametrize("callbacks", [-1, "bogus", {}])
def test_armed_checks_a_callbacks_list_set_before_fit_in_fit(estimator, callbacks):
    net = estimator(cluster="site", **FAST).set_params(callbacks=callbacks)
    assert net.callbacks == callbacks
    X, y = _data()
    with pytest.raises(ValueError, match="'callbacks' parameter"):
        net.fit(X, y)


def test_armed_uses_a_callbacks_list_set_before_fit():
    net = ARMEDClassifier(cluster="site", **FAST)
    scoring = EpochScoring("accuracy", on_train=True, name="train_acc")
    net.set_params(callbacks=[scoring], max_epochs=3)
    X, y = _data()
    net.fit(X, y)
    assert net.max_epochs == 3 and len(net.history_) == 3
    assert all(0 <= row["train_acc"] <= 1 for row in net.history_)
