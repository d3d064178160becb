"""Optional dependencies: one import helper, one wording of the install hint."""

import importlib


def install_hint(extra):
    """Return the command that installs an extra, true installed or from a checkout.

    Examples
    --------
    >>> install_hint("plot")
    "pip install 'orthokit[plot]' (from a source checkout: pip install -e '.[plot]')"
    """
    return (
        f"pip install 'orthokit[{extra}]' (from a source checkout: "
        f"pip install -e '.[{extra}]')"
    )


def require(module, what, extra):
    """Import ``module`` or raise an ImportError that says how to install it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"fairlearn.reductions"``.
    what : str
        What needs it, for the message (e.g. ``"--plot"``).
    extra : str
        The orthokit extra that installs it.

    Returns
    -------
    module

    Examples
    --------
    >>> require("json", "the example", "dev").__name__
    'json'
    """
    try:
        return importlib.import_module(module)
    except ImportError:
        package = module.split(".")[0]
        raise ImportError(
            f"{what} needs the package {package!r}, which is not installed: "
            f"{install_hint(extra)}."
        ) from None
