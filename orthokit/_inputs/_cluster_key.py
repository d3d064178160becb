"""The cluster of a dict ``X``: labels under one key, inputs of any shape under another.

An image batch (``n x channels x height x width``) has no named columns to
hold a cluster label, so the estimators of clustered data also take ``X`` as a
mapping, as skorch's nets do: ``{"images": array, "site": labels}`` with
``cluster="site"``. skorch's ``SliceDict`` is such a mapping that
scikit-learn can index, so it goes through ``GroupKFold``, ``GridSearchCV``
and ``cross_val_score``. :class:`ClusterKey` reads it as
:class:`~orthokit._inputs._cluster.ClusterColumn` reads a cluster column:
the same label checks and codes, and the inputs as a float32 array of the
shape seen in fit.
"""

from collections.abc import Mapping
from math import prod

import numpy as np
import pandas as pd

from orthokit._inputs._checks import check_finite
from orthokit._inputs._cluster import ClusterColumn
from orthokit._inputs._frames import Table, as_table


def _as_array(values):
    # torch tensors (on any device) without importing torch
    if hasattr(values, "detach") and hasattr(values, "cpu"):
        values = values.detach().cpu().numpy()
    return np.asarray(values)


class ClusterKey(ClusterColumn):
    """Resolve, check and encode the cluster of a mapping ``X``.

    Parameters
    ----------
    cluster : str
        Key of the cluster labels in ``X``; the one other key holds the
        inputs, an array-like (or tensor) of shape ``(n_samples, ...)``.
    argument : str, default="X"
        Name of the argument in error messages.

    Attributes
    ----------
    position_ : int
        0 (the labels are read as a one-column table).
    name_ : str
        The cluster key.
    clusters_ : ndarray of object
        The labels seen in :meth:`fit`, sorted; a label's code is its index.
    input_key_ : str
        Key of the inputs.
    input_shape_ : tuple of int
        Shape of one sample of the inputs.

    Examples
    --------
    >>> import numpy as np
    >>> X = {"images": np.zeros((3, 1, 2, 2)), "site": ["b", "a", "b"]}
    >>> key = ClusterKey("site").fit(X)
    >>> key.clusters_.tolist(), key.codes(X).tolist(), key.input_shape_
    (['a', 'b'], [1, 0, 1], (1, 2, 2))
    >>> source, columns = key.features(X)
    >>> source[:, columns].shape, key.feature_names_[:2]
    ((3, 1, 2, 2), ['images[0]', 'images[1]'])
    """

    def _split(self, X):
        if not isinstance(X, Mapping):
            raise TypeError(
                f"{self.argument} was fit as a mapping of the cluster labels and "
                f"the inputs; got {type(X).__name__}."
            )
        if self.cluster not in X:
            raise ValueError(
                f"{self.argument} has keys {sorted(map(str, X))} but not the "
                f"cluster key {self.cluster!r} (cluster=...)."
            )
        others = [key for key in X if key != self.cluster]
        if len(others) != 1:
            raise ValueError(
                f"{self.argument} must hold the cluster key {self.cluster!r} and "
                f"one key of inputs, got keys {sorted(map(str, X))}."
            )
        labels, inputs = _as_array(X[self.cluster]), _as_array(X[others[0]])
        if labels.ndim != 1 or inputs.ndim < 2 or len(labels) != len(inputs):
            raise ValueError(
                f"{self.argument}[{self.cluster!r}] must be 1-D and "
                f"{self.argument}[{others[0]!r}] of shape (n_samples, ...) with "
                f"as many samples; got shapes {labels.shape} and {inputs.shape}."
            )
        return labels, others[0], inputs

    def _table(self, X):
        if isinstance(X, Table):
            return X
        labels = self._split(X)[0]
        return as_table(pd.DataFrame({str(self.cluster): labels}), self.argument)

    def fit(self, X):
        """Check the keys of ``X``, learn the labels and the inputs' shape.

        Parameters
        ----------
        X : mapping
            The cluster labels under ``cluster``, the inputs under another key.

        Returns
        -------
        self
        """
        if not isinstance(self.cluster, str):
            raise TypeError(
                f"cluster must be the key (str) of the cluster labels in a "
                f"mapping {self.argument}, got {self.cluster!r}."
            )
        labels, self.input_key_, inputs = self._split(X)
        self.position_, self.name_ = 0, self.cluster
        self.input_names_ = [self.cluster]
        self.input_shape_ = tuple(int(d) for d in inputs.shape[1:])
        return self._learn_clusters(self.labels(X))

    @property
    def feature_names_(self):
        """Names of the flattened inputs: ``<key>[<index>]``."""
        return [f"{self.input_key_}[{j}]" for j in range(prod(self.input_shape_))]

    def features(self, X):
        """Return the inputs as float32, checked for shape, NaN and infinity.

        Parameters
        ----------
        X : mapping

        Returns
        -------
        source : ndarray of float32 of shape (n_samples, *input_shape_)
        columns : slice
            All of them (``source[:, columns]``), as
            :meth:`ClusterColumn.features` returns its feature columns.
        """
        _, key, inputs = self._split(X)
        shape = tuple(inputs.shape[1:])
        if key != self.input_key_ or shape != self.input_shape_:
            raise ValueError(
                f"{self.argument}[{key!r}] has samples of shape {shape}, but the "
                f"estimator was fit on {self.argument}[{self.input_key_!r}] of "
                f"shape {self.input_shape_}."
            )
        if inputs.dtype.kind not in "biuf":
            raise ValueError(
                f"{self.argument}[{key!r}] must be numeric, got dtype {inputs.dtype}."
            )
        with np.errstate(over="raise"):
            try:
                values = inputs.astype(np.float32, copy=False)
            except FloatingPointError as exc:
                raise ValueError(
                    f"{self.argument}[{key!r}] has values beyond the range of "
                    "float32 (3.4e38)."
                ) from exc
        check_finite(values.reshape(len(values), -1), self.feature_names_, "X")
        return values, slice(None)
