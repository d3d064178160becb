"""What the skorch estimators (ARMED, MetadataNormClassifier) share.

Imported only by modules that already need torch and skorch.
"""

from functools import partial

import pandas as pd
from skorch.setter import optimizer_setter


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
        setters = state.get("virtual_params_")
        if isinstance(setters, dict):
            state["virtual_params_"] = {
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
        setters = state.get("virtual_params_")
        if isinstance(setters, dict) and "__setters__" in setters:
            state["virtual_params_"] = {
                pattern: partial(optimizer_setter, **setter)
                if isinstance(setter, dict)
                else setter
                for pattern, setter in setters["__setters__"]
            }
        super().__setstate__(state)
