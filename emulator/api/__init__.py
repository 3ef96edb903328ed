"""The API handlers, one module per resource family; each registers its operations with
emulator.aws.handlers when imported (`load_all`)."""

from __future__ import annotations


def load_all() -> None:
    """Import every handler module so their decorators run."""
    import importlib
    import pkgutil

    for info in pkgutil.walk_packages(__path__, prefix=f"{__name__}."):
        if info.name.endswith(".s3") or ".s3." in info.name:
            continue
        importlib.import_module(info.name)
