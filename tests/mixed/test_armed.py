import copy
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from skorch.callbacks import Callback

from orthokit.datasets import make_spirals
from orthokit.mixed import ARMEDClassifier, ARMEDRegressor
from orthokit.mixed._modules import ARMEDModule, GaussianRandomEffect

FAST = {"max_epochs": 2, "batch_size": 64, "random_state": 0}


@pytest.fixture(autouse=True)
def _torch_seed():
    torch.set_num_threads(1)
    torch.manual_seed(0)


@pytest.fixture(scope="module")
def spirals():
    return make_spirals(1, n_clusters=4, n_per_cluster=40, random_state=0)


def _mixed_data(seed=0, n_clusters=6, n_per=30):
    rng = np.random.default_rng(seed)
    site = np.repeat([f"s{c}" for c in range(n_clusters)], n_per)
    x1, x2 = rng.normal(size=(2, len(site)))
    slope = dict(zip(np.unique(site), rng.normal(0, 1.0, n_clusters), strict=True))
    y = 1.0 + x1 * (1.0 + pd.Series(site).map(slope).to_numpy()) + 0.5 * x2
    return pd.DataFrame({"site": site, "x1": x1, "x2": x2}), y


def test_import_orthokit_does_not_import_torch():
    code = "import sys, orthokit, orthokit.mixed; print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_fit_predict_shapes_and_attributes(spirals):
    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", **FAST).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.shape == (160, 2)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert set(clf.predict(X)) <= {0, 1}
    assert clf.clusters_.tolist() == ["c0", "c1", "c2", "c3"]
    assert clf.random_effects_.index.tolist() == ["c0", "c1", "c2", "c3"]
    assert clf.random_effects_.index.name == "cluster"
    effects = clf.random_effects_.columns.get_level_values("effect").unique()
    assert effects.tolist() == ["intercept", "slope:x1", "slope:x2"] + [
        f"hidden_slope:{j}" for j in range(32)
    ]
    assert clf.random_effects_variance_.index.tolist() == effects.tolist()
    assert (clf.random_effects_.xs("sd", axis=1, level="stat") > 0).all().all()
    assert clf.effect_feature_names_.tolist() == ["x1", "x2"]


def test_random_state_reproducible_and_restores_global_rng(spirals):
    X, y = spirals
    state = torch.random.get_rng_state()
    clf = ARMEDClassifier(cluster="cluster", **FAST).fit(X, y)
    assert torch.equal(torch.random.get_rng_state(), state)
    a = clf.predict_proba(X)
    b = ARMEDClassifier(cluster="cluster", **FAST).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    c = (
        ARMEDClassifier(cluster="cluster", **{**FAST, "random_state": 1})
        .fit(X, y)
        .predict_proba(X)
    )
    assert not np.allclose(a, c)


def test_cluster_by_position_equals_by_name(spirals):
    X, y = spirals
    by_name = ARMEDClassifier(cluster="cluster", **FAST).fit(X, y)
    by_position = ARMEDClassifier(cluster=2, **FAST).fit(X, y)
    np.testing.assert_array_equal(
        by_name.predict_proba(X), by_position.predict_proba(X)
    )


@pytest.mark.parametrize(
    ("unseen", "expect"),
    [("z_predictor", "soft"), ("fixed", "fixed"), ("error", "error")],
)
def test_unseen_clusters(spirals, unseen, expect):
    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", unseen_clusters=unseen, **FAST)
    clf.fit(X, y)
    new = X.head(20).assign(cluster="never-seen")
    if expect == "error":
        with pytest.raises(ValueError, match="not seen in fit and unseen_clusters"):
            clf.predict(new)
        return
    mixed = clf.predict_proba(new)
    fixed = clf.set_params(predict_effects="fixed").predict_proba(new)
    if expect == "fixed":
        np.testing.assert_allclose(mixed, fixed, rtol=1e-6)
    else:
        assert clf.module_.z_predictor is not None
        assert not np.allclose(mixed, fixed)


def test_unseen_clusters_set_after_fit_applies_to_predictions(spirals):
    # Fit trains the Z-predictor after the network and apart from it: the
    # same seed gives the same network with or without one, so a fit with
    # the Z-predictor, told after fit to use fixed effects for unseen
    # clusters, predicts as a fit that never had one.
    X, y = spirals
    new = X.head(20).assign(cluster="never-seen")
    soft = ARMEDClassifier(cluster="cluster", **FAST).fit(X, y)
    fixed = ARMEDClassifier(cluster="cluster", unseen_clusters="fixed", **FAST)
    fixed.fit(X, y)
    by_z = soft.predict_proba(new)
    soft.set_params(unseen_clusters="fixed")
    np.testing.assert_array_equal(soft.predict_proba(new), fixed.predict_proba(new))
    assert not np.allclose(by_z, fixed.predict_proba(new))
    soft.set_params(unseen_clusters="z_predictor")
    np.testing.assert_array_equal(soft.predict_proba(new), by_z)
    fixed.set_params(unseen_clusters="z_predictor")
    with pytest.raises(ValueError, match="trained no Z-predictor; refit"):
        fixed.predict(new)
    fixed.predict(X.head(20))  # seen clusters need no Z-predictor


def test_seen_rows_unchanged_by_unseen_rows_in_the_batch(spirals):
    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", **FAST).fit(X, y)
    seen = clf.predict_proba(X.head(10))
    both = clf.predict_proba(pd.concat([X.head(10), X.head(5).assign(cluster="new")]))
    np.testing.assert_allclose(both[:10], seen, rtol=1e-6)


def test_no_random_effects_means_mixed_equals_fixed(spirals):
    X, y = spirals
    clf = ARMEDClassifier(
        cluster="cluster",
        random_intercept=False,
        linear_slopes=False,
        nonlinear_slopes=False,
        **FAST,
    ).fit(X, y)
    mixed = clf.predict_proba(X)
    fixed = clf.set_params(predict_effects="fixed").predict_proba(X)
    np.testing.assert_array_equal(mixed, fixed)
    assert clf.random_effects_.shape == (4, 0)


def test_mixed_logit_adds_effects_to_the_fixed_logit_not_its_sigmoid():
    module = ARMEDModule(
        n_features=2, n_clusters=3, n_outputs=1, linear_slopes=True
    ).eval()
    with torch.no_grad():
        for effect in module.random_effects.values():
            effect.mean.zero_()
        module.random_effects["intercept"].mean[1] = 0.7
    features = torch.randn(5, 2)
    cluster = torch.tensor([0, 1, 1, 2, 0])
    mixed, fixed, adversary, z = module(features, cluster)
    expected = fixed + 0.7 * (cluster == 1).float()[:, None]
    torch.testing.assert_close(mixed, expected)
    assert adversary.shape == (5, 3) and z.shape == (5, 3)


def test_closed_form_kl_matches_torch_distributions():
    effect = GaussianRandomEffect(4, (3,), prior_scale=0.3)
    with torch.no_grad():
        effect.mean.normal_()
        effect.rho.normal_()
    posterior = torch.distributions.Normal(effect.mean, effect.sd)
    prior = torch.distributions.Normal(torch.zeros(4, 3), 0.3 * torch.ones(4, 3))
    expected = torch.distributions.kl_divergence(posterior, prior).sum()
    torch.testing.assert_close(effect.kl_divergence(), expected)


def test_posterior_starts_as_the_authors_layers_do():
    # Means drawn from the prior (they break the symmetry of the slopes),
    # sds a tenth of the prior's.
    torch.manual_seed(0)
    effect = GaussianRandomEffect(
        2000, (2, 1), prior_scale=torch.tensor([[0.1], [0.3]])
    )
    torch.testing.assert_close(effect.sd[0, :, 0], torch.tensor([0.01, 0.03]))
    spread = effect.mean.detach().std(axis=0)[:, 0]
    torch.testing.assert_close(spread, torch.tensor([0.1, 0.3]), rtol=0.05, atol=0)
    assert effect.mean.detach().mean().abs() < 0.02


def test_adversary_has_its_own_parameter_group(spirals):
    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", **FAST).fit(X, y)
    adversary = {id(p) for p in clf.module_.adversary.parameters()}
    groups = clf.optimizer_.param_groups
    own = {id(p) for g in groups if g.get("name") == "adversary" for p in g["params"]}
    rest = {id(p) for g in groups if g.get("name") != "adversary" for p in g["params"]}
    assert own == adversary
    assert not rest & adversary
    assert rest | own == {id(p) for p in clf.module_.parameters()}


@pytest.mark.parametrize("adversary_weight", [0.5, 2.0])
def test_adversary_steps_on_the_gradient_of_its_own_loss(spirals, adversary_weight):
    X, y = spirals
    clf = ARMEDClassifier(
        cluster="cluster", adversary_weight=adversary_weight, **FAST
    ).fit(X, y)
    data = clf.get_dataset(X, y)
    feats = torch.as_tensor(data.X["features"])
    cluster = torch.as_tensor(data.X["cluster"])
    batch = ({"features": feats, "cluster": cluster}, torch.as_tensor(data.y))
    params = list(clf.module_.adversary.parameters())
    adversary_logit = clf.module_.train()(feats, cluster)[2]
    expected = torch.autograd.grad(
        torch.nn.functional.cross_entropy(adversary_logit, cluster), params
    )
    clf.optimizer_.zero_grad()
    clf.train_step_single(batch)
    for got, want in zip([p.grad for p in params], expected, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    fixed_before = [p.detach().clone() for p in clf.module_.backbone.parameters()]
    adversary_before = [p.detach().clone() for p in params]
    clf.train_step(batch)
    for before, after in (
        (fixed_before, clf.module_.backbone.parameters()),
        (adversary_before, params),
    ):
        assert any(not torch.equal(b, a) for b, a in zip(before, after, strict=True))


def test_single_sample_cluster_returns_to_its_prior():
    # One sample barely informs its cluster's effects: the KL term brings
    # their posterior from its starting point to the prior N(0, 0.1²) (the
    # paper's intercept prior).
    X, y = make_spirals(1, n_clusters=3, n_per_cluster=40, random_state=1)
    X = pd.concat([X, X.head(1).assign(cluster="lonely")], ignore_index=True)
    y = pd.concat([y, y.head(1)], ignore_index=True)
    clf = ARMEDClassifier.from_paper(
        cluster="cluster", max_epochs=40, batch_size=16, lr=0.01, random_state=0
    ).fit(X, y)
    sd = clf.random_effects_.loc["lonely", ("intercept", "sd")]
    mean = clf.random_effects_.loc["lonely", ("intercept", "mean")]
    assert sd == pytest.approx(0.1, rel=0.1)
    assert abs(mean) < 0.1


def test_multiclass():
    X, y = make_spirals(1, n_clusters=3, n_per_cluster=30, random_state=0)
    y = np.where(X["x1"] > 0.3, "c", np.where(y == 1, "b", "a"))
    clf = ARMEDClassifier(cluster="cluster", **FAST).fit(X, y)
    assert clf.classes_.tolist() == ["a", "b", "c"]
    assert clf.predict_proba(X).shape == (90, 3)
    assert set(clf.predict(X)) <= {"a", "b", "c"}
    assert "intercept[a]" in clf.random_effects_variance_.index


def test_groupkfold_pipeline_and_grid_search(spirals):
    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", **FAST)
    scores = cross_val_score(
        make_pipeline(clf), X, y, groups=X["cluster"], cv=GroupKFold(n_splits=2)
    )
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))
    search = GridSearchCV(
        clf, {"adversary_weight": [0.0, 0.5]}, cv=GroupKFold(n_splits=2)
    ).fit(X, y, groups=X["cluster"])
    assert search.best_params_["adversary_weight"] in (0.0, 0.5)


def test_skorch_prefixed_params_survive_clone(spirals):
    from sklearn.base import clone

    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", optimizer__weight_decay=0.1, **FAST)
    assert clone(clf).get_params()["optimizer__weight_decay"] == 0.1
    clf.fit(X, y)
    assert clf.optimizer_.param_groups[0]["weight_decay"] == 0.1


def test_prefixed_parameters_work_through_grid_search(spirals):
    # skorch's own machinery: optimizer__ reaches the optimizer, callbacks__
    # a named callback, iterator_train__ the training batches; on a fitted
    # net, optimizer__ and lr are set on the optimizer's groups in place.
    from skorch.callbacks import EpochScoring

    X, y = spirals
    clf = ARMEDClassifier(
        cluster="cluster",
        callbacks=[("scoring", EpochScoring("accuracy", on_train=True))],
        **{**FAST, "max_epochs": 1},
    )
    grid = {
        "optimizer__weight_decay": [0.0, 0.1],
        "iterator_train__drop_last": [True],
        "callbacks__scoring__name": ["train_acc"],
    }
    search = GridSearchCV(clf, grid, cv=GroupKFold(n_splits=2))
    best = search.fit(X, y, groups=X["cluster"]).best_estimator_
    decay = search.best_params_["optimizer__weight_decay"]
    assert [g["weight_decay"] for g in best.optimizer_.param_groups] == [decay] * 3
    assert "train_acc" in best.history_[-1]
    assert len(best.get_iterator(best.get_dataset(X, y), training=True)) == 2
    best.set_params(optimizer__weight_decay=0.5, lr=0.2)
    assert {(g["weight_decay"], g["lr"]) for g in best.optimizer_.param_groups} == {
        (0.5, 0.2)
    }


class _RestoreAtTrainEnd(Callback):
    """What EarlyStopping(load_best=True) does: restore a snapshot at the end."""

    def on_train_begin(self, net, **kwargs):
        self.snapshot = copy.deepcopy(net.module_.state_dict())

    def on_train_end(self, net, **kwargs):
        net.module_.load_state_dict(self.snapshot)


@pytest.mark.parametrize("callbacks", ["restore", "disable"])
def test_z_predictor_is_trained_after_every_callback(spirals, callbacks):
    # A callback that restores the module's weights when training ends (as
    # EarlyStopping(load_best=True) does) runs before the Z-predictor is
    # trained, so the trained Z-predictor is kept.
    X, y = spirals
    if callbacks == "disable":
        params = {"callbacks": "disable"}
    else:
        params = {"callbacks": [_RestoreAtTrainEnd()]}
    clf = ARMEDClassifier(cluster="cluster", **{**FAST, **params})
    clf.fit(X, y)
    data = clf.get_dataset(X).X
    with torch.no_grad():
        logits = clf.module_.z_predictor(torch.as_tensor(data["features"]))
        loss = torch.nn.functional.cross_entropy(
            logits, torch.as_tensor(data["cluster"])
        )
    assert loss.item() == pytest.approx(clf.z_predictor_loss_, rel=1e-5)
    assert clf.random_effects_.shape[0] == 4


def test_skorch_callbacks_record_history(spirals):
    from skorch.callbacks import EpochScoring

    X, y = spirals
    clf = ARMEDClassifier(
        cluster="cluster",
        callbacks=[EpochScoring("accuracy", on_train=True, name="train_acc")],
        **{**FAST, "max_epochs": 3},
    ).fit(X, y)
    assert len(clf.history_) == 3
    assert clf.history_[:, "train_loss"][0] > 0


def test_regressor_recovers_which_slope_varies():
    X, y = _mixed_data()
    reg = ARMEDRegressor(
        cluster="site",
        linear_slopes=True,
        nonlinear_slopes=False,
        slope_prior_scale=1.0,
        intercept_prior_scale=1.0,
        adversary_weight=0.0,
        hidden_layer_sizes=(8,),
        max_epochs=60,
        lr=0.02,
        batch_size=32,
        random_state=0,
    ).fit(X, y)
    variance = reg.random_effects_variance_
    assert variance.index.tolist() == ["intercept", "slope:x1", "slope:x2"]
    assert variance["slope:x1"] > 5 * variance["slope:x2"]
    assert reg.predict(X).shape == (len(X),)
    assert reg.score(X, y) > 0.8


X_BAD, Y_BAD = _mixed_data(n_clusters=3, n_per=4)


@pytest.mark.parametrize(
    ("X", "params", "error", "match"),
    [
        (X_BAD.assign(site="one"), {}, ValueError, "single cluster"),
        (
            X_BAD.assign(site=[1, "1"] * 6),
            {},
            TypeError,
            "mixes label types",
        ),
        (
            X_BAD.assign(x1=np.where(np.arange(12) == 3, np.nan, 1.0)),
            {},
            ValueError,
            "X column 'x1' contains NaN",
        ),
        (
            X_BAD.assign(site=[None] + ["a"] * 11),
            {},
            ValueError,
            "cluster column 'site' contains missing values",
        ),
        (X_BAD, {"cluster": "group"}, ValueError, "not a column of X"),
        (X_BAD, {"cluster": None}, ValueError, "needs cluster="),
        (X_BAD.to_numpy(), {}, ValueError, "without column names"),
        (X_BAD, {"cluster": 7}, ValueError, "out of range"),
        (X_BAD[["site"]], {}, ValueError, "only its cluster column"),
        (X_BAD.assign(x2="text"), {}, ValueError, "X column 'x2' is not numeric"),
        (X_BAD, {"hidden_layer_sizes": (4, 0)}, ValueError, "positive integers"),
        (X_BAD, {"unseen_clusters": "guess"}, ValueError, "unseen_clusters"),
        (X_BAD, {"kl_weight": -1.0}, ValueError, "kl_weight"),
    ],
)
def test_bad_input(X, params, error, match):
    reg = ARMEDRegressor(**{"cluster": "site", **FAST, **params})
    with pytest.raises(error, match=match):
        reg.fit(X, Y_BAD)


def test_bad_input_at_predict():
    X, y = _mixed_data(n_clusters=3, n_per=4)
    reg = ARMEDRegressor(cluster="site", unseen_clusters="error", **FAST).fit(X, y)
    with pytest.raises(ValueError, match="labels \\['zz'\\] not seen in fit"):
        reg.predict(X.assign(site="zz"))
    with pytest.raises(ValueError, match="X column 'x2' contains NaN"):
        reg.predict(X.assign(x2=np.nan))
    with pytest.raises(ValueError, match="y holds a single class"):
        ARMEDClassifier(cluster="site", **FAST).fit(X, np.zeros(len(X)))


@pytest.mark.parametrize(("simulation", "n_columns"), [(1, 3), (2, 3), (3, 5)])
def test_make_spirals(simulation, n_columns):
    X, y, params = make_spirals(
        simulation, n_per_cluster=200, random_state=0, return_cluster_params=True
    )
    assert X.shape == (2000, n_columns)
    assert X["cluster"].nunique() == 10 and len(y) == 2000
    assert params.index.tolist() == [f"c{c}" for c in range(10)]
    if simulation == 2:
        assert (params["radius"] < 0).any()
    if simulation == 3:
        probe = X.groupby("cluster")["x3"].mean()
        share0 = 1 - y.groupby(X["cluster"]).mean()
        np.testing.assert_allclose(share0, params["rho"], atol=0.5 / 200)
        assert np.corrcoef(probe, params["rho"])[0, 1] > 0.9
    else:
        assert (y.groupby(X["cluster"]).mean() == 0.5).all()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"simulation": 4}, "simulation must be"), ({"n_clusters": 0}, "n_clusters")],
)
def test_make_spirals_bad_input(kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_spirals(**kwargs)


def test_z_predictor_trained_after_the_network_leaves_it_unchanged(spirals):
    X, y = spirals
    with_z = ARMEDClassifier(cluster="cluster", **FAST).fit(X, y)
    without = ARMEDClassifier(cluster="cluster", unseen_clusters="fixed", **FAST)
    without.fit(X, y)
    np.testing.assert_array_equal(with_z.predict_proba(X), without.predict_proba(X))
    state = without.module_.state_dict()
    for name, value in with_z.module_.state_dict().items():
        if not name.startswith("z_predictor."):
            torch.testing.assert_close(value, state[name], rtol=0, atol=0)
    assert np.isfinite(with_z.z_predictor_loss_)
    assert not hasattr(without, "z_predictor_loss_")


def test_fit_z_predictor_learns_separable_clusters():
    torch.manual_seed(0)
    centres = torch.tensor([[-4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    cluster = torch.arange(3).repeat_interleave(100)
    features = centres[cluster] + 0.3 * torch.randn(300, 2)
    module = ARMEDModule(n_features=2, n_clusters=3, n_outputs=1).eval()
    with torch.no_grad():
        before = torch.nn.functional.cross_entropy(
            module.z_predictor(features), cluster
        ).item()
    loss = module.fit_z_predictor(features, cluster, epochs=60, batch_size=64)
    with torch.no_grad():
        accuracy = (module.z_predictor(features).argmax(1) == cluster).float().mean()
    assert loss < before / 2
    assert accuracy.item() >= 0.95
    assert not module.training  # its mode is restored
    no_z = ARMEDModule(n_features=2, n_clusters=3, n_outputs=1, z_predictor=False)
    assert np.isnan(no_z.fit_z_predictor(features, cluster))


@pytest.mark.parametrize(
    ("params", "fused"),
    [
        ({}, True),
        ({"optimizer__foreach": True}, None),
        ({"optimizer__fused": False}, False),
        ({"optimizer": torch.optim.SGD}, None),
    ],
)
def test_fused_adam_unless_the_user_chooses(spirals, params, fused):
    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", **{**FAST, "max_epochs": 1, **params})
    clf.fit(X, y)
    assert clf.optimizer_.defaults.get("fused") == fused


# Every device this machine has: the CPU always, CUDA where a GPU is present.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_fits_and_predicts_on_each_available_device(spirals, device):
    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", device=device, **FAST).fit(X, y)
    assert {p.device.type for p in clf.module_.parameters()} == {device}
    for frame in (X, X.assign(cluster="unseen")):  # mixed, then Z-predictor
        proba = clf.predict_proba(frame)
        assert proba.shape == (len(X), 2) and np.isfinite(proba).all()
        np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-6)
    assert np.isfinite(clf.random_effects_.to_numpy(dtype=float)).all()


# Devices torch cannot use here: a typo, an absent GPU or Apple GPU, a
# missing index. A ValueError names device and lists the available ones.
UNAVAILABLE_DEVICES = ["cuad", "gpu", "cuda:99"] + [
    name
    for name, present in [
        ("cuda", torch.cuda.is_available()),
        ("mps", torch.backends.mps.is_available()),
    ]
    if not present
]


@pytest.mark.parametrize("estimator", [ARMEDClassifier, ARMEDRegressor])
@pytest.mark.parametrize("device", UNAVAILABLE_DEVICES)
def test_unavailable_device_is_a_clear_error_at_fit(spirals, estimator, device):
    X, y = spirals
    with pytest.raises(ValueError, match=rf"device='{device}' .*available: cpu"):
        estimator(cluster="cluster", device=device, **FAST).fit(X, y)


# The target is standardized internally (mean and sd of fit), predictions
# and random effects un-scaled: a target times 1e6 or offset by 1e6 is fit as
# well as y itself.
@pytest.mark.parametrize(("scale", "shift"), [(1e6, 0.0), (1.0, 1e6), (1e30, 1e31)])
def test_regressor_fits_a_target_of_any_scale_or_offset(scale, shift):
    X, y = _mixed_data()
    # 10 epochs (60 batches): the hidden-layer slopes make such a short fit
    # good (without them, the default since issue 18, R² is 0.49 after 30
    # epochs and 0.96 after the default "auto" 334).
    params = {"cluster": "site", "max_epochs": 10, "lr": 1e-2, "random_state": 0,
              "nonlinear_slopes": True}  # fmt: skip
    plain = ARMEDRegressor(**params).fit(X, y)
    moved = ARMEDRegressor(**params).fit(X, scale * y + shift)
    r2, r2_moved = plain.score(X, y), moved.score(X, scale * y + shift)
    assert r2 > 0.9
    assert abs(r2_moved - r2) < 1e-3, (r2, r2_moved)
    effects = plain.random_effects_.to_numpy()
    error = np.abs(moved.random_effects_.to_numpy() / scale - effects).max()
    assert error < 1e-3 * np.abs(effects).max(), error


def test_predictions_do_not_depend_on_the_batch_they_come_in():
    # At float32 precision: scikit-learn's check_methods_subset_invariance
    # asks for 1e-7, below one float32 rounding of predictions near 2.
    X, y = _mixed_data()
    reg = ARMEDRegressor(cluster="site", **FAST).fit(X, y)
    full = reg.predict(X)
    parts = np.concatenate(
        [reg.predict(X.iloc[i : i + 7]) for i in range(0, len(X), 7)]
    )
    np.testing.assert_allclose(parts, full, rtol=1e-6, atol=1e-6)
    Xs, ys = make_spirals(1, n_clusters=3, n_per_cluster=30, random_state=0)
    clf = ARMEDClassifier(cluster="cluster", **FAST).fit(Xs, ys)
    parts = [clf.predict_proba(Xs.iloc[i : i + 7]) for i in range(0, len(Xs), 7)]
    np.testing.assert_allclose(
        np.vstack(parts), clf.predict_proba(Xs), rtol=1e-6, atol=1e-6
    )


def test_fits_in_threads_equal_sequential_fits(spirals):
    from concurrent.futures import ThreadPoolExecutor

    X, y = spirals

    def fit_predict(_):
        clf = ARMEDClassifier(cluster="cluster", max_epochs=3, random_state=0)
        return clf.fit(X, y).predict_proba(X)

    sequential = fit_predict(None)
    state = torch.random.get_rng_state()
    with ThreadPoolExecutor(4) as pool:
        threaded = list(pool.map(fit_predict, range(4)))
    assert torch.equal(torch.random.get_rng_state(), state)  # global RNG untouched
    for proba in threaded:
        np.testing.assert_array_equal(proba, sequential)


def _family(task, seed, n_clusters=6, n_per=80, effect="intercept"):
    """Linear fixed effects plus a random intercept (sd 1.5) of each cluster,
    or a slope of x1 that is +1.5 in some clusters and -1.5 in the others."""
    rng = np.random.default_rng(seed)
    cluster = np.repeat(np.arange(n_clusters), n_per)
    x = rng.normal(size=(len(cluster), 2))
    if effect == "intercept":
        eta = x[:, 0] - 0.5 * x[:, 1] + rng.normal(0, 1.5, n_clusters)[cluster]
    else:
        sign = np.resize([1.0, -1.0], n_clusters)[cluster]
        eta = 1.5 * sign * x[:, 0] - 0.5 * x[:, 1]
    if task == "classification":
        y = (rng.uniform(size=len(eta)) < 1 / (1 + np.exp(-2 * eta))).astype(int)
    else:
        y = eta + rng.normal(0, 0.5, len(eta))
    X = pd.DataFrame(
        {"cluster": [f"c{c}" for c in cluster], "x1": x[:, 0], "x2": x[:, 1]}
    )
    test = rng.uniform(size=len(y)) < 0.25
    return X, y, test


def _conventional_mlp(task, X, y):
    from sklearn.neural_network import MLPClassifier, MLPRegressor

    mlp = MLPClassifier if task == "classification" else MLPRegressor
    features = X[["x1", "x2"]].to_numpy()
    return mlp(hidden_layer_sizes=(32, 32), max_iter=300, random_state=0).fit(
        features, y
    )


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize(
    ("task", "effect", "margin"),
    [
        ("classification", "intercept", 0.08),
        ("regression", "intercept", 0.3),
        ("classification", "sign", 0.08),
        ("regression", "sign", 0.3),
    ],
)
def test_random_effects_beat_a_conventional_mlp_on_seen_clusters(task, effect, margin):
    # Held-out rows of the training clusters: each cluster's intercept (or
    # sign of slope) is learnable by ARMED but invisible to an MLP of the
    # features alone (seeds 0-2: margins of 0.13-0.25 / 0.19-0.25 in
    # accuracy, 0.53-0.69 / 0.72-1.14 in R² for intercepts / signs).
    X, y, test = _family(task, seed=0, effect=effect)
    armed = ARMEDClassifier if task == "classification" else ARMEDRegressor
    model = armed(cluster="cluster", random_state=0).fit(X[~test], y[~test])
    conventional = _conventional_mlp(task, X[~test], y[~test])
    ours = model.score(X[test], y[test])
    assert (
        ours >= conventional.score(X[test][["x1", "x2"]].to_numpy(), y[test]) + margin
    )
    if task == "regression" and effect == "intercept":
        # The linear mixed model (statsmodels) is the reference: within 0.05.
        import statsmodels.api as sm

        exog = sm.add_constant(X[["x1", "x2"]].to_numpy())
        fit = sm.MixedLM(
            y[~test], exog[~test], groups=X["cluster"][~test].to_numpy()
        ).fit()
        effects = X["cluster"][test].map(lambda c: fit.random_effects[c].iloc[0])
        prediction = exog[test] @ fit.fe_params + effects.to_numpy()
        reference = 1 - np.mean((y[test] - prediction) ** 2) / np.var(y[test])
        assert ours >= reference - 0.05


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
@pytest.mark.parametrize("task", ["classification", "regression"])
def test_unseen_clusters_predicted_as_well_as_by_a_conventional_mlp(task):
    # Whole clusters held out: their intercepts cannot be known, so the best
    # is the fixed effects; ARMED's Z-predictor path must not lose to an MLP
    # (seeds 0-2: ARMED - MLP from -0.004 to +0.11).
    X, y, _ = _family(task, seed=0, n_clusters=9, n_per=60)
    unseen = X["cluster"].isin(["c0", "c4", "c8"]).to_numpy()
    armed = ARMEDClassifier if task == "classification" else ARMEDRegressor
    model = armed(cluster="cluster", random_state=0).fit(X[~unseen], y[~unseen])
    conventional = _conventional_mlp(task, X[~unseen], y[~unseen])
    theirs = conventional.score(X[unseen][["x1", "x2"]].to_numpy(), y[unseen])
    assert model.score(X[unseen], y[unseen]) >= theirs - 0.03


def _family_benchmark():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).parents[2] / "benchmarks" / "bench_armed_family.py"
    spec = importlib.util.spec_from_file_location("bench_armed_family", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_family_benchmark_draws_the_structure_it_claims():
    bench = _family_benchmark()
    X, _, effects = bench.make_problem("imbalanced 10..2000", "regression", seed=0)
    assert sorted(X["cluster"].value_counts()) == [10, 40, 150, 600, 2000]
    X, _, effects = bench.make_problem("200 clusters", "classification", seed=0)
    sizes = X["cluster"].value_counts()
    assert len(sizes) == 200 and sizes.min() >= 10 and sizes.max() <= 15
    _, _, effects = bench.make_problem("sign-changing slope", "regression", seed=0)
    assert set(np.abs(effects["u1"])) == {1.5} and len(set(effects["u1"])) == 2
    X, _, _ = bench.make_problem("3 clusters", "regression", seed=0)
    train, seen, unseen = bench.split(X, seed=0)
    assert X["cluster"][unseen].nunique() == 1  # 30 % of 3 clusters, at least 1
    assert set(X["cluster"][seen]) == set(X["cluster"][train])
    assert not (train & seen).any() and not (train & unseen).any()


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_family_benchmark_quick_run_scores_every_model():
    bench = _family_benchmark()
    cfg = bench.parse_args(["--quick", "--repeats", "1", "--tasks", "regression",
                            "--scenarios", "random intercepts"])  # fmt: skip
    results = bench.run(cfg)
    (run,) = results["regression"]["random intercepts"]
    assert set(bench.MODELS) <= set(run)
    # GPBoost is optional: without it its cells say so instead of a score.
    scored = [m for m in bench.MODELS if run[m]["seen"] != "not installed"]
    assert set(bench.MODELS) - set(scored) <= {"GPBoost"}
    assert all(np.isfinite(run[m]["seen"]) for m in scored)
    lines = bench.report(results, cfg, seconds=1.0)
    rows = [line for line in lines if line.startswith("| random intercepts |")]
    assert len(rows) == 4  # seen and unseen scores, variances, fixed effects
    assert run["truth"][0] > 0.3  # intercepts of sd 1


def test_family_benchmark_runs_only_the_models_asked_for():
    bench = _family_benchmark()
    mixed = "mixed model (statsmodels)"
    cfg = bench.parse_args(["--quick", "--repeats", "1", "--tasks", "regression",
                            "--scenarios", "random slopes",
                            "--models", f"{mixed},GPBoost"])  # fmt: skip
    results = bench.run(cfg)
    (run,) = results["regression"]["random slopes"]
    assert {m for m in bench.MODELS if run[m]} <= {mixed, "GPBoost"}
    # Same data whatever else runs: another runner does not change the mixed model.
    other = bench.parse_args(["--quick", "--models", f"MLP,{mixed}"])
    more = bench.run_problem("random slopes", "regression", 0, other)
    assert np.isfinite(more["MLP"]["seen"])
    for part in ("seen", "unseen"):
        assert run[mixed][part] == more[mixed][part]
    lines = bench.report(results, cfg, 1.0)
    header = next(line for line in lines if "| scenario" in line)
    assert header == f"| scenario | {mixed} | GPBoost |"
    with pytest.raises(SystemExit):
        bench.parse_args(["--models", "MLP,XGBoost"])


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, [1e-3, 1e-2]),
        ({"random_effect_lr": None}, [1e-3]),
        ({"random_effect_lr": 0.5, "lr": 0.1}, [0.1, 0.5]),
        # A group of the user's that sets lr keeps it.
        ({"optimizer__param_groups": [("random_effect.*", {"lr": 0.3})]}, [0.3, 1e-3]),
    ],
)
def test_random_effects_have_their_own_learning_rate(spirals, params, expected):
    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", **{**FAST, "max_epochs": 1, **params})
    groups = clf.fit(X, y).optimizer_.param_groups
    groups = [g for g in groups if g.get("name") != "adversary"]
    assert [g["lr"] for g in groups] == pytest.approx(expected)
    effect = {id(p) for p in clf.module_.random_effect.parameters()}
    members = [{id(p) in effect for p in g["params"]} for g in groups]
    if len(groups) == 1:
        assert members == [{True, False}]
    else:  # one group holds exactly the random effects
        assert sorted(members, key=sorted) == [{False}, {True}]


def _probe_share(model, X):
    """Mean |d σ(fixed-effects output) / d x| of the probes over the true features."""
    data = model.get_dataset(X).X
    x = torch.tensor(data["features"], requires_grad=True)
    out = model.module_.eval()(x, torch.as_tensor(data["cluster"]))[1]
    torch.sigmoid(out).sum().backward()
    g = x.grad.abs().mean(axis=0).numpy()
    return g[2:].mean() / g[:2].mean()


@pytest.mark.slow
def test_confounded_probes_lean_less_on_armed():
    # The ARMED paper's probe experiment (its Table 2): with the authors'
    # confounding (class shares' sd 0.5), a conventional network gives the
    # probes x3, x4 about as much weight as the spirals' coordinates, ARMED's
    # fixed-effects part far less. Measured over seeds 0-7 at 150 points per
    # cluster: ARMED/conventional 0.22-0.86, geometric mean 0.40.
    ratios = []
    for seed in (0, 1):
        X, y = make_spirals(3, n_per_cluster=150, confound_sd=0.5, random_state=seed)
        train = X.index % 10 < 7
        shares = []
        for params in (
            {
                "random_intercept": False,
                "nonlinear_slopes": False,
                "adversary_weight": 0.0,
            },
            {},
        ):
            model = ARMEDClassifier.from_paper(
                cluster="cluster", max_epochs=30, random_state=seed, **params
            ).fit(X[train], y[train])
            shares.append(_probe_share(model, X[~train]))
        ratios.append(shares[1] / shares[0])
    assert max(ratios) < 1.0, ratios
    assert np.exp(np.mean(np.log(ratios))) < 0.7, ratios


def test_confound_sd_spreads_the_class_shares():
    shares = {}
    for sd in (0.1, 0.5):
        X, y, params = make_spirals(
            3,
            n_per_cluster=200,
            n_clusters=40,
            confound_sd=sd,
            random_state=0,
            return_cluster_params=True,
        )
        observed = 1 - y.groupby(X["cluster"]).mean().reindex(params.index)
        np.testing.assert_allclose(observed, params["rho"], atol=0.5 / 200)
        shares[sd] = params["rho"].std()
        assert np.corrcoef(X["x3"], y)[0, 1] < 0
    assert 0.06 < shares[0.1] < 0.14
    assert shares[0.5] > 0.2  # clipped to [0.1, 0.9]: below 0.5
