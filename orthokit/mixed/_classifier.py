"""ARMEDClassifier: the ARMED net for class labels (one logit or a softmax)."""

import numpy as np
import torch
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets

from orthokit._inputs._target import read_labels
from orthokit.mixed._base import ARMEDBase
from orthokit.mixed._docs import SHARED_ATTRIBUTES, SHARED_PARAMETERS


class ARMEDClassifier(ClassifierMixin, ARMEDBase):
    __doc__ = (
        """Adversarially-regularized mixed-effects network classifier (ARMED).

    A fixed-effects MLP is penalised for encoding cluster membership (an
    adversary reads its hidden activations), while Bayesian random effects
    (intercept, linear and nonlinear slopes) model what is specific to each
    cluster. Seen clusters are predicted with the mixed model, unseen ones
    with random effects averaged over a Z-predictor's soft memberships.
    Binary targets use one logit and BCE, several classes a softmax and
    cross-entropy. Built on skorch: callbacks, ``history_`` and prefixed
    parameters work as in any skorch net. The fixed-effects network may be
    any torch module (``backbone``), e.g. a CNN on images given with their
    cluster labels as a mapping ``X``.

    Parameters
    ----------"""
        + SHARED_PARAMETERS
        + """    classes : array-like or None, default=None
        Every class, for a ``partial_fit`` whose first batch does not show
        them all (as skorch's ``NeuralNetClassifier``); None: those of the
        first ``y``.
"""
        + """
    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)"""
        + SHARED_ATTRIBUTES
        + """
    Notes
    -----
    Every linear layer starts with Glorot-uniform weights and zero biases, as
    the authors' Keras layers do (torch's default leaves the narrow (4, 4, 4)
    network stuck near chance on the spirals in many seeds). Training batches
    are sliced from whole tensors (``iterator_train=TensorBatches``) instead
    of skorch's per-sample ``DataLoader`` collation; the adversary takes its
    step from the same backward pass as the network; Adam and AdamW use
    torch's fused kernel unless ``optimizer__fused`` or ``optimizer__foreach``
    is given; the Z-predictor is trained after the network, in large batches.

    A cluster with a single sample is accepted: its random effects stay near
    their prior (the KL term shrinks them). A single cluster is rejected.
    Labels of mixed types in the cluster column (e.g. ``1`` and ``"1"``)
    raise a TypeError, missing or non-finite labels a ValueError.

    Examples
    --------
    >>> import torch
    >>> from orthokit.datasets import make_spirals
    >>> from orthokit.mixed import ARMEDClassifier
    >>> X, y = make_spirals(simulation=1, n_per_cluster=50, random_state=0)
    >>> clf = ARMEDClassifier(cluster="cluster", max_epochs=2, random_state=0)
    >>> clf = clf.fit(X, y)
    >>> clf.predict_proba(X.head(3)).shape
    (3, 2)
    >>> clf.random_effects_.shape  # mean and sd of 1 + 2 + 32 effects
    (10, 70)
    >>> ARMEDClassifier.from_paper(cluster="cluster").hidden_layer_sizes
    (4, 4, 4)

    Images with their cluster labels, a CNN as the fixed-effects backbone:

    >>> from skorch.helper import SliceDict
    >>> from torch import nn
    >>> from orthokit.datasets import make_cluster_images
    >>> data = make_cluster_images(n_clusters=3, n_per_cluster=20, random_state=0)
    >>> X = SliceDict(images=data.images, cluster=data.cluster)
    >>> cnn = nn.Sequential(
    ...     nn.Conv2d(1, 4, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
    ...     nn.Linear(4 * 7 * 7, 8), nn.ReLU(),
    ... )
    >>> clf = ARMEDClassifier(
    ...     cluster="cluster", backbone=cnn, max_epochs=2, random_state=0
    ... ).fit(X, data.y)
    >>> clf.predict(X[:3]).shape, clf.input_shape_, clf.random_effects_.shape
    ((3,), (1, 16, 16), (3, 18))
    """
    )

    _parameter_constraints: dict = {
        **ARMEDBase._parameter_constraints,
        "classes": ["array-like", None],
    }

    def __init__(self, *, classes=None, **kwargs):
        super().__init__(**kwargs)
        self.classes = classes

    def _default_criterion(self):
        if self._n_outputs == 1:
            return torch.nn.BCEWithLogitsLoss
        return torch.nn.CrossEntropyLoss

    @property
    def _n_outputs(self):
        classes = getattr(self, "classes_", ())
        return len(classes) if len(classes) > 2 else 1

    def _output_names(self):
        return [None] if len(self.classes_) == 2 else list(self.classes_)

    def _logit_for_loss(self, logit):
        return logit[:, 0] if len(self.classes_) == 2 else logit

    def _target_for_loss(self, y):
        return y.float() if len(self.classes_) == 2 else y.long()

    def _encode_target(self, y, n_samples, *, reset):
        """Return class indices (float32 for one logit, int64 for several)."""
        y = read_labels(y, n_samples, type(self).__name__)
        check_classification_targets(y)
        if reset:
            classes = np.unique(y if self.classes is None else self.classes)
            if len(classes) < 2:
                raise ValueError(
                    "y holds a single class; ARMEDClassifier needs samples of at "
                    "least 2 classes."
                )
            self.classes_ = classes
        unknown = ~np.isin(y, self.classes_)
        if unknown.any():
            raise ValueError(f"y has classes {np.unique(y[unknown])} not seen in fit.")
        codes = np.searchsorted(self.classes_, y)
        if len(self.classes_) == 2:
            return codes.astype(np.float32)
        return codes.astype(np.int64)

    def predict_proba(self, X):
        """Class probabilities.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features) or mapping
            Features and the cluster column, or (as in fit) a mapping of the
            cluster labels and the inputs.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
        """
        logits = self._logits(X)
        if len(self.classes_) == 2:
            p = 1.0 / (1.0 + np.exp(-logits[:, 0]))
            return np.column_stack([1.0 - p, p])
        logits -= logits.max(axis=1, keepdims=True)
        expd = np.exp(logits)
        return expd / expd.sum(axis=1, keepdims=True)

    def predict(self, X):
        """Predicted class labels.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features) or mapping
            Features and the cluster column, or (as in fit) a mapping of the
            cluster labels and the inputs.

        Returns
        -------
        y : ndarray of shape (n_samples,)
        """
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]
