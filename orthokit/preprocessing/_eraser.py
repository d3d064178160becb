"""ConceptEraser: least-squares concept erasure (LEACE) of X alone, fitted with S."""

import copy

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.utils._param_validation import StrOptions

from orthokit._base import ProtectedColumnsMixin
from orthokit._dask import is_dask_collection, map_row_blocks
from orthokit._inputs import as_table, check_finite, fit_guard, read_design, shown
from orthokit._linalg import RANK_RTOL, _correlation_spectrum, centred_gram
from orthokit._sklearn import (
    HasMethods,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from orthokit.preprocessing._projector import OrthogonalProjector
from orthokit.preprocessing._stream import nonfinite_columns, reject_chunk

_STREAM_PARAMETERS = ("protected", "categories", "method", "basis")


class ConceptEraser(ProtectedColumnsMixin, TransformerMixin, BaseEstimator):
    """Erase the linear information about protected columns from the features.

    An affine map of the features alone, ``x -> x - Q (x - mean)``, fitted
    with the protected columns ``S`` so that on the fitting data the
    transformed features have zero cross-covariance with ``S``: no linear
    classifier or regressor predicts ``S`` from them better than a constant.
    Among all such maps, ``method="leace"`` (least-squares concept erasure,
    LEACE) changes the features the least in the whitened norm
    ``E[(x' - x)ᵀ Σ⁻¹ (x' - x)]``. ``method="orth"`` is the orthogonal
    projection onto the complement of the cross-covariance directions.

    Unlike :class:`OrthogonalProjector`, :meth:`transform` never reads the
    protected columns: new rows are corrected without their protected
    attributes (pass ``X`` with or without those columns; their values are
    ignored, NaN included). The guarantee then holds in expectation on data
    from the fitting distribution, not exactly row by row.

    Parameters
    ----------
    protected : str, int or list of str or int
        Names (for data frames) or positions of the protected columns of
        ``X``. Numeric columns are used as they are; boolean, categorical,
        string and object columns are one-hot encoded with the first level
        dropped.
    method : {"leace", "orth"}, default="leace"
        ``"leace"``: the oblique projection onto the span of the
        cross-covariance ``Σ_xs`` that is orthogonal in the ``Σ⁻¹`` inner
        product (the least change in the whitened norm). ``"orth"``: the
        orthogonal projection onto that span (ignores the feature
        covariance).
    shrinkage : bool, default=False
        Estimate the feature covariance with optimal linear shrinkage towards
        a multiple of the identity (for many features and few rows, where the
        sample covariance is singular or noisy); ``"leace"`` only. The
        ``concept-erasure`` package shrinks by default.
    categories : dict, default=None
        Levels of categorical protected columns by name, the first being the
        reference level. Needed for :meth:`partial_fit` when the first chunk
        does not show every level.
    basis : transformer, default=None
        A scikit-learn transformer applied to the encoded protected columns
        in fit (``SplineTransformer``, a ``ColumnTransformer`` selecting them
        by name, ...): the erased features then have zero cross-covariance
        with every basis column, not only with ``S`` itself. A clone is fitted
        once (on the first chunk in :meth:`partial_fit`: give
        ``SplineTransformer`` explicit ``knots``). :meth:`transform` still
        never reads the protected columns.

    Attributes
    ----------
    mean_ : ndarray of shape (n_features_out,)
        Training means of the features; kept by the map.
    proj_left_ : ndarray of shape (n_features_out, `rank_`)
    proj_right_ : ndarray of shape (`rank_`, n_features_out)
        The map is ``x - (x - mean_) @ proj_right_.T @ proj_left_.T``.
    rank_ : int
        Number of directions erased (at most the number of encoded protected
        columns, or of basis columns with a ``basis``).
    basis_ : transformer
        The fitted clone of ``basis`` (only with a ``basis``).
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
    OrthogonalProjector : Exact in-sample orthogonality, row by row, when the
        protected columns are known at prediction time.

    Notes
    -----
    With ``Σ`` the feature covariance, ``W = Σ^(-1/2)`` its (pseudo-inverse)
    whitening and ``U`` an orthonormal basis of the column span of
    ``W Σ_xs``, the map is ``I - W⁺ U Uᵀ W`` (Belrose et al., 2023);
    ``"orth"`` uses ``W = I``. Eigenvalues of ``Σ`` below
    ``λ_max · d · eps`` are dropped from ``W`` (NumPy's ``pinv`` rule), and
    singular values of ``W Σ_xs`` (protected columns scaled to unit
    variance) below 1e-10 times the largest, so that every direction is
    erased and the cross-covariance is zero to rounding. ``concept-erasure``
    instead drops singular values below an absolute 0.01 and, by default,
    mixes in ``"orth"`` when the map would increase the trace of the
    covariance; with ``svd_tol`` tiny and ``constrain_cov_trace=False`` its
    output equals this one's. Shrinkage is Ledoit–Wolf-type optimal linear
    shrinkage (the weight on the sample covariance clipped to [0, 1]).
    Features whose scales differ by more than about 1e150: ``"leace"``
    without shrinkage is solved in each feature's own units (it commutes
    with rescaling), with shrinkage it is an error.

    The statistics (means, cross-products of features with themselves and
    with ``S``) are those of :class:`OrthogonalProjector`, merged chunk by
    chunk, so :meth:`partial_fit` equals :meth:`fit` to rounding and dask
    collections are reduced block by block. The fit costs ``O(n d²)``
    (``"orth"``: ``O(n d k)``, without the feature covariance) and transform
    ``O(n d k)``.

    References
    ----------
    N. Belrose, D. Schneider-Joseph, S. Ravfogel, R. Cotterell, E. Raff and
    S. Biderman, "LEACE: Perfect linear concept erasure in closed form",
    NeurIPS 2023.

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from orthokit.preprocessing import ConceptEraser
    >>> rng = np.random.default_rng(0)
    >>> sex = rng.choice(["F", "M"], size=500)
    >>> X = pd.DataFrame({"sex": sex, "a": rng.normal(size=500) + (sex == "M"),
    ...                   "b": rng.normal(size=500)})
    >>> eraser = ConceptEraser(protected=["sex"]).set_output(transform="pandas")
    >>> Xt = eraser.fit(X).transform(X[["a", "b"]])  # no sex column needed
    >>> list(Xt.columns)
    ['a', 'b']
    >>> male = (sex == "M").astype(float)
    >>> bool(np.abs(np.cov(Xt.T.to_numpy(), male)[:2, 2]).max() < 1e-12)
    True
    """

    _parameter_constraints: dict = {
        "protected": [list, tuple, str, "array-like", int, None],
        "method": [StrOptions({"leace", "orth"})],
        "shrinkage": ["boolean"],
        "categories": [dict, None],
        "basis": [HasMethods(["fit", "transform"]), None],
    }

    #: The projector's streaming statistics are reused; the eraser never
    #: regresses on the target.
    preserve_target = False
    _stream_parameter_names = _STREAM_PARAMETERS

    def __init__(
        self,
        protected=None,
        *,
        method="leace",
        shrinkage=False,
        categories=None,
        basis=None,
    ):
        self.protected = protected
        self.method = method
        self.shrinkage = shrinkage
        self.categories = categories
        self.basis = basis

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the eraser on features and protected columns.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and protected columns.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        with fit_guard(self, stream=_STREAM_PARAMETERS):
            if is_dask_collection(X):
                return self._fit_dask(X, None)
            self._partial_fit(X, None, strict=True, reset=True)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None):
        """Update the fit with one more chunk of rows.

        Fitting chunk by chunk gives the same map as one :meth:`fit` on all
        rows, to rounding. Until the rows seen outnumber the encoded protected
        columns and every protected column varies, :meth:`transform` raises
        ``NotFittedError``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            Features and protected columns, with the columns of the first chunk.
        y : None
            Ignored.

        Returns
        -------
        self : object
            Fitted transformer.
        """
        self._partial_fit(X, None, strict=False)
        return self

    # The streaming statistics are the projector's (pivots, checked chunks,
    # dask reduction); only the cross-products of the features are added.
    _partial_fit = OrthogonalProjector._partial_fit
    _set_pivots = OrthogonalProjector._set_pivots
    _block_moments = OrthogonalProjector._block_moments
    _fit_dask = OrthogonalProjector._fit_dask
    _regressor_names = OrthogonalProjector._regressor_names

    def _read(self, X, y, *, reset, target=None, **kwargs):
        return read_design(self, X, reset=reset, check_features=False, **kwargs)

    def _chunk_moments(self, design, first=False):
        chunk = OrthogonalProjector._chunk_moments(self, design, first)
        if self.method == "orth":  # the feature covariance is not needed
            return chunk
        scale, shift = self._feature_pivots
        chunk.cff = centred_gram(
            design.source, chunk.mean_f, scale=scale, shift=shift,
            columns=design.columns,
        )  # fmt: skip
        return chunk

    def _check_moments(self, moments, design):
        if moments.is_finite():
            return
        bad_protected = nonfinite_columns(moments.mean_s, moments.css)
        if bad_protected.any():
            reject_chunk(
                design.S, slice(None), self._regressor_names(), bad_protected,
                argument="protected",
            )  # fmt: skip
        grams = () if moments.cff is None else (moments.cff,)
        bad = nonfinite_columns(moments.mean_f, moments.csf, *grams)
        reject_chunk(design.source, design.columns, self.protected_.feature_names_, bad)

    def _solve(self, strict):
        moments = self._moments
        self.n_samples_seen_ = n = int(moments.n)
        names = self._regressor_names()
        try:
            if n <= len(names):
                raise ValueError(
                    f"X has {n} sample(s) but {len(names)} encoded protected "
                    "columns: fewer rows than protected columns. At least one "
                    "more row than columns is needed to fit the eraser."
                )
            s_scale = _correlation_spectrum(
                moments.css, names, "the eraser removes their common span once."
            )[0]
        except ValueError as exc:
            if strict:
                raise
            self._not_ready = str(exc)  # partial_fit: wait for more rows
            return
        # Statistics in the pivots' units, x' = x * scale - shift; the map is
        # computed for x * g: g = c, one power of two for every feature (the
        # data's units up to a common factor, which neither method depends
        # on), or, where that covariance overflows, g = scale for leace
        # without shrinkage (LEACE commutes with rescaling the features).
        scale, shift = self._feature_pivots
        units = np.full(len(scale), np.sort(scale)[len(scale) // 2])
        cov = None
        if self.method == "leace":
            cov = moments.cff * np.outer(units / scale, units / scale)
            if not np.isfinite(cov).all() and not self.shrinkage:
                units, cov = scale, moments.cff
        cov_xs = moments.csf.T * (units / scale)[:, None] / s_scale / (n - 1)
        overflow = ValueError(
            "the eraser of X overflows float64: its features differ in scale by "
            "more than about 1e150. Rescale the features, or use shrinkage=False."
        )
        if cov is not None:
            cov = _shrink(cov / n, n) if self.shrinkage else cov / (n - 1)
            if not np.isfinite(cov).all():
                raise overflow
            whiten, unwhiten = _whitening(cov)
            left, right = _erased_directions(whiten @ cov_xs)
            left, right = unwhiten @ left, right @ whiten
        else:
            left, right = _erased_directions(cov_xs)
        left, right = left / units[:, None], right * units
        if not (np.isfinite(left).all() and np.isfinite(right).all()):
            raise overflow
        self.rank_ = left.shape[1]
        self.mean_ = (moments.mean_f + shift) / scale
        self.proj_left_ = left
        self.proj_right_ = right

    def transform(self, X):
        """Erase the protected information from features, without reading ``S``.

        Parameters
        ----------
        X : {array-like, DataFrame} of shape (n_samples, n_features)
            The columns seen in fit, or only the non-protected ones (in the
            same order). Protected columns, if present, are never read.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features_out)
            The erased features, float64; the protected columns are dropped.
        """
        check_is_fitted(
            self,
            "proj_left_",
            msg="This %(name)s is not fitted yet: "
            + getattr(self, "_not_ready", "call fit or partial_fit first."),
        )
        if is_dask_collection(X):
            names = list(self.get_feature_names_out())
            return map_row_blocks(X, self.transform, len(names), np.float64, names)
        source, columns = self._features(X)
        F = np.asarray(source[:, columns], dtype=np.float64)
        # x - (x - mean) Rᵀ Lᵀ without a centred copy of X.
        coordinates = F @ self.proj_right_.T
        coordinates -= self.mean_ @ self.proj_right_.T
        out = coordinates @ -self.proj_left_.T
        out += F
        return out

    def _features(self, X):
        """``(source, columns)`` of the features of ``X``, with or without ``S``."""
        table = as_table(X)
        features = self.protected_.feature_names_
        if table.shape[1] == self.n_features_in_:
            validate_data(self, table.native, skip_check_array=True, reset=False)
            # Not check=True: that checks a float array's protected columns too.
            source, columns = self.protected_.features(table, check=False)
            check_finite(source[:, columns], features, "X")
            return source, columns
        if table.shape[1] != len(features):
            raise ValueError(
                f"X has {table.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input (the columns "
                f"seen in fit), or only the {len(features)} non-protected ones "
                f"{features}."
            )
        if table.names is not None and list(table.names) != features:
            raise ValueError(
                f"X's columns {shown(table.names)} are not the non-protected columns "
                f"seen in fit, {features}, in that order."
            )
        # The same reader, told that every column is a feature.
        reader = copy.copy(self.protected_)
        reader.input_names_ = features
        reader.feature_index_ = list(range(len(features)))
        return reader.features(table)

    def get_feature_names_out(self, input_features=None):
        """Names of the output columns: the non-protected input columns.

        Parameters
        ----------
        input_features : array-like of str, default=None
            Ignored apart from a consistency check with the names seen in fit.

        Returns
        -------
        feature_names_out : ndarray of str
        """
        return self._output_names(False, input_features)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = False
        tags.input_tags.categorical = True
        tags.transformer_tags.preserves_dtype = ["float64"]
        return tags


def _shrink(cov, n):
    """Optimal linear shrinkage of a (biased) sample covariance towards ``μ I``.

    ``α S + (1 - α) μ I`` with ``μ = tr(S) / p`` and
    ``1 - α = (tr(S)² / n) / (‖S‖²_F - tr(S)² / p)``, clipped to [0, 1].
    """
    p = cov.shape[0]
    trace = np.trace(cov)
    excess = np.sum(cov * cov) - trace**2 / p  # ‖S - μ I‖²_F ≥ 0
    alpha = 1.0 if excess <= 0 else float(np.clip(1 - trace**2 / n / excess, 0, 1))
    shrunk = alpha * cov
    shrunk[np.diag_indices(p)] += (1 - alpha) * trace / p
    return shrunk


def _whitening(cov):
    """``Σ^(-1/2)`` and ``Σ^(1/2)`` on the numerical range of ``Σ`` (pinv's rule)."""
    eigvals, eigvecs = np.linalg.eigh((cov + cov.T) / 2)
    keep = eigvals > eigvals[-1] * len(eigvals) * np.finfo(float).eps
    eigvecs, eigvals = eigvecs[:, keep], eigvals[keep]
    root = np.sqrt(eigvals)
    return (eigvecs / root) @ eigvecs.T, (eigvecs * root) @ eigvecs.T


def _erased_directions(cross):
    """Return ``(U, Uᵀ)``, ``U`` an orthonormal basis of the span of ``cross``."""
    u, s, _ = np.linalg.svd(cross, full_matrices=False)
    u = u[:, s > RANK_RTOL * s.max(initial=0.0)] if s.size and s[0] > 0 else u[:, :0]
    return u, u.T
