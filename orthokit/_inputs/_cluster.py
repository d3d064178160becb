"""The cluster column of ``X``: a column specification like the protected ones.

:class:`ClusterColumn` resolves the column (a name or a position) against a
:class:`~orthokit._inputs._frames.Table`, learns its labels, and splits ``X``
into the labels' codes and the float64 matrix of the other columns. Labels
are of any one kind (strings, numbers, booleans); a missing or non-finite
label, labels of mixed kinds, or a single cluster are errors naming the
column.
"""

import numbers

import numpy as np
import pandas as pd

from orthokit._inputs._checks import check_finite, column_kind
from orthokit._inputs._columns import ColumnSpec
from orthokit._inputs._encode import labels, level_codes


def _label_kind(value):
    if isinstance(value, bool | np.bool_):
        return "bool"
    if isinstance(value, numbers.Number):
        return "number"
    return "str"


class ClusterColumn(ColumnSpec):
    """Resolve, check and encode the cluster column of ``X``.

    Parameters
    ----------
    cluster : str or int
        Name (for data frames) or position of the cluster column.
    argument : str, default="X"
        Name of the argument in error messages.

    Attributes
    ----------
    position_ : int
        Position of the cluster column in ``X``.
    name_ : str
        Its name (``x<position>`` for arrays).
    clusters_ : ndarray of object
        The labels seen in :meth:`fit`, sorted; a label's code is its index.
    feature_index_ : list of int
        Positions of the other columns.
    input_names_ : list of str
        Names of all input columns (``x0, x1, ...`` for arrays).

    Examples
    --------
    >>> import pandas as pd
    >>> X = pd.DataFrame({"site": ["b", "a", "b"], "x": [1.0, 2.0, 3.0]})
    >>> column = ClusterColumn("site").fit(X)
    >>> column.clusters_.tolist(), column.codes(X).tolist()
    (['a', 'b'], [1, 0, 1])
    >>> source, columns = column.features(X)
    >>> column.feature_names_, source[:, columns].ravel().tolist()
    (['x'], [1.0, 2.0, 3.0])
    """

    hint = "or drop it"

    def __init__(self, cluster, argument="X"):
        self.cluster = cluster
        self.argument = argument

    def fit(self, X):
        """Find the cluster column and learn its labels.

        Parameters
        ----------
        X : array-like or Table of shape (n_samples, n_features)

        Returns
        -------
        self
        """
        cluster = self.cluster
        if isinstance(cluster, bool | np.bool_) or not isinstance(
            cluster, str | numbers.Integral
        ):
            raise TypeError(
                "cluster must be the name (str) or position (int) of the cluster "
                f"column of {self.argument}, got {cluster!r} of type "
                f"{type(cluster).__name__}."
            )
        table = self._table(X)
        (self.position_,) = self._resolve(cluster, table, "cluster")
        self.name_ = self.input_names_[self.position_]
        values = self.labels(table)
        if not self.feature_index_:
            raise ValueError(
                f"{self.argument} has 1 feature(s): only its cluster column. At "
                "least one more column is needed."
            )
        return self._learn_clusters(values)

    def _learn_clusters(self, values):
        levels = sorted(pd.unique(values), key=lambda v: (str(type(v)), v))
        if len(levels) < 2:
            raise ValueError(
                f"cluster column {self.name_!r} holds a single cluster "
                f"({levels[0]!r}); a mixed-effects model needs at least 2 "
                "clusters. Use a plain network for unclustered data."
            )
        self.clusters_ = np.asarray(levels, dtype=object)
        return self

    def labels(self, X):
        """Return the cluster column's labels, checked.

        Parameters
        ----------
        X : array-like or Table

        Returns
        -------
        ndarray of shape (n_samples,)
        """
        table = self._table(X)
        values = labels(table.column(self.position_), self.name_, "cluster")
        kind = column_kind(table, self.position_, self.name_, "cluster")
        if kind == "numeric":
            check_finite(
                np.asarray(values, dtype=np.float64)[:, None], [self.name_], "cluster"
            )
        elif values.dtype == object:
            kinds = {_label_kind(v) for v in values}
            if len(kinds) > 1:
                raise TypeError(
                    f"cluster column {self.name_!r} mixes label types "
                    f"{sorted(kinds)}; use labels of one type (e.g. convert them "
                    "all to str)."
                )
        return values

    def codes(self, X):
        """Return the index of every row's label in ``clusters_``.

        Parameters
        ----------
        X : array-like or Table

        Returns
        -------
        ndarray of int64 of shape (n_samples,)
            ``-1`` for a label not seen in :meth:`fit`.
        """
        values = self.labels(X)
        return level_codes(values, list(self.clusters_), self.name_, check=False)
