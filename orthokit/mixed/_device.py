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


def fast_adam_options(params):
    """``{"fused": True}`` where torch has a fused Adam for ``params``' device.

    The fused kernel updates every parameter tensor in one call: the same
    update as the per-tensor loop, without its Python overhead (which
    dominates the small ARMED nets).
    """
    devices = {p.device.type for p in params}
    # torch has had a fused Adam on CUDA since 2.0 and on the CPU since 2.4.
    version = tuple(int(part) for part in torch.__version__.split(".")[:2])
    supported = {"cpu", "cuda"} if version >= (2, 4) else {"cuda"}
    return {"fused": True} if devices and devices <= supported else {}
