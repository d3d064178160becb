"""ARMED's validation loss, the criterion of skorch's early stopping."""

import numpy as np
import pytest
import torch
from skorch.callbacks import EarlyStopping
from skorch.dataset import ValidSplit
from torch.nn import functional as F

from orthokit.datasets import make_spirals
from orthokit.mixed import ARMEDClassifier


@pytest.fixture(scope="module")
def spirals():
    return make_spirals(1, n_clusters=4, n_per_cluster=40, random_state=0)


def test_validation_loss_leaves_out_the_adversarial_term(spirals):
    torch.set_num_threads(1)
    X, y = spirals
    clf = ARMEDClassifier(cluster="cluster", max_epochs=3, random_state=0)
    clf.fit(X, y)
    data = clf.get_dataset(X, y)
    clf.module_.eval()
    with torch.no_grad():
        y_pred = clf.infer(data.X)
        valid = clf.get_loss(y_pred, data.y, X=data.X, training=False).item()
        train = clf.get_loss(y_pred, data.y, X=data.X, training=True).item()
        adversary = F.cross_entropy(y_pred[2], torch.as_tensor(data.X["cluster"]))
    assert adversary.item() > 0.5  # the term left out is not negligible
    assert train == pytest.approx(valid - clf.adversary_weight * adversary.item())


def test_early_stopping_reads_a_nonnegative_validation_loss(spirals):
    # The data terms and the KL are nonnegative; with the adversarial term
    # the validation loss went negative as the adversary failed.
    torch.set_num_threads(1)
    X, y = spirals
    clf = ARMEDClassifier(
        cluster="cluster",
        max_epochs=6,
        adversary_weight=2.0,
        train_split=ValidSplit(0.25, random_state=0),
        callbacks=[EarlyStopping(patience=3, load_best=True)],
        random_state=0,
    ).fit(X, y)
    losses = np.asarray(clf.history[:, "valid_loss"])
    assert np.all(np.isfinite(losses)) and np.all(losses >= 0)
    assert clf.predict(X).shape == y.shape
