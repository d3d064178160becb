"""Which torch devices this machine can use: a clear error for the others."""

import torch


def check_device(device):
    """Raise a ValueError naming ``device`` unless torch can use it here.

    Parameters
    ----------
    device : str, torch.device or None
        None leaves the tensors where they are (skorch's convention).

    Examples
    --------
    >>> check_device("cpu")
    >>> check_device("cuad")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: device='cuad' is not available on this machine; available: cpu...
    """
    if device is None:
        return
    try:
        parsed = torch.device(device)
    except (RuntimeError, TypeError):
        parsed = None
    if parsed is not None and parsed.type == "cpu":
        return
    if parsed is not None and parsed.type == "mps":
        usable = torch.backends.mps.is_available()
    else:
        backend = getattr(torch, getattr(parsed, "type", ""), None)  # cuda, xpu
        usable = (
            hasattr(backend, "is_available")
            and backend.is_available()
            and (parsed.index is None or parsed.index < backend.device_count())
        )
    if not usable:
        available = ["cpu"]
        if torch.cuda.is_available():
            available += ["cuda"] + [
                f"cuda:{i}" for i in range(torch.cuda.device_count())
            ]
        if torch.backends.mps.is_available():
            available.append("mps")
        raise ValueError(
            f"device={device!r} is not available on this machine; available: "
            f"{', '.join(available)}."
        )
