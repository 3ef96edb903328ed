"""Waking a controller for something that is not a record write (core never imports the runtime)."""

from __future__ import annotations


def announce(services, kind: str, name: str) -> None:
    """Have the controller owning `kind` sync `name` now: the signal a record write sends, for work a
    record write does not cause (datapoints arriving for an alarm's metric, events queued for
    delivery)."""
    services.changed(kind, name)
