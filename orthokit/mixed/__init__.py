"""Mixed-effects networks (ARMED) for clustered data.

The estimators need torch and skorch (the ``torch`` extra; the README says how
to get the CPU wheel); they are imported on first use, so ``import orthokit``
never imports torch.
"""

__all__ = ["ARMEDAutoencoder", "ARMEDClassifier", "ARMEDRegressor"]

_MODULES = {
    "ARMEDAutoencoder": "_autoencoder",
    "ARMEDClassifier": "_classifier",
    "ARMEDRegressor": "_regressor",
}


def __getattr__(name):
    if name in __all__:
        import importlib

        try:
            module = importlib.import_module(f"orthokit.mixed.{_MODULES[name]}")
        except ImportError as exc:  # pragma: no cover - depends on the install
            from orthokit._optional import install_hint

            raise ImportError(
                f"orthokit.mixed.{name} needs torch and skorch: "
                f"{install_hint('torch')} ({exc})."
            ) from exc
        return getattr(module, name)
    raise AttributeError(f"module 'orthokit.mixed' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
