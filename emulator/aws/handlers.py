"""The handler registry: plain functions keyed by (service, operation). A handler receives the
validated request as a dict and returns the response as a dict; the protocol layer does everything
else. Handlers live in emulator.api and register themselves with `@handler` when imported."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RequestContext:
    services: Any   # the emulator's domain services (emulator.core.services.Services), opaque to the wire
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
