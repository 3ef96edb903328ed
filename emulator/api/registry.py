"""Handlers are plain functions keyed by (service, operation). They receive the validated request
as a dict and return the response as a dict; the protocol layer does everything else."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.core.services import Services


@dataclass
class RequestContext:
    services: Services
    service: str
    operation: str
    region: str
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def account_id(self) -> str:
        return self.services.account_id


Handler = Callable[[RequestContext, dict[str, Any]], dict[str, Any] | None]
_HANDLERS: dict[tuple[str, str], Handler] = {}


def handler(service: str, operation: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        key = (service, operation)
        if key in _HANDLERS:
            raise RuntimeError(f"two handlers for {service}.{operation}")
        _HANDLERS[key] = fn
        return fn
    return register


def lookup(service: str, operation: str) -> Handler | None:
    return _HANDLERS.get((service, operation))


def implemented(service: str) -> list[str]:
    return sorted(op for svc, op in _HANDLERS if svc == service)


def load_all() -> None:
    """Import every handler module so their decorators run."""
    import importlib
    import pkgutil

    import emulator.api as api_pkg
    for info in pkgutil.walk_packages(api_pkg.__path__, prefix="emulator.api."):
        if info.name.endswith((".registry", ".s3")) or ".s3." in info.name:
            continue
        importlib.import_module(info.name)
