"""What the skorch estimators (ARMED, MetadataNormClassifier) share.

Imported only by modules that already need torch and skorch.
"""

from functools import partial

import pandas as pd
from skorch.setter import optimizer_setter


class _StoredPrivately:
    """A public attribute of a skorch net kept in the instance under ``_<name>``.

    skorch's ``NeuralNet.__init__`` sets ``history_``, ``initialized_`` and
    ``virtual_params_``; scikit-learn's estimator contract lets ``__init__``
    set parameters and private (``_``-prefixed) attributes only. Reading and
    writing the attribute works as before, through this descriptor, and an
    unset one raises ``AttributeError`` as a plain attribute does (skorch's
    ``__setattr__`` tells a net being constructed by ``initialized_`` missing).
    The key also ends in ``_``, so that skorch does not count it as a
    parameter.
    """

    def __set_name__(self, owner, name):
        self.name = name
        self.key = f"_{name}"

    def __get__(self, net, owner=None):
        if net is None:
            return self
        try:
            return vars(net)[self.key]
        except KeyError:
            raise AttributeError(
                f"{type(net).__name__!r} object has no attribute {self.name!r}"
            ) from None

    def __set__(self, net, value):
        vars(net)[self.key] = value

    def __delete__(self, net):
        try:
            del vars(net)[self.key]
        except KeyError:
            raise AttributeError(self.name) from None


class PrivateInitStateMixin:
    """Keep the attributes skorch's ``__init__`` sets out of the public ones.

    ``history_``, ``initialized_`` and ``virtual_params_`` read and write as on
    any skorch net; the instance stores them as ``_history_``,
    ``_initialized_`` and ``_virtual_params_`` (see ``_StoredPrivately``), so
    that a net passes scikit-learn's ``check_no_attributes_set_in_init``.
    States stored with the public names (an older orthokit) load too.
    """

    history_ = _StoredPrivately()
    initialized_ = _StoredPrivately()
    virtual_params_ = _StoredPrivately()

    def __setstate__(self, state):
        """Move skorch's public names in ``state`` to the private keys."""
        for name in ("history_", "initialized_", "virtual_params_"):
            if name in state:
                state[f"_{name}"] = state.pop(name)
        super().__setstate__(state)


# Where the state holds skorch's virtual_params_ (see PrivateInitStateMixin).
_SETTERS = "_virtual_params_"


class SkopsStateMixin:
    """Make a skorch net storable with skops, the safe format for shared files.

    skops cannot store pandas objects, and skorch keeps its optimizer setters
    (``virtual_params_``) as ``functools.partial`` objects of
    ``skorch.setter.optimizer_setter``, which skops rightly refuses to trust.
    The state therefore holds pandas attributes as plain dicts (the ``tight``
    layout and the index dtypes restore them exactly) and each setter as its
    pattern and keyword arguments; loading rebuilds the same partials. Pickle
    goes through the same two methods.
    """

    def __getstate__(self):
        """Return skorch's state with pandas attributes and setters as plain data."""
        state = super().__getstate__()
        setters = state.get(_SETTERS)
        if isinstance(setters, dict):
            state[_SETTERS] = {
                "__setters__": [
                    [pattern, dict(setter.keywords)]
                    if isinstance(setter, partial) and setter.func is optimizer_setter
                    else [pattern, setter]
                    for pattern, setter in setters.items()
                ]
            }
        for key, value in state.items():
            if isinstance(value, pd.Series | pd.DataFrame):
                frame = value.to_frame("_") if isinstance(value, pd.Series) else value
                state[key] = {
                    "__pandas__": type(value).__name__,
                    "name": getattr(value, "name", None),
                    "frame": frame.to_dict(orient="tight"),
                    "dtypes": [str(frame.index.dtype), str(frame.columns.dtype)],
                }
        return state

    def __setstate__(self, state):
        """Restore what :meth:`__getstate__` stored."""
        for key, value in state.items():
            if isinstance(value, dict) and "__pandas__" in value:
                frame = pd.DataFrame.from_dict(value["frame"], orient="tight")
                frame.index = frame.index.astype(value["dtypes"][0])
                frame.columns = frame.columns.astype(value["dtypes"][1])
                if value["__pandas__"] == "Series":
                    frame = frame.iloc[:, 0].rename(value["name"])
                state[key] = frame
        setters = state.get(_SETTERS)
        if isinstance(setters, dict) and "__setters__" in setters:
            state[_SETTERS] = {
                pattern: partial(optimizer_setter, **setter)
                if isinstance(setter, dict)
                else setter
                for pattern, setter in setters["__setters__"]
            }
        super().__setstate__(state)
