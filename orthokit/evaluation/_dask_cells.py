"""The evaluation model on dask collections: one reduction to cells.

When the predictions and the protected columns are both dask collections and
every protected column is categorical (labels, or numeric codes named in
``categorical=``), the levels are learned from all blocks in one pass, then
each pair of row blocks is summarized by its cells (:class:`~._cells.Cells`)
and the summaries are merged by dask in a tree; the evaluation GLM is fitted
on the cells, exactly as on all rows. With a numeric protected column the
paired blocks go to :class:`~._dask_irls.DaskRows` instead: IRLS by block
reductions. The nonlinear check, or only one argument on dask, computes the
dask inputs into memory, with a warning that says why.
"""

import warnings

import numpy as np

from orthokit._dask import (
    _is_frame,
    compute_relayed,
    head,
    is_dask_collection,
    map_row_blocks,
    relayed,
    starting_at,
)
from orthokit._inputs import ProtectedColumns, as_table, column_kind, resolve_columns
from orthokit._inputs._encode import column_codes, learn_levels
from orthokit._inputs._paired import check_estimable, read_outputs
from orthokit.evaluation._cells import Cells
from orthokit.evaluation._dask_irls import DaskRows


def read_dask(predictions, protected, categorical, nonlinear):
    """Read dask inputs of :func:`check_orthogonality`.

    Returns
    -------
    predictions, protected
        In memory when ``cells`` is ``None`` (computed, with a warning).
    cells : Cells, DaskRows or None
        The cells of all rows when every protected column is categorical,
        else the paired row blocks (the GLM is fitted by block reductions).
    outputs : list of str or None
        Names of the predictions.
    columns : ProtectedColumns or None
        The protected columns, fitted with the levels of all rows.
    """
    if not (is_dask_collection(predictions) and is_dask_collection(protected)):
        return _computed(
            predictions, protected, "only one of predictions and protected is one"
        )
    frame = _protected_frame(protected)
    table = as_table(frame._meta, "protected", allow_empty=True)
    names = table.names
    coded = set()
    if categorical is not None:
        positions = resolve_columns(
            categorical, names, len(names), what="categorical", argument="protected"
        )
        coded = {names[j] for j in positions}
    numeric = [
        name
        for j, name in enumerate(names)
        if name not in coded and column_kind(table, j, name, "protected") == "numeric"
    ]
    meta = predictions._meta
    if not _is_frame(predictions):  # an array's meta is (0, 0): no columns
        meta = np.empty((0, *predictions.shape[1:]), dtype=meta.dtype)
    outputs = read_outputs(meta, allow_empty=True)[1]
    levels, lengths = _scan(predictions, frame, names, coded)
    columns = ProtectedColumns(
        None, argument="protected", categories=levels, categorical=categorical
    ).fit(table)
    pairs = paired_blocks(predictions, frame, lengths)
    encoded = list(columns.encoded_names_)
    if numeric or nonlinear:  # the nonlinear check draws rows
        rows = DaskRows(pairs, columns, lengths[0])
        rows.check_estimable(encoded)
        return None, None, rows, outputs, columns
    sizes = [len(columns.categories_[name]) for name in names]
    cells = _summarize(pairs, columns, sizes, lengths[0])
    check_estimable(cells.design()[:, 1:], encoded)
    return None, None, cells, outputs, columns


def _computed(predictions, protected, reason):
    import dask

    warnings.warn(
        "check_orthogonality computes its dask inputs into memory: "
        f"{reason}. The reduction over the blocks needs both as dask "
        "collections, and nonlinear=False.",
        UserWarning,
        stacklevel=4,
    )
    predictions, protected = dask.compute(predictions, protected)
    return predictions, protected, None, None, None


def _protected_frame(protected):
    """Return a dask data frame of the protected columns, named as in memory."""
    if _is_frame(protected):
        if hasattr(protected, "columns"):
            return protected
        name = protected.name
        return protected.to_frame(name if name not in (None, "") else "s")
    import dask.dataframe as dd

    array = protected if protected.ndim == 2 else protected[:, None]
    return dd.from_dask_array(array, columns=[f"s{j}" for j in range(array.shape[1])])


def _scan(predictions, frame, names, coded):
    """One pass: the levels of the protected columns and the rows of each block.

    The levels follow the input layer's rules (``column_kind``,
    ``learn_levels``) on the distinct values of all blocks, so that every
    block is encoded alike. Returns ``(levels, (protected rows, prediction
    rows))``, the latter ``None`` for a dask array (its chunks say it).
    """
    import dask
    import pandas as pd

    sample = as_table(frame._meta, "protected", allow_empty=True)
    wanted = [
        name
        for j, name in enumerate(names)
        if name in coded or column_kind(sample, j, name, "protected") == "labels"
    ]

    def scan(part):
        return len(part), [part[name].drop_duplicates() for name in wanted]

    parts = [dask.delayed(scan)(part) for part in frame.to_delayed()]
    counts = None
    if _is_frame(predictions):
        counts = [dask.delayed(len)(part) for part in predictions.to_delayed()]
    parts, counts = dask.compute(parts, counts)
    levels = {}
    for i, name in enumerate(wanted):
        values = pd.concat([uniques[i] for _, uniques in parts]).drop_duplicates()
        levels[name] = learn_levels(as_table(values.dropna().to_frame(name)), 0, name)
    return levels, ([n for n, _ in parts], counts)


def paired_blocks(predictions, frame, lengths):
    """Delayed row blocks of the predictions paired with those of ``frame``.

    Frames with the same blocks are paired as they are; otherwise the
    predictions are rechunked to the protected columns' block lengths.
    """
    lengths, counts = lengths
    if counts is not None and [int(n) for n in counts] == [int(n) for n in lengths]:
        blocks = predictions.to_delayed()
        return list(zip(blocks, frame.to_delayed(), strict=True))
    values = (
        predictions.to_dask_array(lengths=counts)
        if _is_frame(predictions)
        else predictions
    )
    values = values[:, None] if values.ndim == 1 else values
    if np.isnan(values.shape[0]):
        values = values.compute_chunk_sizes()
    lengths = tuple(int(n) for n in lengths)
    if values.shape[0] != sum(lengths):
        raise ValueError(
            f"predictions have {values.shape[0]} rows but protected has "
            f"{sum(lengths)}; they must match."
        )
    blocks = values.rechunk({0: lengths, 1: -1}).to_delayed().ravel()
    return list(zip(blocks, frame.to_delayed(), strict=True))


def _summarize(pairs, columns, sizes, lengths):
    """One dask pass: the cells of every pair of row blocks, merged in a tree.

    ``lengths`` are the pairs' rows: messages name the row in all the input.
    """
    import dask

    starts = np.cumsum([0, *lengths[:-1]], dtype=np.int64)
    summaries = [
        dask.delayed(relayed(starting_at(_block_cells, start)))(
            block, part, columns, sizes
        )
        for (block, part), start in zip(pairs, starts, strict=True)
    ]
    cells = compute_relayed(summaries, _merge)
    if cells is None:
        raise ValueError(
            "predictions are empty: every block of the dask collections is empty."
        )
    return cells


def _block_cells(block, part, columns, sizes):
    """Summarize one pair of row blocks (``None`` for an empty block)."""
    if len(part) == 0:
        return None
    values, _ = read_outputs(block)
    table = as_table(part, "protected")
    keys = np.column_stack(
        [
            column_codes(table, j, columns.categories_[name], name)
            for j, name in enumerate(columns.input_names_)
        ]
    )
    return Cells.from_rows(keys, sizes, values)


def _merge(a, b):
    return b if a is None else a.merge(b)


def dask_estimator_inputs(X, protected, categorical, predict):
    """Lazy predictions and protected columns of a dask ``X``.

    ``predict(block, feature_index, feature_names)`` returns the estimator's
    predictions of one block (as :func:`check_estimator_orthogonality` picks
    them) and their method; it is applied block by block. Returns
    ``(predictions, S, categorical)``.
    """
    sample = head(X, 5)
    table = as_table(sample)
    names = table.names or [f"x{j}" for j in range(table.shape[1])]
    index = resolve_columns(protected, table.names, len(names))
    protected_names = [names[j] for j in index]
    features = [j for j in range(len(names)) if j not in index]
    feature_names = [names[j] for j in features]
    if categorical is not None:
        coded = resolve_columns(
            categorical, table.names, len(names), what="categorical"
        )
        categorical = [names[j] for j in coded if j in index]
    if _is_frame(X):
        frame = X
    else:
        import dask.dataframe as dd

        frame = dd.from_dask_array(X, columns=names)
    values, method = predict(sample, features, feature_names)
    values = np.asarray(values)
    width = 1 if values.ndim == 1 else values.shape[1]
    outputs = [method] if width == 1 else [f"y_pred_{j}" for j in range(width)]

    def block_predictions(block):
        values = predict(block, features, feature_names)[0]
        return np.asarray(values, dtype=np.float64).reshape(len(block), -1)

    predictions = map_row_blocks(X, block_predictions, width, np.float64, outputs)
    if not _is_frame(X):
        import dask.dataframe as dd

        predictions = dd.from_dask_array(predictions, columns=outputs)
    return predictions, frame[protected_names], categorical
