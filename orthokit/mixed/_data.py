"""How ARMED nets read their data: ``X`` and ``y`` through the input layer.

``X`` has a cluster column (:class:`~orthokit._inputs._cluster.ClusterColumn`)
or is a mapping of the cluster labels and inputs of any shape
(:class:`~orthokit._inputs._cluster_key.ClusterKey`); skorch receives the
encoded dict ``{"features": float32, "cluster": int64}`` through
``get_dataset``, and its training batches through ``get_iterator``.
"""

from collections.abc import Mapping

import numpy as np
from scipy.sparse import issparse
from skorch.utils import is_dataset

from orthokit._inputs import check_float32_range
from orthokit._inputs._cluster import ClusterColumn
from orthokit._inputs._cluster_key import ClusterKey
from orthokit._inputs._frames import as_table
from orthokit._sklearn import (
    check_is_fitted,
    validate_data,
)


class ARMEDData:
    """The data half of :class:`~orthokit.mixed._base.ARMEDBase` (a mixin)."""

    def _read_inputs(self, X, y, *, reset):
        """Read ``X`` (and ``y``) through the input layer: skorch's dict input.

        ``X`` has a cluster column (:class:`ClusterColumn`) or is a mapping of
        the cluster labels and inputs of any shape (:class:`ClusterKey`).
        Returns ``({"features": float32, "cluster": int64}, target)``, the
        features of shape ``(n_samples, *input_shape_)``; with ``reset`` the
        cluster column or key, its labels, the features' names and shape are
        learned. Unseen labels get the index ``-1`` (random effects from the
        Z-predictor, or none).
        """
        if isinstance(X, Mapping) and not issparse(X):  # a dok matrix is a dict
            table, spec_type = X, ClusterKey
            for name in ("n_features_in_", "feature_names_in_"):
                if reset and hasattr(self, name):  # no columns to count or name
                    delattr(self, name)
        else:
            table, spec_type = as_table(X), ClusterColumn
            validate_data(self, table.native, skip_check_array=True, reset=reset)
        if reset:
            if self.cluster is None:
                raise ValueError(
                    f"{type(self).__name__} needs cluster=...: the name or position "
                    "of the cluster column of X."
                )
            if spec_type is ClusterKey:
                n_samples = len(next(iter(X.values()), ()))
            else:
                n_samples = table.shape[0]
            if n_samples < 2:
                raise ValueError(
                    f"X has {n_samples} sample(s), but at least 2 are required "
                    f"by {type(self).__name__}."
                )
            self._cluster_spec_ = spec_type(self.cluster).fit(table)
            self.cluster_column_ = self._cluster_spec_.name_
            self.clusters_ = self._cluster_spec_.clusters_
            self.n_clusters_ = len(self.clusters_)
            self.effect_feature_names_ = np.asarray(
                self._cluster_spec_.feature_names_, dtype=object
            )
            self.input_shape_ = getattr(
                self._cluster_spec_, "input_shape_", (len(self.effect_feature_names_),)
            )
        spec = self._cluster_spec_
        if type(spec) is not spec_type:
            raise TypeError(
                f"{type(self).__name__} was fit on X "
                + ("as a mapping" if isinstance(spec, ClusterKey) else "with columns")
                + f"; got {type(X).__name__}."
            )
        cluster = spec.codes(table)
        if (cluster < 0).any() and (y is not None or self.unseen_clusters == "error"):
            unseen = sorted({str(v) for v in spec.labels(table)[cluster < 0]})[:5]
            raise ValueError(
                f"cluster column {spec.name_!r} has labels {unseen} not seen in fit"
                + (
                    "; their random effects cannot be added by further training."
                    if y is not None
                    else " and unseen_clusters='error'. Set unseen_clusters="
                    "'z_predictor' (soft memberships) or 'fixed' (fixed effects "
                    "only) to predict on them."
                )
            )
        self._check_z_predictor(cluster, y)
        source, columns = spec.features(table)
        features = source[:, columns]
        if features.ndim == 2:
            check_float32_range(features, spec.feature_names_, "X")
        data = {"features": features.astype(np.float32), "cluster": cluster}
        if y is None:
            return data, None
        return data, self._encode_target(y, len(cluster), reset=reset)

    def _check_z_predictor(self, cluster, y):
        """Raise if unseen clusters need a Z-predictor that fit did not train.

        (``unseen_clusters="z_predictor"`` set after a fit with another
        value: an error, not silently the fixed effects.)
        """
        module = getattr(self, "module_", None)
        if (
            y is None
            and self.unseen_clusters == "z_predictor"
            and getattr(module, "random_effect", None) is not None
            and module.z_predictor is None
            and (cluster < 0).any()
        ):
            raise ValueError(
                "unseen_clusters='z_predictor' was set after a fit that trained "
                "no Z-predictor; refit to train one, or set unseen_clusters="
                "'fixed' to predict unseen clusters by the fixed effects."
            )

    def get_dataset(self, X, y=None):
        """Hand skorch the encoded ``X`` (and ``y``) as a dict dataset.

        Parameters
        ----------
        X : DataFrame, array-like, mapping or skorch Dataset
            A mapping with exactly the keys ``"features"`` and ``"cluster"``
            holds encoded arrays (unless ``cluster="cluster"``); any other
            holds the cluster labels and the inputs.
        y : array-like or None

        Returns
        -------
        dataset : skorch Dataset
        """
        encoded = (
            isinstance(X, Mapping)
            and set(X) == {"features", "cluster"}
            and self.cluster != "cluster"
        )
        if is_dataset(X) or encoded:
            return super().get_dataset(X, y)
        cached = getattr(self, "_fit_inputs_", None)
        if cached is not None and cached[0] is X and cached[1] is y:
            return super().get_dataset(*cached[2:])
        check_is_fitted(self, "_cluster_spec_")
        return super().get_dataset(*self._read_inputs(X, y, reset=False))

    def get_split_datasets(self, X, y=None, **fit_params):
        """Split as skorch does and remember the training size (for the KL).

        Returns
        -------
        dataset_train, dataset_valid : skorch Datasets
        """
        dataset_train, dataset_valid = super().get_split_datasets(X, y, **fit_params)
        self.n_train_samples_ = len(dataset_train)
        return dataset_train, dataset_valid

    def get_iterator(self, dataset, training=False):
        """Shuffle training batches unless ``iterator_train__shuffle`` says not.

        Returns
        -------
        iterator : TensorBatches or DataLoader
        """
        if not training:
            return super().get_iterator(dataset, training=False)
        options = self.get_params_for("iterator_train")
        options.setdefault("shuffle", True)
        options.setdefault("batch_size", self.batch_size)
        options.setdefault("generator", getattr(self, "_generator_", None))
        effect = self.module_.random_effect
        if effect is not None:
            effect.generator = getattr(self, "_device_generator_", None)
        return self.iterator_train(dataset, **options)
