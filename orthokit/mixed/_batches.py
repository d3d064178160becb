"""Mini-batches sliced from whole tensors, for skorch's ``iterator_train``.

skorch's default ``DataLoader`` over its ``Dataset`` fetches every sample on
its own and collates the batch in Python: for the small tabular nets of ARMED
that per-sample work costs more than the forward and backward passes. The
iterator here converts the data to tensors once and slices each batch with
one index operation (a permutation per epoch when shuffling).
"""

from collections.abc import Mapping

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset


def _as_tensor(value):
    if isinstance(value, torch.Tensor):
        return value
    array = np.asarray(value)
    if not array.flags.writeable or not array.flags.c_contiguous:
        array = np.ascontiguousarray(array).copy()
    return torch.from_numpy(array)


def _whole_tensors(dataset):
    """Return ``(X, y)`` as tensors (dicts of tensors) or None if unsupported."""
    indices = None
    if isinstance(dataset, Subset):
        indices = torch.as_tensor(np.asarray(dataset.indices), dtype=torch.long)
        dataset = dataset.dataset
    if type(dataset).__name__ != "Dataset" or not hasattr(dataset, "X"):
        return None
    cache = getattr(dataset, "_orthokit_tensors", None)
    if cache is None:
        X, y = dataset.X, dataset.y
        try:
            if isinstance(X, Mapping):
                X = {key: _as_tensor(value) for key, value in X.items()}
            else:
                X = _as_tensor(X)
            y = None if y is None else _as_tensor(y)
        except (TypeError, ValueError):
            return None
        cache = (X, y)
        dataset._orthokit_tensors = cache
    X, y = cache
    if indices is not None:
        X = (
            {key: value[indices] for key, value in X.items()}
            if isinstance(X, Mapping)
            else X[indices]
        )
        y = None if y is None else y[indices]
    return X, y


class TensorBatches:
    """Iterate over mini-batches of a skorch ``Dataset`` by slicing tensors.

    A drop-in ``iterator_train``/``iterator_valid`` for skorch nets whose data
    are arrays or dicts of arrays: yields ``(X_batch, y_batch)`` like
    skorch's ``DataLoader``, with ``y_batch`` a dummy tensor when ``y`` is
    None. Other datasets fall back to ``torch.utils.data.DataLoader``.

    Parameters
    ----------
    dataset : skorch.dataset.Dataset or torch Subset of one
    batch_size : int, default=1
    shuffle : bool, default=False
        Draw a fresh permutation each epoch.
    drop_last : bool, default=False
    generator : torch.Generator or None, default=None
        Draws the permutations (None: torch's global generator).
    **kwargs : dict
        Only used by the ``DataLoader`` fallback.

    Examples
    --------
    >>> import numpy as np
    >>> from skorch.dataset import Dataset
    >>> from orthokit.mixed._batches import TensorBatches
    >>> data = Dataset(np.arange(10, dtype=np.float32)[:, None], np.arange(10))
    >>> [len(xb) for xb, yb in TensorBatches(data, batch_size=4)]
    [4, 4, 2]
    """

    def __init__(
        self,
        dataset,
        batch_size=1,
        shuffle=False,
        drop_last=False,
        generator=None,
        **kwargs,
    ):
        self.dataset = dataset
        self.generator = generator
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.kwargs = kwargs
        self._tensors = _whole_tensors(dataset)

    def __len__(self):
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def __iter__(self):
        if self._tensors is None:
            yield from DataLoader(
                self.dataset,
                batch_size=self.batch_size,
                shuffle=self.shuffle,
                drop_last=self.drop_last,
                generator=self.generator,
                **self.kwargs,
            )
            return
        X, y = self._tensors
        n = len(self.dataset)
        order = torch.randperm(n, generator=self.generator) if self.shuffle else None
        stop = n - n % self.batch_size if self.drop_last else n
        is_dict = isinstance(X, Mapping)
        for start in range(0, stop, self.batch_size):
            if order is None:
                index = slice(start, start + self.batch_size)
            else:
                index = order[start : start + self.batch_size]
            Xb = {k: v[index] for k, v in X.items()} if is_dict else X[index]
            yb = torch.zeros(0) if y is None else y[index]
            yield Xb, yb
