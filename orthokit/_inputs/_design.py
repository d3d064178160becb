"""The Design: what every estimator reads from ``X`` and ``y``, in one call."""

from dataclasses import dataclass

import numpy as np

from orthokit._inputs._basis import apply_basis, has_basis
from orthokit._inputs._checks import check_finite
from orthokit._inputs._columns import ProtectedColumns
from orthokit._inputs._frames import as_table
from orthokit._inputs._target import read_target
from orthokit._sklearn import validate_data


@dataclass
class Design:
    """Validated numeric input, split into protected columns, features and target.

    Attributes
    ----------
    S : ndarray of shape (n_samples, n_encoded) or None
        Encoded protected columns (float64), expanded by the estimator's
        ``basis`` if it has one; ``None`` when ``codes`` stands for them.
    source : ndarray or ColumnStack
        Holds the features as ``source[:, columns]`` (``X`` itself for a
        float ndarray: no copy; a frame's columns, uncopied, when
        :func:`read_design` is asked to ``stack`` them).
    columns : slice or list of int
    codes : ndarray of int of shape (n_samples, n_protected) or None
        Level codes of the protected columns when all hold labels (group
        means).
    target : ndarray of shape (n_samples, n_target_encoded) or None
        The encoded target, where the estimator asks for it.
    encoded : ndarray of shape (n_samples, n_encoded) or None
        The encoded protected columns before the basis (only with a basis).
    """

    S: np.ndarray | None
    source: object
    columns: slice | list
    codes: np.ndarray | None = None
    target: np.ndarray | None = None
    encoded: np.ndarray | None = None

    @property
    def n_samples(self):
        """Number of rows."""
        return self.source.shape[0]


def read_design(
    estimator,
    X,
    y=None,
    *,
    reset,
    min_samples=1,
    check_features=True,
    categories=None,
    groups=False,
    target=False,
    encode_protected=True,
    stack=False,
):
    """Read ``X`` (and ``y``) for ``estimator``; keep scikit-learn's books.

    With ``reset=True`` the protected columns are resolved and their levels
    learned into ``estimator.protected_`` (and the target's into
    ``estimator.target_``), and ``n_features_in_`` / ``feature_names_in_`` are
    set by scikit-learn's ``validate_data``; with ``reset=False`` ``X`` is
    checked against them.

    Parameters
    ----------
    estimator : BaseEstimator
        Has a ``protected`` parameter (and ``categories`` if it has levels).
    X : array-like, DataFrame, LazyFrame, pyarrow Table
    y : array-like, default=None
    reset : bool
    min_samples : int, default=1
    check_features : bool, default=True
        Check a float ndarray's features for NaN and infinity (a fit that
        checks its sums instead passes ``False``).
    categories : dict, default=None
        Levels to use instead of ``estimator.categories`` (dask: all levels).
    groups : bool, default=False
        Return level codes instead of ``S`` when every protected column
        holds labels (never with a ``basis``, which needs ``S``).
    target : bool, default=False
        Encode ``y`` like a protected column (one-hot for labels).
    encode_protected : bool, default=True
        Read the protected columns; ``False`` reads only the features (a
        model whose predictions need nothing else), and ``S`` is ``None``.
    stack : bool, default=False
        With ``check_features=False``, leave a frame's float features
        uncopied (:meth:`~orthokit._inputs.ProtectedColumns.features`): for a
        caller that reads ``source`` in row blocks, ``source[start:stop]``.

    Returns
    -------
    Design
        With a ``basis`` parameter that is not ``None``, ``S`` is its
        expansion of the encoded protected columns (see
        :func:`~orthokit._inputs._basis.apply_basis`).
    """
    lean = not reset and _is_plain_numeric(estimator, X, min_samples)
    table = X if lean else as_table(X)
    if not lean:
        if reset and estimator.protected is None:
            raise ValueError(
                f"{type(estimator).__name__} needs protected=[...]: the names or "
                "positions of the protected columns of X."
            )
        validate_data(estimator, table.native, skip_check_array=True, reset=reset)
        if table.shape[0] < min_samples:
            raise ValueError(
                f"X has {table.shape[0]} sample(s), but at least {min_samples} are "
                f"required by {type(estimator).__name__}."
            )
    if reset:
        if categories is None:
            categories = getattr(estimator, "categories", None)
        estimator.protected_ = ProtectedColumns(
            estimator.protected, categories=categories
        ).fit(table)
        if not estimator.protected_.feature_index_:
            raise ValueError(
                f"every column of X is protected (n_features={table.shape[1]}); "
                "there are no features left to correct."
            )
    protected = estimator.protected_
    S = codes = None
    if not encode_protected:
        pass  # the protected columns are not read at all
    elif lean:
        # Streaming single rows: the same checks and results without the
        # per-column dispatch and scikit-learn's feature-name machinery.
        S = X[:, protected.protected_index_].astype(np.float64)
        check_finite(S, protected.encoded_names_, "protected")
    elif groups and protected.group_columns_ and not has_basis(estimator):
        codes = protected.group_codes(table)
    else:
        S = protected.split(table, numeric_features=False)[0]
    source, columns = protected.features(
        table, check=check_features, stack=stack and codes is None
    )
    design = apply_basis(estimator, Design(S, source, columns, codes), reset=reset)
    if target:
        y_table = read_target(
            y, source.shape[0], needed_for="when preserve_target=True: the target is "
            "kept out of the correction"
        )  # fmt: skip
        if reset:
            estimator.target_ = ProtectedColumns(None, argument="y").fit(y_table)
        design.target = estimator.target_.split(y_table, numeric_features=False)[0]
    return design


def _is_plain_numeric(estimator, X, min_samples):
    """Whether ``X`` is a numeric array matching a fit without names or levels."""
    return (
        type(X) is np.ndarray
        and X.ndim == 2
        and X.dtype.kind in "fiu"
        and X.shape[0] >= max(min_samples, 1)
        and X.shape[1] == getattr(estimator, "n_features_in_", -1)
        and not hasattr(estimator, "feature_names_in_")
        and not estimator.protected_.categories_
    )
