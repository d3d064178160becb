"""Behaviour shared by every estimator that takes protected columns inside ``X``."""

import numpy as np
import pandas as pd
from sklearn.base import TransformerMixin

from orthokit._dask import is_dask_collection, map_row_blocks
from orthokit._linalg import subtract_projection
from orthokit._protected import ProtectedColumns, check_array_like, check_finite
from orthokit._sklearn import check_is_fitted, validate_data


class ProtectedColumnsMixin:
    """Split ``X`` into encoded protected columns and features, with bookkeeping.

    Estimators using it have a ``protected`` parameter. Fitting stores the
    fitted :class:`~orthokit._protected.ProtectedColumns` as ``protected_``
    plus scikit-learn's ``n_features_in_`` and ``feature_names_in_``.
    """

    def _split_protected(
        self, X, *, reset, min_samples=1, categories=None, check_features=True
    ):
        """Validate ``X`` and return ``(S, source, columns)``.

        ``source[:, columns]`` are the non-protected features (no copy for a
        float ndarray); ``S`` the encoded protected columns in float64. With
        ``check_features=False`` a float ndarray is not checked for NaN and
        infinity: the caller must check its own reductions of it.
        """
        if not reset and self._is_plain_numeric(X, min_samples):
            # The lean path of streaming (partial_fit with single rows): the same
            # checks and results as below, without the per-column dispatch of
            # frames and scikit-learn's feature-name machinery.
            protected = self.protected_
            S = X[:, protected.protected_index_].astype(np.float64)
            check_finite(S, protected.encoded_names_, "protected")
            source, columns = protected.features(X, check=check_features)
            return S, source, columns
        X = check_array_like(X)
        if reset and self.protected is None:
            raise ValueError(
                f"{type(self).__name__} needs protected=[...]: the names or positions "
                "of the protected columns of X."
            )
        validate_data(self, X, skip_check_array=True, reset=reset)
        if X.shape[0] < min_samples:
            raise ValueError(
                f"X has {X.shape[0]} sample(s), but at least {min_samples} are "
                f"required by {type(self).__name__}."
            )
        if reset:
            if categories is None:
                categories = getattr(self, "categories", None)
            self.protected_ = ProtectedColumns(
                self.protected, categories=categories
            ).fit(X)
            if not self.protected_.feature_index_:
                raise ValueError(
                    f"every column of X is protected (n_features={X.shape[1]}); there "
                    "are no features left to correct."
                )
        S, _ = self.protected_.split(X, numeric_features=False)
        source, columns = self.protected_.features(X, check=check_features)
        return S, source, columns

    def _is_plain_numeric(self, X, min_samples):
        """Whether ``X`` is a numeric array matching a fit without names or levels."""
        return (
            type(X) is np.ndarray
            and X.ndim == 2
            and X.dtype.kind in "fiu"
            and X.shape[0] >= max(min_samples, 1)
            and X.shape[1] == getattr(self, "n_features_in_", -1)
            and not hasattr(self, "feature_names_in_")
            and not self.protected_.categories_
        )

    def _encode_target(self, y, n_samples, *, reset):
        """Encode ``y`` like a protected column (one-hot for class labels)."""
        if y is None:
            raise ValueError(
                "y is required when preserve_target=True: the target is kept out of "
                "the correction."
            )
        if isinstance(y, pd.Series):
            y_frame = y.to_frame(name=y.name if y.name is not None else "y")
        elif isinstance(y, pd.DataFrame):
            y_frame = y
        else:
            y = np.asarray(y)
            y_frame = pd.DataFrame(y if y.ndim == 2 else {"y": y})
        if len(y_frame) != n_samples:
            raise ValueError(
                f"y has {len(y_frame)} rows but X has {n_samples}; they must match."
            )
        if reset:
            self.target_ = ProtectedColumns(None, argument="y").fit(y_frame)
        return self.target_.split(y_frame, numeric_features=False)[0]

    def _output_names(self, keep_protected):
        names = self.protected_.feature_names_
        if keep_protected:
            names = names + self.protected_.encoded_names_
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
        return self._transform(*self._split_protected(X, reset=False))

    def _transform(self, S, source, columns):
        n_features = len(self.protected_.feature_index_)
        out = np.empty(
            (S.shape[0], n_features + (S.shape[1] if self.keep_protected else 0)),
            dtype=source.dtype,
        )
        subtract_projection(
            source,
            S,
            self.protected_mean_,
            self.coef_,
            out=out[:, :n_features],
            columns=columns,
        )
        if self.keep_protected:
            out[:, n_features:] = S
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
        check_is_fitted(self)
        if input_features is not None and list(map(str, input_features)) != (
            self.protected_.input_names_
        ):
            raise ValueError("input_features is not equal to the names seen in fit.")
        return self._output_names(self.keep_protected)
