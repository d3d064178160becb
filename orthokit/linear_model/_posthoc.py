"""The post-hoc correction of embeddings: reduce the features, then fit the GLM."""

from numbers import Integral

from sklearn.base import clone
from sklearn.compose import ColumnTransformer
from sklearn.pipeline import make_pipeline


def make_posthoc_pipeline(reducer, estimator):
    """Reduce embedding features, pass the protected columns, fit the GLM.

    The post-hoc correction of pretrained representations (the paper's §4.2):
    ``reducer`` (e.g. ``PCA`` or ``TruncatedSVD``) is applied to every column
    of ``X`` except the protected ones, which pass through untouched so that
    the orthogonal GLM still finds them. The returned pipeline is
    ``make_pipeline(ColumnTransformer(...), estimator)``, with the
    estimator's ``protected`` re-pointed at the passed-through columns (the
    first columns of the reduced data).

    Parameters
    ----------
    reducer : estimator
        A transformer for the embedding columns (cloned).
    estimator : OrthogonalGLM
        The model (cloned); its ``protected`` names or positions refer to the
        columns of the raw ``X``.

    Returns
    -------
    Pipeline

    Examples
    --------
    >>> import numpy as np
    >>> import pandas as pd
    >>> from sklearn.decomposition import PCA
    >>> from orthokit.linear_model import OrthogonalGLM, make_posthoc_pipeline
    >>> rng = np.random.default_rng(0)
    >>> sex = rng.integers(0, 2, size=300)
    >>> emb = rng.normal(size=(300, 20)) + sex[:, None]
    >>> X = pd.DataFrame(emb, columns=[f"e{j}" for j in range(20)]).assign(sex=sex)
    >>> y = (emb[:, 0] + emb[:, 1] > 1).astype(int)
    >>> pipe = make_posthoc_pipeline(
    ...     PCA(n_components=5), OrthogonalGLM(protected=["sex"], solver="newton")
    ... ).fit(X, y)
    >>> glm = pipe[-1]
    >>> list(glm.predictor_names_)
    ['pca0', 'pca1', 'pca2', 'pca3', 'pca4']
    >>> bool(glm.constraint_violation_ < 1e-10)
    True
    """
    protected = estimator.protected
    if protected is None:
        raise ValueError("estimator.protected must name the protected columns.")
    spec = [protected] if isinstance(protected, str | Integral) else list(protected)
    by_name = all(isinstance(s, str) for s in spec)
    columns = ColumnTransformer(
        [("protected", "passthrough", spec)],
        remainder=clone(reducer),
        verbose_feature_names_out=False,
    )
    model = clone(estimator)
    if by_name:
        columns.set_output(transform="pandas")
    else:
        model.set_params(protected=list(range(len(spec))))
    return make_pipeline(columns, model)
