"""The evaluation model of a fitted estimator: its predictions of ``X``.

The protected columns live in ``X``; the estimator predicts (block by block on
dask) and :func:`~orthokit.evaluation.check_orthogonality` tests the
predictions against those columns.
"""

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError

from orthokit._dask import is_dask_collection
from orthokit._inputs import ProtectedColumns, as_table, is_frame_like
from orthokit._inputs._frames import nw, select
from orthokit.evaluation._dask_cells import dask_estimator_inputs
from orthokit.evaluation._glm import check_orthogonality


def _predictions_of(estimator, X, response_method):
    methods = {
        "auto": ("predict_proba", "predict", "transform"),
        "predict_proba": ("predict_proba",),
        "predict": ("predict",),
        "transform": ("transform",),
        "decision_function": ("decision_function",),
    }
    if response_method not in methods:
        raise ValueError(
            f"response_method must be one of {list(methods)}, got {response_method!r}."
        )
    for name in methods[response_method]:
        method = getattr(estimator, name, None)
        if method is None:
            continue
        try:
            values = method(X)
        except AttributeError as exc:  # e.g. predict_proba of a hinge classifier
            if response_method == "auto" and not isinstance(exc, NotFittedError):
                continue
            raise
        if name == "predict_proba":
            values = np.asarray(values)
            if values.ndim == 2 and values.shape[1] == 2:
                values = values[:, 1]  # the positive class, as the papers report
        return values, name
    raise TypeError(
        f"{type(estimator).__name__} has no {' / '.join(methods[response_method])} "
        "method; pass a fitted estimator."
    )


def _model_input(estimator, X, feature_index, feature_names):
    """Return what the estimator reads: all of ``X``, or its fitted columns.

    orthokit's estimators take ``X`` with its protected columns; a plain
    scikit-learn model fitted on the other columns only gets those (by its
    ``feature_names_in_``, or by position when it saw one column per feature).
    """
    fitted_names = getattr(estimator, "feature_names_in_", None)
    if fitted_names is not None:
        if [str(name) for name in fitted_names] == feature_names:
            return select(as_table(X), feature_index)
        return X
    if getattr(estimator, "n_features_in_", None) == len(feature_index):
        return select(as_table(X), feature_index)
    return X


def check_estimator_orthogonality(
    estimator,
    X,
    protected,
    *,
    response_method="auto",
    scale=None,
    categorical=None,
    **kwargs,
):
    """Test whether a fitted estimator's predictions are free of ``S``.

    The protected columns live inside ``X`` and are named as for the
    transformers. The estimator is given the whole ``X`` (it is expected to
    handle or drop the protected columns itself, as orthokit's estimators do),
    and its predictions go to :func:`check_orthogonality`.

    Parameters
    ----------
    estimator : fitted estimator
        Classifier, regressor or transformer (or a Pipeline ending in one).
    X : array-like or DataFrame of shape (n_samples, n_features)
        Input of the estimator, including the protected columns.
    protected : str, int or sequence of str or int
        Names (for data frames) or positions of the protected columns in ``X``.
    response_method : {"auto", "predict_proba", "predict", "transform", \
"decision_function"}, default="auto"
        Which predictions to check. ``"auto"`` tries ``predict_proba`` (the
        positive class for binary classifiers), then ``predict``, then
        ``transform``.
    scale : {"response", "link"} or None, default=None
        Scale of the predictions; ``None`` means ``"link"`` for
        ``decision_function`` and ``"response"`` otherwise.
    categorical : str, int or sequence of str or int, optional
        Protected columns of ``X`` (names or positions in ``X``) that hold
        numeric codes of levels; they are one-hot encoded.
    **kwargs
        Passed to :func:`check_orthogonality` (``family``, ``alpha``, ...).

    Returns
    -------
    report : OrthogonalityReport

    Examples
    --------
    >>> import numpy as np, pandas as pd
    >>> from sklearn.linear_model import LogisticRegression
    >>> from sklearn.compose import make_column_transformer
    >>> from sklearn.pipeline import make_pipeline
    >>> from orthokit.evaluation import check_estimator_orthogonality
    >>> rng = np.random.default_rng(0)
    >>> X = pd.DataFrame({"x": rng.normal(size=300), "sex": rng.integers(0, 2, 300)})
    >>> y = (X["x"] + X["sex"] + rng.normal(size=300) > 0.5).astype(int)
    >>> model = make_pipeline(
    ...     make_column_transformer(("passthrough", ["x"])), LogisticRegression()
    ... ).fit(X, y)
    >>> report = check_estimator_orthogonality(model, X, ["sex"])
    >>> report.family, report.to_frame()["term"].tolist()
    ('binomial', ['sex'])
    """
    if is_dask_collection(X):

        def predict(block, feature_index, feature_names):
            model_input = _model_input(estimator, block, feature_index, feature_names)
            return _predictions_of(estimator, model_input, response_method)

        predictions, S, categorical = dask_estimator_inputs(
            X, protected, categorical, predict
        )
        method = predictions.columns[0]
        if scale is None:
            scale = "link" if method == "decision_function" else "response"
        return check_orthogonality(
            predictions, S, scale=scale, categorical=categorical, **kwargs
        )
    table = as_table(X)
    columns = ProtectedColumns(protected, categorical=categorical).fit(table)
    protected_names = [columns.input_names_[j] for j in columns.protected_index_]
    S_frame = select(table, columns.protected_index_)
    S_frame = (
        nw.from_native(S_frame).to_pandas().reset_index(drop=True)
        if table.is_frame
        else pd.DataFrame(S_frame)
    )
    S_frame.columns = protected_names
    if categorical is not None:
        categorical = [name for name in protected_names if name in columns.categories_]
    values, method = _predictions_of(
        estimator,
        _model_input(estimator, X, columns.feature_index_, columns.feature_names_),
        response_method,
    )
    if scale is None:
        scale = "link" if method == "decision_function" else "response"
    if isinstance(values, pd.Series | pd.DataFrame):
        # Both come from the rows of X: paired by position.
        predictions = values.reset_index(drop=True)
    elif is_frame_like(values):
        predictions = values
    else:
        values = np.asarray(values)
        predictions = pd.Series(values, name=method) if values.ndim == 1 else values
    return check_orthogonality(
        predictions, S_frame, scale=scale, categorical=categorical, **kwargs
    )
