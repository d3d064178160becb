"""Behaviour shared by every estimator that takes protected columns inside ``X``."""

import numpy as np
import pandas as pd

from orthokit._protected import ProtectedColumns, check_array_like
from orthokit._sklearn import validate_data


class ProtectedColumnsMixin:
    """Split ``X`` into encoded protected columns and features, with bookkeeping.

    Estimators using it have a ``protected`` parameter. Fitting stores the
    fitted :class:`~orthokit._protected.ProtectedColumns` as ``protected_``
    plus scikit-learn's ``n_features_in_`` and ``feature_names_in_``.
    """

    def _split_protected(self, X, *, reset, min_samples=1, categories=None):
        """Validate ``X`` and return ``(S, source, columns)``.

        ``source[:, columns]`` are the non-protected features (no copy for a
        float ndarray); ``S`` the encoded protected columns in float64.
        """
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
        source, columns = self.protected_.features(X)
        return S, source, columns

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
