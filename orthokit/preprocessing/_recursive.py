"""RecursiveResidualizer: streaming residualization by recursive least squares."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator

from orthokit._base import ProtectedColumnsMixin, ResidualizerMixin
from orthokit._dask import (
    is_dask_collection,
    placed,
    protected_levels,
    row_blocks,
)
from orthokit._inputs import fit_guard, protected_names, read_design
from orthokit._linalg import Moments, power_of_two_scale, solve_gram, stream_pivots
from orthokit._rls import rls_init, rls_weighted_update
from orthokit._sklearn import HasMethods, Interval, StrOptions, _fit_context
from orthokit.preprocessing._stream import nonfinite_columns, reject_chunk

#: Parameters a fit is built on: changing one between partial_fit calls is an
#: error.
_STREAM_PARAMETERS = ("protected", "categories", "preserve_target", "delta", "basis")

#: Rows per internal update: bounds the float64 copies of a float32 chunk and
#: keeps the blocks in cache. Results do not depend on it (to rounding).
_BLOCK_ROWS = 16384


class RecursiveResidualizer(ProtectedColumnsMixin, ResidualizerMixin, BaseEstimator):
    """Residualize features on protected columns by recursive least squares.

    The streaming counterpart of :class:`OrthogonalProjector`, after R-MDN:
    every non-protected column ``f`` of ``X`` is regressed on ``m = [1, s]``
    (``s`` the encoded protected columns) by recursive least squares, and
    replaced by ``f - (s - mean(s)) B``. The coefficients ``B`` follow the
    stream through :meth:`partial_fit`; with ``forgetting_factor < 1`` old rows
    are down-weighted geometrically, so the correction tracks a relationship
    that drifts. With ``forgetting_factor=1`` and a small ``delta`` it gives
    the coefficients of :class:`OrthogonalProjector` on all rows seen.

    Parameters
    ----------
    protected : str, int or list of str or int
        Names (for data frames) or positions of the protected columns of ``X``.
        Numeric columns are used as they are; boolean, categorical, string and
        object columns are one-hot encoded with the first level dropped. Their
        levels are fixed by the first chunk: it must hold every level.
    forgetting_factor : float in (0, 1], default=1.0
        Weight ``λ`` kept by the past at each step: a row ``t`` steps old has
        weight ``λ**t``, an effective memory of about ``1 / (1 - λ)`` steps.
    forget_per : {"batch", "sample"}, default="batch"
        What a step is. ``"batch"``: the past is discounted once per batch (per
        :meth:`partial_fit` call, or per ``batch_size`` rows in :meth:`fit`),
        as the R-MDN layer does. ``"sample"``: once per row, as a classic RLS
        filter; the result then does not depend on how the stream is chunked.
    delta : float > 0, default=1e-6
        Ridge regularization of the standardized regressors (worth about
        ``delta`` rows of data; it biases the coefficients by a relative
        ``delta / n_rows``): the state starts at ``R = delta * I``. It is kept
        (``R`` never drops below ``delta * I``) rather than forgotten, see Notes.
        The intercept is shrunk towards the features' mean in the first batch.
    process_noise : float >= 0, default=0.0
        Added to the diagonal of the covariance ``P = R⁻¹`` after every batch
        (R-MDN's ``q``; also per batch with ``forget_per="sample"``): keeps the
        filter responsive. ``0`` keeps the recursion an exact weighted least
        squares.
    batch_size : int, default=None
        Rows per batch in :meth:`fit`; ``None`` takes all of ``X`` as one
        batch. :meth:`partial_fit` takes each call as one batch.
    preserve_target : bool, default=False
        Regress the features on the protected columns *and* ``y``, but subtract
        only the protected part, so that differences between groups explained
        by the target survive. ``y`` is needed in fitting only.
    keep_protected : bool, default=False
        Append the (encoded) protected columns to the output instead of
        dropping them.
    categories : dict, default=None
        Levels of categorical protected columns by name, the first being the
        reference level. Declare them when the first batch of a stream does not
        show every level; by default the first batch fixes the levels.
    basis : transformer, default=None
        A scikit-learn transformer applied to the encoded protected columns
        before the correction (``SplineTransformer``, a ``ColumnTransformer``
        selecting them by name, ...): the features are regressed on its
        output, so that whatever is linear in the basis is removed. A clone
        is fitted on the first batch (give ``SplineTransformer`` explicit
        ``knots`` so that it does not fix a too-narrow range) and applied to
        every later one. ``None`` uses the encoded columns as they are.

    Attributes
    ----------
    coef_ : ndarray of shape (n_protected_encoded, n_features_out)
        Coefficients of each corrected feature on the encoded protected columns
        (on the basis columns, with a ``basis``).
    intercept_ : ndarray of shape (n_features_out,)
        Intercept of the regression (not subtracted: feature means are kept).
    target_coef_ : ndarray of shape (n_target_encoded, n_features_out)
        Coefficients on the target (only with ``preserve_target=True``).
    protected_mean_ : ndarray of shape (n_protected_encoded,)
        Mean of the encoded protected columns (of the basis columns, with a
        ``basis``), weighted like the regression; ``transform`` centres on it.
    basis_ : transformer
        The fitted clone of ``basis`` (only with a ``basis``).
    information_ : ndarray of shape (n_regressors, n_regressors)
        The RLS information matrix ``R`` of the standardized regressors
        ``[1, (s - regressor_offset_) / regressor_scale_]`` (``s`` including
        the target with ``preserve_target=True``).
    covariance_ : ndarray of shape (n_regressors, n_regressors)
        Its inverse ``P``.
    regressor_offset_ : ndarray of shape (n_regressors - 1,)
        Mean of the regressors in the first batch, fixed afterwards.
    regressor_scale_ : ndarray of shape (n_regressors - 1,)
        Their standard deviation in the first batch (1 where it was 0).
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
    OrthogonalProjector : The same correction solved once on all rows.

    Notes
    -----
    After ``t`` steps the state is ``R = Σ λ^(t-i) m_i m_iᵀ + delta * I`` and
    ``B = R⁻¹ Σ λ^(t-i) m_i f_iᵀ``: exponentially weighted ridge regression.
    The recursion of R-MDN lets the ridge decay too (``λ^t delta I``); then a
    protected level that stops occurring leaves ``R`` singular after a few
    thousand rows and its coefficient unbounded, so the ridge is kept here.
    Both agree for ``forgetting_factor=1``.

    The regressors are centred and scaled by the mean and standard deviation
    of the first batch. This changes nothing but conditioning (and the units in
    which ``delta`` penalizes): with raw ``[1, s]``, a protected column with a
    large mean (a year, an income) makes ``R`` nearly singular.

    Updates use the information form ``R <- λR + MᵀM``, ``B <- B + R⁻¹Mᵀ(F -
    MB)``, for any batch size: for the few regressors of a residualizer its
    ``k x k`` inverse costs no more than the covariance (Woodbury) form, and it
    stays accurate where the covariance form's downdate loses digits (single
    rows with a tiny ``delta``, or regressors scaled by a one-row first batch:
    4 digits lost in our tests). The shared core picks the covariance form for
    batches of at most ``k`` rows when called with ``form="auto"``, as the
    torch layer does. All state is float64 and symmetric. The maths lives in
    :func:`orthokit._rls.rls_weighted_update`, shared with the torch R-MDN
    layer. A fitted residualizer pickles with its full state, so a stream can
    be stopped and resumed with the same result as never stopping.

    The features enter the recursion as ``f * 2**a - c``, with an exact power
    of two and a pivot fixed by the first batch, so that values of 1e308 do
    not overflow and an offset of 1e15 costs no digits. Each update is
    computed into new arrays and checked before it replaces the state: a
    batch with NaN, infinity or finite values that overflow raises a
    ValueError and leaves every attribute exactly as it was.

    Examples
    --------
    >>> import numpy as np
    >>> from orthokit.preprocessing import RecursiveResidualizer
    >>> rng = np.random.default_rng(0)
    >>> s = rng.normal(size=(3000, 1))
    >>> slope = np.where(np.arange(3000) < 1500, 1.0, -2.0)[:, None]
    >>> X = np.hstack([s, slope * s + rng.normal(scale=0.1, size=(3000, 1))])
    >>> rr = RecursiveResidualizer(protected=[0], forgetting_factor=0.8)
    >>> for chunk in np.array_split(X, 60):
    ...     rr = rr.partial_fit(chunk)
    >>> round(float(rr.coef_[0, 0]), 1)
    -2.0
    >>> Xt = rr.transform(X[-500:])
    >>> bool(abs(np.corrcoef(Xt[:, 0], s[-500:, 0])[0, 1]) < 0.05)
    True
    """

    _parameter_constraints: dict = {
        "protected": [list, tuple, str, "array-like", int, None],
        "forgetting_factor": [Interval(Real, 0, 1, closed="right")],
        "forget_per": [StrOptions({"batch", "sample"})],
        "delta": [Interval(Real, 0, None, closed="neither")],
        "process_noise": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left"), None],
        "preserve_target": ["boolean"],
        "keep_protected": ["boolean"],
        "categories": [dict, None],
        "basis": [HasMethods(["fit", "transform"]), None],
    }

    def __init__(
        self,
        protected=None,
        *,
        forgetting_factor=1.0,
        forget_per="batch",
        delta=1e-6,
        process_noise=0.0,
        batch_size=None,
        preserve_target=False,
        keep_protected=False,
        categories=None,
        basis=None,
    ):
        self.protected = protected
        self.forgetting_factor = forgetting_factor
        self.forget_per = forget_per
        self.delta = delta
        self.process_noise = process_noise
        self.batch_size = batch_size
        self.preserve_target = preserve_target
        self.keep_protected = keep_protected
        self.categories = categories
        self.basis = basis

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit from scratch on the rows of ``X``, taken as a stream in order.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and protected columns; rows in time order.
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
            return self._fit(X, y)

    def _read(self, X, y, *, reset, **kwargs):
        design = read_design(
            self, X, y, reset=reset, target=self.preserve_target, **kwargs
        )
        regressors = design.S
        if self.preserve_target:
            regressors = np.hstack([regressors, design.target])
        return regressors, design.source, design.columns

    def _fit(self, X, y):
        regressors, source, columns = self._read(X, y, reset=True)
        if regressors.shape[0] < 2:
            raise ValueError(
                "X has 1 sample(s): every protected column is constant. fit needs "
                "at least 2 rows; stream single rows with partial_fit."
            )
        if regressors.shape[0] <= regressors.shape[1]:
            raise ValueError(
                f"X has {regressors.shape[0]} sample(s) but {regressors.shape[1]} "
                "encoded protected (and target) columns: fewer rows than protected "
                "columns. fit needs more; stream smaller batches with partial_fit."
            )
        # Reject constant protected columns and warn on collinear ones, exactly as
        # OrthogonalProjector does; the ridge would hide both.
        scale, shift = stream_pivots(regressors)
        solve_gram(
            Moments.from_data(regressors * scale - shift, regressors[:, :0]).css,
            np.zeros((regressors.shape[1], 0)),
            self._regressor_names(),
        )
        self._start(regressors, source, columns)
        self._update(regressors, source, columns, self.batch_size)
        return self

    def _fit_dask(self, X, y):
        """Fit on a dask array or data frame, one row block at a time, in order.

        Only one block is in memory at a time. Without ``batch_size`` each block
        is one batch of the recursion. Empty blocks are skipped, and the first
        block need not show every level (the levels come from all blocks), as
        a stream of ``partial_fit`` calls with ``categories=`` would.
        """
        import dask

        categories = protected_levels(X, self.protected, self.categories)
        started = False
        blocks = row_blocks(X, y if self.preserve_target else None)
        for number, (block, y_block) in enumerate(blocks):
            X_block, y_block = dask.compute(block, y_block)
            if len(X_block) == 0:
                continue
            regressors, source, columns = placed(self._read, X, number)(
                X_block, y_block, reset=not started, categories=categories
            )
            if not started:
                self._start(regressors, source, columns)
                started = True
            self._update(regressors, source, columns, self.batch_size)
        if not started:
            raise ValueError("X is empty: every block of the dask collection is empty.")
        return self

    def partial_fit(self, X, y=None):
        """Update the fit with one more batch of rows.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and protected columns, with the columns (and protected
            levels) of the first batch.
        y : array-like of shape (n_samples,), default=None
            Target; used only with ``preserve_target=True``.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        if not hasattr(self, "n_samples_seen_"):
            return self._first_partial_fit(X, y)
        # Later calls skip scikit-learn's fit context, which would not validate
        # the parameters again anyway: its cost dominates a single-row update.
        with fit_guard(self, reset=False, stream=_STREAM_PARAMETERS):
            self._update(*self._read(X, y, reset=False), None)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def _first_partial_fit(self, X, y):
        with fit_guard(self, stream=_STREAM_PARAMETERS):
            regressors, source, columns = self._read(X, y, reset=True)
            self._start(regressors, source, columns)
            self._update(regressors, source, columns, None)
        return self

    def _regressor_names(self):
        names = protected_names(self)
        if self.preserve_target:
            names += self.target_.encoded_names_
        return names

    def _start(self, regressors, source, columns):
        """Set the standardization from the first batch and the initial state."""
        # Moments of exactly rescaled columns: values of 1e300 or 1e-300 would
        # overflow or underflow in the squares. Regressors are standardized as
        # (s * power - offset * power) / (scale * power), the same numbers as
        # (s - offset) / scale without overflowing for s near 1e308.
        power = power_of_two_scale(regressors)
        offset = (regressors * power).mean(axis=0)
        scale = (regressors * power).std(axis=0)
        # A column constant in the first batch (always so for a single row) keeps
        # its units (the exact power-of-two units of its values where squares
        # of those would overflow or underflow); only its offset is removed. A
        # spread of 1 on an offset of 1e15 is not constant.
        constant = regressors.max(axis=0) == regressors.min(axis=0)
        offset, scale = offset / power, scale / power
        extreme = (power < 2.0**-500) | (power > 2.0**500)
        scale[constant] = np.where(extreme, 1.0 / power, 1.0)[constant]
        self.regressor_offset_ = offset
        self.regressor_scale_ = scale
        self._regressor_power = power
        self.information_, self.covariance_, coef = rls_init(
            regressors.shape[1] + 1, len(self.protected_.feature_index_), self.delta
        )
        # The features enter as f * q - c: exact powers of two q keep their sums
        # from overflowing and a pivot c near their mean keeps an offset of 1e15
        # from costing digits in the cross-products.
        scale, shift = stream_pivots(source)
        self._feature_pivots = scale[columns], shift[columns]
        # The ridge shrinks the intercept towards the features' mean in the first
        # batch, not towards 0: far from 0 it would bias every coefficient.
        coef[0] = self._shifted_features(source[:_BLOCK_ROWS], columns).mean(axis=0)
        self._prior = coef.copy()
        self._scaled_coef = coef
        self._weight = 0.0
        self._scaled_mean = np.zeros(regressors.shape[1])
        self.n_samples_seen_ = 0

    def _update(self, regressors, source, columns, batch_size):
        """Run the recursion over the rows of one call, block by block.

        A step is a row (``forget_per="sample"``) or a batch. Every block is one
        weighted update: a row ``j`` steps before the block's last one has weight
        ``λ**j`` and the state is discounted by ``λ**(steps in the block)``, which
        equals one update per step exactly. Process noise must be added after
        every batch, so then blocks end at batch ends.
        """
        n = regressors.shape[0]
        batch = n if batch_size is None else batch_size
        if n <= _BLOCK_ROWS and (batch == n or not self.process_noise):
            edges = [0, n]
        else:
            edges = set(range(0, n, _BLOCK_ROWS)) | {n}
            if self.process_noise:
                edges |= set(range(0, n, batch))
            edges = sorted(edges)
        lam = float(self.forgetting_factor)
        per_sample = self.forget_per == "sample"
        state = (self.information_, self.covariance_, self._scaled_coef)
        weight, mean = self._weight, self._scaled_mean
        last_step = -1
        for start, stop in zip(edges[:-1], edges[1:], strict=True):
            M = np.empty((stop - start, regressors.shape[1] + 1))
            M[:, 0] = 1.0
            power = self._regressor_power
            np.multiply(regressors[start:stop], power, out=M[:, 1:])
            M[:, 1:] -= self.regressor_offset_ * power
            M[:, 1:] /= self.regressor_scale_ * power
            discount, row_weights = 1.0, None
            if per_sample:
                end_step = stop - 1
                if lam != 1.0:
                    discount = lam ** (end_step - last_step)
                    if stop - start > 1:
                        row_weights = lam ** np.arange(stop - start - 1, -1, -1.0)
            else:
                end_step = (stop - 1) // batch
                if lam != 1.0:
                    discount = lam ** (end_step - last_step)
                    first_step = start // batch
                    if first_step != end_step:
                        steps = np.arange(start, stop) // batch
                        row_weights = lam ** (end_step - steps).astype(np.float64)
            state = rls_weighted_update(
                *state,
                M,
                self._shifted_features(source[start:stop], columns),
                discount=discount,
                row_weights=row_weights,
                ridge=self.delta,
                prior=self._prior,
                process_noise=(
                    self.process_noise if stop == n or stop % batch == 0 else 0.0
                ),
                form="information",
            )
            sums = M.sum(axis=0) if row_weights is None else row_weights @ M
            weight = discount * weight + sums[0]
            mean = mean + (sums[1:] - sums[0] * mean) / weight
            last_step = end_step
        # The new state is checked before it replaces the old one.
        bad = nonfinite_columns(state[2])
        if bad.any() or not (np.isfinite(state[0]).all() and np.isfinite(mean).all()):
            reject_chunk(source, columns, self.protected_.feature_names_, bad)
        self.information_, self.covariance_, self._scaled_coef = state
        self._weight, self._scaled_mean = weight, mean
        self.n_samples_seen_ += n
        self._set_coefficients()

    def _shifted_features(self, rows, columns):
        """Return the features of ``rows`` as the recursion sees them, ``f * q - c``."""
        scale, shift = self._feature_pivots
        features = rows[:, columns] * scale
        features -= shift
        return features

    def _set_coefficients(self):
        """Express the state in the units of the data."""
        feature_scale, feature_shift = self._feature_pivots
        # In exact powers of two first: the scales alone may be subnormal.
        power = self._regressor_power
        slopes = self._scaled_coef[1:] / (self.regressor_scale_ * power)[:, None]
        slopes = slopes * (power[:, None] / feature_scale)
        if not np.isfinite(slopes).all():
            raise ValueError(
                "the coefficients of the features on the protected columns overflow "
                "float64: the protected columns are more than 1e300 times smaller "
                "than the features they explain. Rescale the protected columns."
            )
        n_protected = len(protected_names(self))
        self.coef_ = slopes[:n_protected]
        intercept = (self._scaled_coef[0] + feature_shift) / feature_scale
        self.intercept_ = intercept - self.regressor_offset_ @ slopes
        mean = self.regressor_offset_ + self.regressor_scale_ * self._scaled_mean
        self.protected_mean_ = mean[:n_protected]
        if self.preserve_target:
            self.target_coef_ = slopes[n_protected:]

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = False
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags
