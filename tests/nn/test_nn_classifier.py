"""MetadataNormClassifier: the skorch estimator of the metadata layers."""

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GridSearchCV

from orthokit.datasets import make_confounded_images
from orthokit.nn import MetadataNormClassifier, PenaltyMetadataNorm


@pytest.fixture(autouse=True)
def _seed():
    torch.set_num_threads(1)
    torch.manual_seed(0)


def _tabular(n=240, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    site = rng.normal(size=n) + y
    signal = rng.normal(size=n) + 1.5 * y
    X = pd.DataFrame(
        {"site": site, "a": signal + site, "b": rng.normal(size=n)}
    ).astype("float32")
    return X, y


@pytest.mark.parametrize("norm", ["none", "batchnorm", "mdn", "pmdn", "rmdn"])
def test_classifier_with_named_metadata(norm):
    X, y = _tabular()
    clf = MetadataNormClassifier(
        metadata=["site"],
        module__norm=norm,
        max_epochs=15,
        lr=0.02,
        batch_size=32,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X, y)
    assert clf.metadata_columns_.encoded_names_ == ["site"]
    assert clf.module_[0].in_features == 2
    assert clf.score(X, y) > 0.7
    assert list(clf.classes_) == [0, 1]


def test_classifier_string_labels_and_dict_input():
    data = make_confounded_images(20, random_state=0)
    labels = np.array(["a", "b"])[data.y]
    X = {
        "X": data.images.reshape(40, -1),
        "metadata": data.confounder[:, None],
    }
    clf = MetadataNormClassifier(
        module__norm="mdn", max_epochs=2, train_split=None, verbose=0
    ).fit(X, labels)
    assert set(clf.predict(X)) <= {"a", "b"}
    assert clf.predict_proba(X).shape == (40, 2)
    mdn = clf.module_[1]
    assert float(mdn.n_samples) == 40.0 and mdn.n_targets == 1


def test_pmdn_alternating_optimisation_and_progress(capsys):
    X, y = _tabular()
    clf = MetadataNormClassifier(
        metadata=[0],
        module__norm="pmdn",
        max_epochs=2,
        train_split=None,
        lr_beta=0.1,
        random_state=0,
    ).fit(X, y)
    layer = clf.module_[2]
    assert isinstance(layer, PenaltyMetadataNorm)
    network_params = {
        id(p) for g in clf.optimizer_.param_groups for g_ in [g] for p in g_["params"]
    }
    assert id(layer.beta) not in network_params
    assert [id(p) for p in clf.optimizer_beta_.param_groups[0]["params"]] == [
        id(layer.beta)
    ]
    assert clf.optimizer_beta_.param_groups[0]["lr"] == 0.1
    assert layer.beta.abs().sum().item() > 0
    assert layer.beta.grad is None
    penalties = clf.history[:, "train_penalty"]
    assert len(penalties) == 2 and penalties[1] < penalties[0]
    assert "train_penalty" in capsys.readouterr().out


def test_pmdn_takes_one_forward_pass_per_batch():
    # The penalty reuses the task's forward pass (issue 33): 3 batches, 3 calls.
    X, y = _tabular(n=96)
    clf = MetadataNormClassifier(
        metadata=[0],
        module__norm="pmdn",
        max_epochs=1,
        batch_size=32,
        train_split=None,
        verbose=0,
        random_state=0,
    ).fit(X, y)
    calls = []
    clf.module_.register_forward_hook(lambda *args: calls.append(1))
    layer = clf.module_[2]
    before = layer.beta.detach().clone()
    clf.partial_fit(X, y)
    assert len(calls) == 3
    assert not torch.equal(layer.beta, before) and layer.beta.grad is None


def test_grid_search_over_norm_and_lr():
    X, y = _tabular(n=120)
    clf = MetadataNormClassifier(
        metadata=["site"], max_epochs=3, train_split=None, verbose=0, random_state=0
    )
    grid = GridSearchCV(
        clf, {"module__norm": ["rmdn", "mdn"], "lr": [0.01, 0.05]}, cv=2
    ).fit(X, y)
    assert len(grid.cv_results_["params"]) == 4
    assert grid.best_params_["module__norm"] in {"rmdn", "mdn"}


def test_partial_fit_carries_rmdn_state():
    X, y = _tabular()
    clf = MetadataNormClassifier(
        metadata=["site"], max_epochs=1, batch_size=40, train_split=None, verbose=0
    )
    clf.partial_fit(X[:120], y[:120])
    clf.partial_fit(X[120:], y[120:])
    assert int(clf.module_[1].num_batches_tracked) == 6


@pytest.mark.parametrize(
    ("X", "match"),
    [
        ({"X": np.zeros((4, 2))}, "X must be a dict"),
        (
            {"X": np.full((4, 2), np.nan), "metadata": np.zeros(4)},
            "X columns \\['0', '1'\\] contains NaN",
        ),
        (
            {"X": np.zeros((4, 2)), "metadata": np.array(list("abab"))[:, None]},
            "metadata must be numeric, but its column '0' holds labels",
        ),
        (
            {"X": np.zeros((4, 2)), "metadata": np.zeros((3, 1))},
            "metadata has 3 rows but X has 4; they must match",
        ),
        (
            {"X": np.zeros((4, 2)), "metadata": np.array([[0.0], [np.nan], [1], [2]])},
            "metadata column '0' contains NaN",
        ),
    ],
)
def test_classifier_bad_dict_input(X, match):
    clf = MetadataNormClassifier(train_split=None, verbose=0)
    with pytest.raises((ValueError, TypeError), match=match):
        clf.fit(X, np.array([0, 1, 0, 1]))


def _as_frame(X, frame):
    if frame == "pandas":
        return X
    if frame == "polars":
        import polars

        return polars.from_pandas(X)
    import pyarrow

    return pyarrow.Table.from_pandas(X, preserve_index=False)


def _as_labels(y, frame):
    labels = np.array(["no", "yes"])[y]
    if frame == "pandas":
        return pd.Series(labels, name="outcome")
    if frame == "polars":
        import polars

        return polars.Series("outcome", labels)
    return labels  # pyarrow input: y as an array


@pytest.mark.parametrize("frame", ["pandas", "polars", "pyarrow"])
def test_classifier_reads_every_frame_like_numpy(frame):
    X, y = _tabular(n=120)
    kwargs = {"max_epochs": 2, "train_split": None, "verbose": 0, "random_state": 0}
    from_array = MetadataNormClassifier(metadata=[0], **kwargs).fit(X.to_numpy(), y)
    from_frame = MetadataNormClassifier(metadata=["site"], **kwargs)
    from_frame.fit(_as_frame(X, frame), _as_labels(y, frame))
    assert list(from_frame.feature_names_in_) == ["site", "a", "b"]
    assert list(from_frame.classes_) == ["no", "yes"]
    np.testing.assert_allclose(
        from_frame.predict_proba(_as_frame(X, frame)),
        from_array.predict_proba(X.to_numpy()),
        atol=1e-6,
    )


def _with_nan(X, column):
    X = X.copy()
    X.loc[3, column] = np.nan
    return X


@pytest.mark.parametrize(
    ("X", "y", "match"),
    [
        (_tabular(n=20)[0], np.zeros(19, int), "y has 19 rows but X has 20; they must"),
        (_tabular(n=20)[0], np.zeros(21, int), "y has 21 rows but X has 20; they must"),
        (_with_nan(_tabular(n=20)[0], "a"), _tabular(n=20)[1], "X column 'a' .*NaN"),
        (
            _with_nan(_tabular(n=20)[0], "site"),
            _tabular(n=20)[1],
            "protected column 'site' contains NaN",
        ),
        (
            _tabular(n=20)[0],
            np.where(np.arange(20) == 4, np.nan, 1.0),
            "Input y contains NaN",
        ),
        (_tabular(n=20)[0], None, "requires y to be passed, but the target y is None"),
        (_tabular(n=20)[0], np.zeros(20, int), "only one class"),
        (_tabular(n=20)[0].iloc[:1], np.zeros(1, int), "1 sample"),
        (
            _tabular(n=20)[0].assign(site=1e39),
            _tabular(n=20)[1],
            "metadata column 'site' has values beyond the range of float32",
        ),
    ],
)
def test_classifier_bad_tabular_input(X, y, match):
    clf = MetadataNormClassifier(metadata=["site"], train_split=None, verbose=0)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda X: X.iloc[:, :2], "Feature names seen at fit time, yet now missing"),
        (lambda X: X.assign(a=np.inf), "X column 'a' contains NaN or infinity"),
        (lambda X: X.assign(site="x"), "protected column 'site'"),
    ],
)
def test_classifier_bad_input_after_fit(make, match):
    X, y = _tabular(n=40)
    clf = MetadataNormClassifier(
        metadata=["site"], max_epochs=1, train_split=None, verbose=0
    ).fit(X, y)
    with pytest.raises(ValueError, match=match):
        clf.predict(make(X))


def test_classifier_dict_input_of_tensors_and_frames_matches_arrays():
    data = make_confounded_images(16, random_state=0)
    kwargs = {"module__norm": "mdn", "max_epochs": 2, "train_split": None}
    kwargs |= {"verbose": 0, "random_state": 0}
    images = data.images.reshape(32, -1)
    arrays = {"X": images, "metadata": data.confounder}
    others = {
        "X": torch.as_tensor(images),
        "metadata": pd.DataFrame({"confounder": data.confounder}),
    }
    expected = MetadataNormClassifier(**kwargs).fit(arrays, data.y)
    clf = MetadataNormClassifier(**kwargs).fit(others, data.y)
    np.testing.assert_allclose(
        clf.predict_proba(others), expected.predict_proba(arrays), atol=1e-6
    )
    assert clf.module_[0].in_features == 32 * 32


def test_partial_fit_takes_a_chunk_of_one_class_once_classes_are_known():
    X, y = _tabular()
    clf = MetadataNormClassifier(
        metadata=["site"], max_epochs=1, train_split=None, verbose=0
    )
    clf.partial_fit(X[:120], y[:120])
    one_class = y[120:] == 1
    clf.partial_fit(X[120:][one_class], y[120:][one_class])
    assert list(clf.classes_) == [0, 1]
    with pytest.raises(ValueError, match=r"y has labels \[7\] that are not among"):
        clf.partial_fit(X[:10], np.full(10, 7))


def test_no_private_skorch_names_in_the_metadata_classifier():
    import inspect
    import re

    from orthokit.nn import _skorch

    private = re.compile(
        r"(?<!\w)_(initialize_module|initialize_optimizer|set_training|"
        r"default_callbacks|optimizers|validate_params|register_virtual_param)\b"
    )
    assert private.findall(inspect.getsource(_skorch)) == []


# Every device this machine has: the CPU always, CUDA where a GPU is present.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("norm", ["mdn", "pmdn", "rmdn"])
def test_classifier_fits_and_predicts_on_each_available_device(device, norm):
    X, y = _tabular()
    clf = MetadataNormClassifier(
        metadata=["site"],
        module__norm=norm,
        max_epochs=2,
        train_split=None,
        verbose=0,
        device=device,
        random_state=0,
    ).fit(X, y)
    assert {p.device.type for p in clf.module_.parameters()} == {device}
    assert {b.device.type for b in clf.module_.buffers()} <= {device}
    proba = clf.predict_proba(X)
    assert np.isfinite(proba).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
