"""Behaviour shared by every estimator that takes protected columns inside ``X``."""

import numpy as np
from sklearn.base import TransformerMixin

from orthokit._dask import is_dask_collection, map_row_blocks
from orthokit._groups import subtract_group_offsets
from orthokit._inputs import check_finite, naming_rows, read_design
from orthokit._inputs._encode import one_hot
from orthokit._linalg import subtract_projection
from orthokit._sklearn import check_is_fitted


class ProtectedColumnsMixin:
    """Split ``X`` into encoded protected columns and features, with bookkeeping.

    Estimators using it have a ``protected`` parameter. Reading ``X`` goes
    through :func:`orthokit._inputs.read_design`, which stores the fitted
    :class:`~orthokit._inputs.ProtectedColumns` as ``protected_`` plus
    scikit-learn's ``n_features_in_`` and ``feature_names_in_``.
    """

    def _split_protected(self, X, *, reset, **kwargs):
        """Validate ``X`` and return ``(S, source, columns)`` (see ``read_design``)."""
        design = read_design(self, X, reset=reset, **kwargs)
        return design.S, design.source, design.columns

    def _output_names(self, keep_protected, input_features=None):
        check_is_fitted(self)
        if input_features is not None and list(map(str, input_features)) != (
            self.protected_.input_names_
        ):
            raise ValueError("input_features is not equal to the names seen in fit.")
        names = self.protected_.feature_names_
        if keep_protected:
            names = names + self.protected_.encoded_names_
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                raise ValueError(
                    f"keep_protected=True would output the column name(s) {repeated} "
                    "twice: a feature is named like an encoded protected level. "
                    "Rename the feature or the level."
                )
        return np.asarray(names, dtype=object)


class ResidualizerMixin(TransformerMixin):
    """``transform`` and ``get_feature_names_out`` of a linear residualizer.

    For estimators (with :class:`ProtectedColumnsMixin`) whose fit sets
    ``protected_mean_`` and ``coef_``: every feature is replaced by
    ``f - (S - protected_mean_) @ coef_`` and the protected columns are dropped
    or, with ``keep_protected=True``, appended in encoded form.
    """

    def transform(self, X):
        """Subtract the protected part of every feature.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Same columns as in fit.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            Corrected features, then the encoded protected columns if
            ``keep_protected=True``. Float32 input stays float32.
        """
        check_is_fitted(
            self,
            "coef_",
            msg="This %(name)s is not fitted yet: "
            + getattr(self, "_not_ready", "call fit or partial_fit first."),
        )
        if is_dask_collection(X):
            names = list(self.get_feature_names_out())
            dtype = X.dtype if getattr(X, "dtype", None) == np.float32 else np.float64
            return map_row_blocks(X, self.transform, len(names), dtype, names)
        groups = getattr(self, "_by_groups", False)
        # The projection checks the features for NaN and infinity in its own
        # pass over them (one read of X, not two); group means do not.
        design = read_design(
            self, X, reset=False, groups=groups, check_features=groups, stack=True
        )
        return self._transform(design, check=not groups)

    def _transform(self, design, check=False):
        n_features = len(self.protected_.feature_index_)
        n_encoded = len(self.protected_.encoded_names_)
        source = design.source
        # Column-major features (a pandas frame's view, a frame's columns)
        # are corrected into column-major output: same layout, block by block.
        strides = getattr(source, "strides", (0, 1))
        order = "F" if strides[0] < strides[1] else "C"
        out = np.empty(
            (design.n_samples, n_features + (n_encoded if self.keep_protected else 0)),
            dtype=source.dtype,
            order=order,
        )
        features = out[:, :n_features]
        if design.codes is None:
            names = self.protected_.feature_names_
            on_nonfinite = None
            if check:

                def on_nonfinite(block, start):
                    with naming_rows(start=start):
                        check_finite(block, names, "X")

            subtract_projection(
                source, design.S, self.protected_mean_, self.coef_,
                out=features, columns=design.columns, on_nonfinite=on_nonfinite,
            )  # fmt: skip
        else:
            n_levels = [len(levels) for levels in self.protected_.categories_.values()]
            subtract_group_offsets(
                design.source, design.codes, self.coef_, self.protected_mean_,
                features, design.columns, n_levels=n_levels,
            )  # fmt: skip
        if self.keep_protected:
            if design.codes is not None:
                out[:, n_features:] = np.hstack(
                    [one_hot(design.codes[:, j], k) for j, k in enumerate(n_levels)]
                )
            else:  # the encoded columns, not their basis expansion
                out[:, n_features:] = (
                    design.S if design.encoded is None else design.encoded
                )
        return out

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Ignored apart from a consistency check with the names seen in fit.

        Returns
        -------
        feature_names_out : ndarray of str
            Non-protected input columns, then the encoded protected columns if
            ``keep_protected=True``.
        """
        return self._output_names(self.keep_protected, input_features)
