"""OrthogonalProjector: residualize features on protected attributes (least squares)."""

import numpy as np
from sklearn.base import BaseEstimator

from orthokit._base import ProtectedColumnsMixin, ResidualizerMixin
from orthokit._dask import (
    compute_relayed,
    head,
    is_dask_collection,
    placed,
    protected_levels,
    relayed,
    row_blocks,
)
from orthokit._groups import EmptyLevels, GroupMoments
from orthokit._inputs import (
    ProtectedColumns,
    fit_guard,
    protected_names,
    read_design,
    read_target,
)
from orthokit._linalg import Moments, solve_gram, stream_pivots
from orthokit._sklearn import HasMethods, _fit_context
from orthokit.preprocessing._stream import nonfinite_columns, reject_chunk

#: Parameters a fit is built on: changing one between partial_fit calls is an
#: error.
_STREAM_PARAMETERS = ("protected", "categories", "preserve_target", "basis")


class OrthogonalProjector(ProtectedColumnsMixin, ResidualizerMixin, BaseEstimator):
    """Remove from every feature its linear dependence on protected columns.

    Each non-protected column ``f`` of ``X`` is regressed on the centred protected
    columns ``S - mean(S)`` and replaced by its residual ``f - (S - mean(S)) B``.
    On the training data the residuals are exactly orthogonal to the centred
    protected columns (their correlation with every protected column is zero to
    rounding); new data is corrected with the training mean and coefficients.
    Feature means are kept, so corrected features stay interpretable.

    The fit uses centred sufficient statistics, so :meth:`partial_fit` over
    chunks gives the same coefficients as one :meth:`fit` to rounding.

    Parameters
    ----------
    protected : str, int or list of str or int
        Names (for data frames) or positions of the protected columns of ``X``.
        Numeric columns are used as they are; boolean, categorical, string and
        object columns are one-hot encoded with the first level dropped.
    keep_protected : bool, default=False
        Append the (encoded) protected columns to the output instead of
        dropping them.
    categories : dict, default=None
        Levels of categorical protected columns by name, the first being the
        reference level dropped from the encoding. Needed for
        :meth:`partial_fit` when the first chunk does not show every level;
        by default levels are learned from the data in :meth:`fit`.
    preserve_target : bool, default=False
        Regress the features on the protected columns *and* ``y`` during fit,
        but subtract only the protected part, so that differences between
        groups that are explained by the target survive (the trick of
        metadata normalization for confounders correlated with the label).
        ``y`` is needed in fit only, not in transform.
    basis : transformer, default=None
        A scikit-learn transformer applied to the encoded protected columns
        before the correction (``SplineTransformer``,
        ``PolynomialFeatures(interaction_only=True)``, a ``ColumnTransformer``
        selecting the encoded columns by name): the features are then
        residualized on its output, so that whatever is linear in the basis
        (a curve in age, an age by sex interaction) is removed exactly.
        A clone is fitted once, in :meth:`fit` (in :meth:`partial_fit`, on
        the first chunk: give ``SplineTransformer`` explicit ``knots`` so that
        the first chunk does not fix a too-narrow range). ``None`` uses the
        encoded columns as they are.

    Attributes
    ----------
    coef_ : ndarray of shape (n_protected_encoded, n_features_out)
        Coefficients of each corrected feature on the encoded protected columns
        (on the basis columns, with a ``basis``).
    protected_mean_ : ndarray of shape (n_protected_encoded,)
        Training means of the encoded protected columns (of the basis columns,
        with a ``basis``).
    basis_ : transformer
        The fitted clone of ``basis`` (only with a ``basis``).
    target_coef_ : ndarray of shape (n_target_encoded, n_features_out)
        Coefficients on the target (only with ``preserve_target=True``).
    rank_ : int
        Rank of the centred regressors; below their number when protected
        columns are collinear (a warning is raised and a minimum-norm solution
        is used).
    n_samples_seen_ : int
        Number of rows used so far.
    protected_ : ProtectedColumns
        The resolved protected columns: positions, categories and encoded names.
    n_features_in_ : int
        Number of columns of ``X`` seen in fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names of ``X`` seen in fit, when they are all strings.

    See Also
    --------
    RecursiveResidualizer : The same correction by recursive least squares, with
        forgetting for drifting streams.

    Notes
    -----
    The coefficients solve ``(S̃ᵀS̃) B = S̃ᵀF`` with ``S̃`` the centred protected
    columns, by Cholesky on the correlation-scaled Gram matrix. Constant
    protected columns are rejected; collinear ones give a warning and the
    minimum-norm solution (the fitted projection is unique either way).

    Every column enters the statistics as ``x * 2**a - c``: an exact power of
    two fixed by the range of the first chunk (so that no sum overflows, even
    for values of 1e308, and subnormal values are brought to normal ones) and
    a pivot near the first chunk's mean (so that an offset of 1e15 costs no
    more digits than exact least squares). Each chunk's statistics are
    computed and checked before they are merged: a chunk with NaN, infinity
    or finite values whose sums overflow at the stream's scale raises a
    ValueError and leaves every attribute exactly as it was. Coefficients too
    large for float64 (protected columns 1e300 times smaller than the
    features) are an error.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from orthokit.preprocessing import OrthogonalProjector
    >>> rng = np.random.default_rng(0)
    >>> sex = rng.choice(["F", "M"], size=200)
    >>> X = pd.DataFrame({"sex": sex, "income": rng.normal(size=200) + (sex == "M")})
    >>> proj = OrthogonalProjector(protected=["sex"]).set_output(transform="pandas")
    >>> Xt = proj.fit_transform(X)
    >>> list(Xt.columns)
    ['income']
    >>> male = (sex == "M").astype(float)
    >>> bool(abs(np.corrcoef(Xt["income"], male)[0, 1]) < 1e-12)
    True
    """

    _parameter_constraints: dict = {
        "protected": [list, tuple, str, "array-like", int, None],
        "keep_protected": ["boolean"],
        "categories": [dict, None],
        "preserve_target": ["boolean"],
        "basis": [HasMethods(["fit", "transform"]), None],
    }

    #: Parameters recorded by a fit (ConceptEraser shares _partial_fit).
    _stream_parameter_names = _STREAM_PARAMETERS

    def __init__(
        self,
        protected=None,
        *,
        keep_protected=False,
        categories=None,
        preserve_target=False,
        basis=None,
    ):
        self.protected = protected
        self.keep_protected = keep_protected
        self.categories = categories
        self.preserve_target = preserve_target
        self.basis = basis

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the coefficients of the features on the protected columns.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and protected columns.
        y : array-like of shape (n_samples,), default=None
            Target; used only with ``preserve_target=True``.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        with fit_guard(self, stream=_STREAM_PARAMETERS):
            if is_dask_collection(X):
                return self._fit_dask(X, y)
            self._partial_fit(X, y, strict=True, reset=True)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def fit_transform(self, X, y=None):
        """Fit to ``X`` and return it corrected, validating ``X`` only once.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and protected columns.
        y : array-like of shape (n_samples,), default=None
            Target; used only with ``preserve_target=True``.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            Corrected features, as :meth:`transform` returns them.
        """
        with fit_guard(self, stream=_STREAM_PARAMETERS):
            if is_dask_collection(X):
                return self._fit_dask(X, y).transform(X)
            return self._transform(self._partial_fit(X, y, strict=True, reset=True))

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Update the fit with one more chunk of rows.

        Fitting chunk by chunk gives the same result as one :meth:`fit` on all
        rows, to rounding. Until the rows seen outnumber the encoded protected
        columns and every protected column varies, the coefficients are not
        estimated yet and :meth:`transform` raises ``NotFittedError``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and protected columns, with the columns of the first chunk.
        y : array-like of shape (n_samples,), default=None
            Target; used only with ``preserve_target=True``.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        self._partial_fit(X, y, strict=False)
        return self

    def _read(self, X, y, *, reset, target=None, **kwargs):
        # NaN or infinity in the features would reach the column sums of the
        # moments, so the fit checks those instead of a pass of its own.
        target = self.preserve_target if target is None else target
        return read_design(
            self, X, y, reset=reset, check_features=False,
            groups=not self.preserve_target, target=target, stack=True, **kwargs,
        )  # fmt: skip

    def _partial_fit(self, X, y, strict, reset=None):
        """Add a chunk to the statistics, solve; return the validated design.

        The chunk's statistics are computed and checked before anything is
        replaced; a rejected chunk (NaN, infinity, sums that overflow) raises
        a ValueError and leaves every attribute as it was.
        """
        if reset is None:
            reset = not hasattr(self, "n_samples_seen_")
        with fit_guard(self, reset=reset, stream=self._stream_parameter_names):
            design = self._read(X, y, reset=reset)
            if reset:
                self._set_pivots(design, features=False)
            chunk = self._chunk_moments(design, first=reset)
            merged = chunk if reset else self._moments.merge(chunk)
            self._check_moments(merged, design)
            self._moments = merged
            self._solve(strict)
        return design

    def _set_pivots(self, design, features=True):
        """Fix the exact scales and pivots of every column from the first rows.

        With ``features=False`` those of the features are left to the first
        chunk's pass (:meth:`_chunk_moments`), except for group means.
        """
        self._by_groups = design.codes is not None
        if not self._by_groups:
            self._protected_pivots = stream_pivots(design.S)
        if features or self._by_groups:
            scale, shift = stream_pivots(np.asarray(design.source))
            self._feature_pivots = scale[design.columns], shift[design.columns]
        if self.preserve_target:
            self._target_pivots = stream_pivots(design.target)

    def _chunk_moments(self, design, first=False):
        """Return the statistics of a chunk; the first one fixes the features' pivots.

        Either way the chunk is read once (one pass over ``X`` in row blocks).
        """
        source, columns = design.source, design.columns
        if self._by_groups:
            # The pivots are kept for the feature columns only; source may hold
            # the protected columns too.
            feature_scale = np.ones(source.shape[1])
            feature_shift = np.zeros(source.shape[1])
            feature_scale[columns], feature_shift[columns] = self._feature_pivots
            n_levels = [len(levels) for levels in self.protected_.categories_.values()]
            chunk = GroupMoments.from_data(
                design.codes, n_levels, source, scale=feature_scale,
                shift=feature_shift,
            )  # fmt: skip
            full = not isinstance(columns, slice) or columns != slice(None)
            return chunk.take(columns) if full else chunk
        scale, shift = self._protected_pivots
        S = design.S * scale - shift
        if self.preserve_target:
            scale, shift = self._target_pivots
            S = np.hstack([S, design.target * scale - shift])
        if first:
            chunk, scale, shift = Moments.from_first_chunk(S, source, columns)
            self._feature_pivots = scale, shift
            return chunk
        scale, shift = self._feature_pivots
        return Moments.from_data(S, source, scale=scale, shift=shift, columns=columns)

    def _check_moments(self, moments, design):
        """Raise a ValueError naming the chunk's problem if a moment is not finite."""
        if moments.is_finite():
            return
        if self._by_groups:
            bad_features = nonfinite_columns(moments.feature_sums)
        else:
            bad_protected = nonfinite_columns(moments.mean_s, moments.css)
            if bad_protected.any():
                reject_chunk(
                    design.S,
                    slice(None),
                    self._regressor_names(),
                    bad_protected,
                    argument="protected",
                )
            bad_features = nonfinite_columns(moments.mean_f, moments.csf)
        reject_chunk(
            design.source, design.columns, self.protected_.feature_names_, bad_features
        )

    def _regressor_names(self):
        names = protected_names(self)
        if self.preserve_target:
            names += self.target_.encoded_names_
        return names

    def _block_moments(self, block, y_block=None):
        """Return the checked statistics of one dask row block (runs on workers).

        An empty block (common after filtering) has none.
        """
        if len(block) == 0:
            return None
        design = self._read(block, y_block, reset=False)
        chunk = self._chunk_moments(design)
        self._check_moments(chunk, design)
        return chunk

    def _fit_dask(self, X, y):
        """Fit on a dask array or data frame: block statistics reduced by dask."""
        import dask

        categories = protected_levels(X, self.protected, self.categories)
        # The first rows fix the columns, names, encoding, scales and pivots;
        # blocks are checked against them as they are reduced. The target's
        # levels come from all of it.
        design = self._read(
            head(X), None, reset=True, categories=categories, target=False
        )
        if self.preserve_target:
            levels = read_target(
                np.unique(np.asarray(dask.compute(y)[0])), None, needed_for="with "
                "preserve_target=True"
            )  # fmt: skip
            self.target_ = ProtectedColumns(None, argument="y").fit(levels)
            design.target = self.target_.split(levels, numeric_features=False)[0]
        self._set_pivots(design)
        delayed_moments = [
            dask.delayed(relayed(placed(self._block_moments, X, number)))(
                block, y_block
            )
            for number, (block, y_block) in enumerate(
                row_blocks(X, y if self.preserve_target else None)
            )
        ]
        moments = compute_relayed(delayed_moments, _merge)
        if moments is None:
            raise ValueError("X is empty: every block of the dask collection is empty.")
        if not moments.is_finite():
            raise ValueError(
                "the statistics of X's blocks, each finite, overflow float64 when "
                "added up; rescale the features."
            )
        self._moments = moments
        self._solve(strict=True)
        return self

    def _solve(self, strict):
        self.n_samples_seen_ = int(self._moments.n)
        n_protected = len(protected_names(self))
        names = self._regressor_names()
        try:
            if self.n_samples_seen_ <= len(names):
                raise ValueError(
                    f"X has {self.n_samples_seen_} sample(s) but {len(names)} encoded "
                    "protected (and target) columns: fewer rows than protected "
                    "columns. At least one more row than columns is needed to "
                    "estimate the correction."
                )
            if self._by_groups:
                coef, shares, rank = self._group_coefficients(names)
                scale, shift = np.ones(len(names)), 0.0
            else:
                coef, rank = solve_gram(self._moments.css, self._moments.csf, names)
                scale, shift = self._protected_pivots
                shares = self._moments.mean_s[:n_protected]
        except ValueError as exc:
            if strict:
                raise
            self._not_ready = str(exc)  # partial_fit: wait for more rows
            return
        # Back to the units of the data: f * q ~ (s * p) B, so B_data = p B / q.
        feature_scale = self._feature_pivots[0]
        protected_coef = coef[:n_protected] * scale[:, None] / feature_scale
        if not np.isfinite(protected_coef).all():
            raise ValueError(
                "the coefficients of the features on the protected columns overflow "
                "float64: the protected columns are more than 1e300 times smaller "
                "than the features they explain. Rescale the protected columns."
            )
        self.rank_ = rank
        self.coef_ = protected_coef
        self.protected_mean_ = (shares + shift) / scale
        if self.preserve_target:
            target_scale = self._target_pivots[0]
            self.target_coef_ = (
                coef[n_protected:] * target_scale[:, None] / feature_scale
            )

    def _group_coefficients(self, names):
        """Coefficients of the level indicators from the group statistics."""
        columns = self.protected_.group_columns_
        try:
            return self._moments.coefficients(names, columns)
        except EmptyLevels as exc:
            name = columns[exc.column]
            levels = self.protected_.categories_[name]
            bad = [f"{name}_{levels[j]}" for j in exc.positions]
            raise ValueError(
                f"protected column(s) {bad} are constant: no row has level(s) "
                f"{[levels[j] for j in exc.positions]} of {name!r}; a constant "
                "column carries no information and cannot be regressed out. Drop "
                "the level from categories=, or fit on rows that show it."
            ) from None

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = False
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


def _merge(first, second):
    """Merge the statistics of two blocks, either of which may be empty (None)."""
    if first is None or second is None:
        return second if first is None else first
    return first.merge(second)
