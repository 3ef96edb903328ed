"""How the console writes times, durations, numbers and JSON."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from typing import Any

from jinja2 import Undefined

# Statuses after which a resource changes no more: pages stop polling once they see one.
TERMINAL = {"Completed", "Failed", "Stopped", "Succeeded"}


def _missing(value: Any) -> bool:
    return value is None or value == "" or isinstance(value, Undefined)


def when(epoch: float | None) -> str:
    if _missing(epoch):
        return "—"
    return datetime.fromtimestamp(float(epoch), tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def duration(start: float | None, end: float | None = None) -> str:
    """Human duration from `start` to `end` (now when None)."""
    if _missing(start):
        return "—"
    seconds = max(0, round((time.time() if _missing(end) else float(end)) - float(start)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def number(value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return "—" if _missing(value) else str(value)
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:.6g}"


def pretty(value: Any) -> str:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return value
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def is_terminal(status: str | None) -> bool:
    return status in TERMINAL
