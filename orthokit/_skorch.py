"""What the skorch estimators (ARMED, MetadataNormClassifier) share.

Imported only by modules that already need torch and skorch.
"""

from functools import partial

import pandas as pd
from skorch.setter import optimizer_setter


class SkopsStateMixin:
    """Make a skorch net storable with skops, the safe format for shared files.

    skops cannot store pandas objects, and skorch keeps its optimizer setters
    as ``functools.partial`` objects, which skops rightly refuses to trust.
    The state therefore holds pandas attributes as plain dicts (the ``tight``
    layout and the index dtypes restore them exactly) and leaves the setters
    out; loading rebuilds them as skorch's ``_initialize_optimizer`` does.
    Pickle goes through the same two methods.
    """

    def __getstate__(self):
        """Return skorch's state with pandas attributes as plain dicts."""
        state = super().__getstate__()
        state.pop("virtual_params_", None)
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
        """Restore what :meth:`__getstate__` stored, then the optimizer setters."""
        for key, value in state.items():
            if isinstance(value, dict) and "__pandas__" in value:
                frame = pd.DataFrame.from_dict(value["frame"], orient="tight")
                frame.index = frame.index.astype(value["dtypes"][0])
                frame.columns = frame.columns.astype(value["dtypes"][1])
                if value["__pandas__"] == "Series":
                    frame = frame.iloc[:, 0].rename(value["name"])
                state[key] = frame
        super().__setstate__(state)
        if "virtual_params_" not in vars(self):
            self.virtual_params_ = {}
            for name in getattr(self, "_optimizers", []):
                patterns = [name + "__param_groups__*__*", name + "__*"]
                setter = partial(
                    optimizer_setter, optimizer_attr=name + "_", optimizer_name=name
                )
                self._register_virtual_param(
                    patterns + (["lr"] if name == "optimizer" else []), setter
                )
