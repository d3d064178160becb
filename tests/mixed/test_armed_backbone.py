"""ARMED with a backbone of the user's: CNNs on images given as a mapping X."""

import pickle

import numpy as np
import pytest
import torch
from image_models import FeatureCNN  # tests/mixed/image_models.py
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from skorch.helper import SliceDict
from torch import nn

from orthokit.datasets import make_cluster_images, make_spirals
from orthokit.mixed import ARMEDClassifier, ARMEDRegressor
from orthokit.mixed._backbone import latent_widths
from orthokit.mixed._modules import ARMEDModule, DenseBackbone

FAST = {"max_epochs": 3, "batch_size": 16, "random_state": 0}
CNN_EFFECTS = {"linear_slopes": False}


class SmallCNN(nn.Module):
    """Conv-ReLU-pool, then a dense layer: returns both latents."""

    def __init__(self, channels=4, n_latent=8, size=16):
        super().__init__()
        self.conv = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)
        )
        self.dense = nn.Sequential(
            nn.Flatten(), nn.Linear(channels * (size // 2) ** 2, n_latent), nn.ReLU()
        )

    def forward(self, x):
        maps = self.conv(x)
        return maps, self.dense(maps)


@pytest.fixture(autouse=True)
def _torch_seed():
    torch.manual_seed(0)


def _images(n_per_cluster=20, n_clusters=3, seed=0):
    rng = np.random.default_rng(seed)
    n = n_per_cluster * n_clusters
    images = rng.normal(size=(n, 1, 16, 16)).astype(np.float32)
    site = np.repeat([f"s{c}" for c in range(n_clusters)], n_per_cluster)
    y = (images[:, 0, :8].mean(axis=(1, 2)) > 0).astype(int)
    return SliceDict(images=images, site=site), y


def test_cnn_backbone_fits_predicts_and_is_seeded():
    X, y = _images()
    params = {"cluster": "site", "backbone": SmallCNN, **CNN_EFFECTS, **FAST}
    state = torch.get_rng_state()
    clf = ARMEDClassifier(**params, backbone__channels=3).fit(X, y)
    assert torch.equal(state, torch.get_rng_state())
    proba = clf.predict_proba(X)
    assert proba.shape == (60, 2)
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert clf.input_shape_ == (1, 16, 16)
    assert clf.module_.backbone.conv[0].out_channels == 3
    # the adversary reads both latents the backbone returns: 3x8x8 maps and 8
    assert clf.module_.adversary[0].in_features == 3 * 64 + 8
    assert clf.random_effects_.shape == (3, 2 * (1 + 8))
    assert not hasattr(clf, "n_features_in_")
    again = ARMEDClassifier(**params, backbone__channels=3).fit(X, y)
    np.testing.assert_array_equal(again.predict_proba(X), proba)
    other = ARMEDClassifier(**{**params, "random_state": 1}, backbone__channels=3)
    assert not np.array_equal(other.fit(X, y).predict_proba(X), proba)


def test_linear_slopes_auto_leaves_out_per_pixel_slopes_with_a_backbone():
    X, y = _images()
    auto = ARMEDClassifier(cluster="site", backbone=SmallCNN, **FAST).fit(X, y)
    assert auto.linear_slopes == "auto"
    assert not auto.module_.linear_slopes
    assert auto.random_effects_.shape == (3, 2 * (1 + 8))
    off = ARMEDClassifier(cluster="site", backbone=SmallCNN, **CNN_EFFECTS, **FAST)
    np.testing.assert_array_equal(off.fit(X, y).predict_proba(X), auto.predict_proba(X))
    on = ARMEDClassifier(
        cluster="site", backbone=SmallCNN, linear_slopes=True, **FAST
    ).fit(X, y)
    assert on.random_effects_.shape == (3, 2 * (1 + 16 * 16 + 8))
    spirals, labels = make_spirals(simulation=1, n_per_cluster=10, random_state=0)
    dense = ARMEDClassifier(cluster="cluster", **FAST).fit(spirals, labels)
    assert dense.module_.linear_slopes  # the dense backbone keeps them
    with pytest.raises(ValueError, match="linear_slopes"):
        ARMEDClassifier(cluster="site", linear_slopes="yes").fit(X, y)


def test_a_backbone_instance_is_copied_not_trained_in_place():
    X, y = _images()
    backbone = SmallCNN()
    before = [p.detach().clone() for p in backbone.parameters()]
    clf = ARMEDClassifier(cluster="site", backbone=backbone, **CNN_EFFECTS, **FAST)
    first = clf.fit(X, y).predict_proba(X)
    for b, a in zip(before, backbone.parameters(), strict=True):
        assert torch.equal(b, a)
    trained = clf.module_.backbone.conv[0].weight
    assert not torch.equal(trained, backbone.conv[0].weight)
    np.testing.assert_array_equal(clf.fit(X, y).predict_proba(X), first)


def test_adversary_layers_are_read_through_hooks():
    X, y = _images()
    clf = ARMEDClassifier(
        cluster="site",
        backbone=SmallCNN,
        adversary_layers=["conv.0", "dense.1"],
        **CNN_EFFECTS,
        **FAST,
    ).fit(X, y)
    assert clf.module_.adversary[0].in_features == 4 * 16 * 16 + 8
    # the hooks live for one forward pass only
    assert not clf.module_.backbone.conv[0]._forward_hooks
    assert clf.predict(X).shape == (60,)


@pytest.mark.parametrize(
    ("layers", "match"),
    [(["conv.9"], "not submodules of the backbone"), ([], "list of names")],
)
def test_bad_adversary_layers(layers, match):
    X, y = _images()
    clf = ARMEDClassifier(
        cluster="site", backbone=SmallCNN, adversary_layers=layers, **FAST
    )
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)


def test_latent_widths_of_a_returned_tensor_or_tuple():
    cnn = SmallCNN(channels=2, n_latent=5)
    assert latent_widths(cnn, (1, 16, 16)) == ([128, 5], 5)
    assert latent_widths(cnn.dense, (2, 8, 8)) == ([5], 5)
    dense = DenseBackbone(3, (4, 6))
    assert latent_widths(dense, (3,)) == ([4, 6], 6)
    assert cnn.training  # the dry run leaves the mode as it was


def test_default_backbone_is_the_dense_network_of_hidden_layer_sizes():
    module = ARMEDModule(3, 4, 1, hidden_layer_sizes=(5, 6), generator=None)
    assert isinstance(module.backbone, DenseBackbone)
    assert [layer.out_features for layer in module.backbone.layers] == [5, 6]
    assert module.adversary[0].in_features == 11
    assert module.n_latent == 6


def test_unseen_clusters_of_images_use_the_z_predictor():
    X, y = _images()
    clf = ARMEDClassifier(cluster="site", backbone=SmallCNN, **CNN_EFFECTS, **FAST)
    clf.fit(X, y)
    unseen = SliceDict(images=X["images"][:5], site=np.array(["new"] * 5))
    proba = clf.predict_proba(unseen)
    assert proba.shape == (5, 2)
    assert not np.allclose(proba, clf.predict_proba(X[:5]))
    clf.set_params(unseen_clusters="error")
    with pytest.raises(ValueError, match="not seen in fit"):
        clf.predict(unseen)


def test_images_as_torch_tensors_equal_arrays():
    X, y = _images()
    clf = ARMEDClassifier(cluster="site", backbone=SmallCNN, **CNN_EFFECTS, **FAST)
    proba = clf.fit(X, y).predict_proba(X)
    tensors = {"images": torch.as_tensor(X["images"]), "site": X["site"]}
    np.testing.assert_array_equal(clf.predict_proba(tensors), proba)


@pytest.mark.parametrize(
    ("make_X", "error", "match"),
    [
        (lambda X: {"images": X["images"]}, ValueError, "not the cluster key 'site'"),
        (lambda X: {**X, "more": X["site"]}, ValueError, "one key of inputs"),
        (
            lambda X: {"images": X["images"][:, :, :8], "site": X["site"]},
            ValueError,
            r"shape \(1, 8, 16\)",
        ),
        (lambda X: X["images"].reshape(60, -1), TypeError, "fit on X as a mapping"),
        (
            lambda X: {"images": X["images"] * np.nan, "site": X["site"]},
            ValueError,
            "NaN or infinity",
        ),
    ],
)
def test_bad_mapping_input_at_predict(make_X, error, match):
    X, y = _images()
    clf = ARMEDClassifier(cluster="site", backbone=SmallCNN, **CNN_EFFECTS, **FAST)
    clf.fit(X, y)
    with pytest.raises(error, match=match):
        clf.predict(make_X(dict(X)))


def test_a_mapping_needs_a_cluster_key_by_name():
    X, y = _images()
    with pytest.raises(TypeError, match="key .str. of the cluster labels"):
        ARMEDClassifier(cluster=0, backbone=SmallCNN, **FAST).fit(X, y)


def test_backbone_parameters_survive_clone_pickle_and_group_cv():
    X, y = _images()
    clf = ARMEDClassifier(
        cluster="site", backbone=SmallCNN, backbone__n_latent=6, **CNN_EFFECTS, **FAST
    )
    assert clone(clf).get_params()["backbone__n_latent"] == 6
    clf.fit(X, y)
    assert clf.module_.n_latent == 6
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))
    scores = cross_val_score(clone(clf), X, y, cv=GroupKFold(3), groups=X["site"])
    assert scores.shape == (3,)
    assert np.all((scores >= 0) & (scores <= 1))


def test_backbone_parameters_are_searched_and_reset_by_set_params():
    X, y = _images()
    clf = ARMEDClassifier(cluster="site", backbone=SmallCNN, **CNN_EFFECTS, **FAST)
    search = GridSearchCV(
        clf, {"backbone__n_latent": [3, 5]}, cv=GroupKFold(3), refit=True
    ).fit(X, y, groups=X["site"])
    assert search.best_estimator_.module_.n_latent in (3, 5)
    assert len(search.cv_results_["mean_test_score"]) == 2
    clf.fit(X, y).set_params(backbone__n_latent=7)
    assert clf.fit(X, y).module_.n_latent == 7
    assert clf.random_effects_.shape == (3, 2 * (1 + 7))


def test_regressor_takes_a_backbone_too():
    X, y = _images()
    target = X["images"][:, 0].mean(axis=(1, 2)) * 10
    reg = ARMEDRegressor(cluster="site", backbone=SmallCNN, **CNN_EFFECTS, **FAST)
    assert reg.fit(X, target).predict(X).shape == (60,)


def test_a_lazy_backbone_on_tabular_data_is_seeded():
    X, y = make_spirals(1, n_clusters=4, n_per_cluster=20, random_state=0)
    params = {
        "cluster": "cluster",
        "backbone": nn.LazyLinear,
        "backbone__out_features": 5,
        **FAST,
    }
    state = torch.get_rng_state()
    first = ARMEDClassifier(**params).fit(X, y)
    assert torch.equal(state, torch.get_rng_state())
    second = ARMEDClassifier(**params).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    assert first.module_.backbone.in_features == 2
    assert list(first.random_effects_variance_.index[-1:]) == ["hidden_slope:4"]


@pytest.mark.slow
def test_cnn_learns_the_shapes_of_simulated_images_on_seen_and_unseen_clusters():
    data = make_cluster_images(n_clusters=8, n_per_cluster=100, random_state=0)
    seen = np.isin(data.cluster, [f"c{c}" for c in range(6)])
    train = seen & (np.arange(len(data.y)) % 100 < 70)
    X = SliceDict(images=data.images, cluster=data.cluster)
    clf = ARMEDClassifier(
        cluster="cluster",
        backbone=FeatureCNN,
        linear_slopes=False,
        max_epochs=20,
        lr=3e-3,
        random_state=0,
    ).fit(X[train], data.y[train])
    held_out = seen & ~train
    # chance is 0.5 (balanced classes); 120 and 200 images: sd about 0.04
    assert clf.score(X[held_out], data.y[held_out]) > 0.62
    assert clf.score(X[~seen], data.y[~seen]) > 0.62
    # the adversary read the feature vector, the effects act on it
    assert clf.module_.adversary[0].in_features == clf.module_.n_latent == 16
    assert clf.random_effects_.shape == (6, 2 * (1 + 16))
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(
        restored.predict_proba(X[~seen]), clf.predict_proba(X[~seen])
    )


def test_images_as_a_mapping_equal_their_pixels_as_columns():
    # The dense backbone flattens the images: the same network, weights,
    # batches and effects as on the pixels given as columns beside the cluster.
    X, y = _images()
    pixels = X["images"].reshape(60, -1)
    columns = np.column_stack([X["site"], pixels.astype(object)])
    params = {"hidden_layer_sizes": (8,), **FAST}
    by_key = ARMEDClassifier(cluster="site", **params).fit(X, y)
    by_column = ARMEDClassifier(cluster=0, **params).fit(columns, y)
    np.testing.assert_array_equal(
        by_key.predict_proba(X), by_column.predict_proba(columns)
    )
    assert by_key.effect_feature_names_[:2].tolist() == ["images[0]", "images[1]"]
    np.testing.assert_array_equal(
        by_key.random_effects_.to_numpy(), by_column.random_effects_.to_numpy()
    )
