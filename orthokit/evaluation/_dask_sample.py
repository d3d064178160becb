"""A uniform sample of rows of dask collections, computed into memory.

Distance correlation has no exact reduction over row blocks (every pair of
rows enters it), so on dask collections :func:`distance_correlation` computes
it on a sample: ``size`` rows drawn uniformly without replacement, by a rule a
user can repeat in memory::

    rng = np.random.default_rng(random_state)
    rows = np.sort(rng.choice(n_samples, size, replace=False))
    distance_correlation(features[rows], protected[rows], random_state=rng)

gives the same result (all rows, and no draw, when ``n_samples <= size``).
The blocks are read once (their lengths first, for data frames), and only
the sampled rows of each block are kept.
"""

import numbers

import numpy as np

from orthokit._dask import _is_frame, is_dask_collection


def dask_sample(features, protected, by, sample_size, random_state):
    """Sample the rows of dask inputs of :func:`distance_correlation`.

    Returns ``(features, protected, by, rng, note)``: the sampled rows in
    memory, the generator that drew them (the estimator goes on with it), and
    the words that the result's ``method`` gets, e.g. ``"sample of 100000 of
    4000000 rows"``.
    """
    if (
        isinstance(sample_size, bool)
        or not isinstance(sample_size, numbers.Integral)
        or sample_size < 4
    ):
        raise ValueError(f"sample_size must be an integer >= 4, got {sample_size!r}.")
    rng = np.random.default_rng(random_state)
    (features, protected, by), n_samples = sample_rows(
        [features, protected, by], int(sample_size), rng
    )
    if n_samples <= sample_size:
        return features, protected, by, rng, f"all {n_samples} rows"
    return features, protected, by, rng, f"sample of {sample_size} of {n_samples} rows"


def sample_rows(collections, size, rng):
    """Return the sampled rows of each collection, in memory, and the row count.

    Parameters
    ----------
    collections : list
        Dask arrays, data frames or series, in-memory arrays or ``None``
        (passed through), all with the same rows, paired by position.
    size : int
        Rows to draw.
    rng : numpy.random.Generator
        Draws the rows (unless every row is used).

    Returns
    -------
    sampled : list
        NumPy arrays or pandas objects (index reset) of the sampled rows.
    n_samples : int
        Rows of the collections.
    """
    import dask

    present = [c for c in collections if c is not None]
    lengths = dask.compute(*[_block_lengths(c) for c in present])
    totals = [int(sum(lens)) for lens in lengths]
    for total in totals[1:]:
        if total != totals[0]:
            raise ValueError(
                f"predictions have {totals[0]} rows but protected has {total}; "
                "they must match."
            )
    n_samples = totals[0]
    if n_samples <= size:
        rows = np.arange(n_samples)
    else:
        rows = np.sort(rng.choice(n_samples, size, replace=False))
    lazy = [_take(c, lens, rows) for c, lens in zip(present, lengths, strict=True)]
    computed = iter(dask.compute(*lazy))
    sampled = [None if c is None else _tidy(next(computed)) for c in collections]
    return sampled, n_samples


def _block_lengths(collection):
    """Rows of each block (a dask object for frames, a tuple for arrays)."""
    if not is_dask_collection(collection):
        return (len(collection),)
    if _is_frame(collection):
        return collection.map_partitions(len)
    if np.isnan(collection.shape[0]):
        collection = collection.compute_chunk_sizes()
    return collection.chunks[0]


def _take(collection, lengths, rows):
    """Take the rows ``rows`` of a collection, block by block (lazily)."""
    import dask

    lengths = [int(n) for n in lengths]
    if not is_dask_collection(collection):
        if hasattr(collection, "iloc"):
            return collection.iloc[rows]
        return np.asarray(collection)[rows]
    if not _is_frame(collection):
        if np.isnan(collection.shape[0]):
            collection = collection.compute_chunk_sizes()
        taken = collection[rows]
        if taken.ndim == 2:
            taken = taken.rechunk({1: -1})
        # Delayed objects, as for frames: dask.compute reorders the results
        # of arrays and data frames computed together.
        return dask.delayed(np.concatenate)(list(taken.to_delayed().ravel()))
    starts = np.concatenate([[0], np.cumsum(lengths)])
    parts = []
    for block, start, stop in zip(
        collection.to_delayed(), starts[:-1], starts[1:], strict=True
    ):
        local = rows[(rows >= start) & (rows < stop)] - start
        if len(local) or not parts:  # keep one block: the columns and dtypes
            parts.append(dask.delayed(_iloc)(block, local))
    return dask.delayed(_concat)(parts)


def _iloc(part, local):
    return part.iloc[local]


def _concat(parts):
    import pandas as pd

    return pd.concat(parts)


def _tidy(values):
    """Pandas objects paired by position (their blocks' indexes dropped)."""
    if hasattr(values, "reset_index"):
        return values.reset_index(drop=True)
    return values
