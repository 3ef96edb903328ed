"""The default event bus: PutEvents and the events AWS services send (CloudWatch alarm and SageMaker
state changes), matched against the enabled rules, with one durable delivery per (event, target).

Publishing never waits for a target: it writes the deliveries in one transaction and wakes the
delivery worker (delivery.py). Events that match no rule are dropped, as on AWS.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from emulator.aws.serialize import to_epoch
from emulator.core import wake
from emulator.core.events import patterns, rules
from emulator.store.db import register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS event_deliveries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    created REAL NOT NULL,
    due REAL NOT NULL,
    status TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    rule TEXT NOT NULL,
    target TEXT NOT NULL,
    event TEXT NOT NULL,
    result TEXT
);
CREATE INDEX IF NOT EXISTS event_deliveries_due ON event_deliveries (status, due);
""")

DELIVERY_KIND = "EventDelivery"
PENDING = "pending"  # the one key of the delivery queue
MAX_EVENT_BYTES = 256 * 1024


def iso_time(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def envelope(services, region: str, source: str, detail_type: str, resources: list[str], detail: Any,
             stamp: float) -> dict[str, Any]:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": detail_type, "source": source,
            "account": services.account_id, "time": iso_time(stamp), "region": region, "resources": list(resources),
            "detail": detail}


def emit(services, region: str, source: str, detail_type: str, resources: list[str], detail: Any, *,
         now: float | None = None) -> dict[str, Any]:
    """Send an AWS service's event to the default bus."""
    now = time.time() if now is None else now
    event = envelope(services, region, source, detail_type, resources, detail, now)
    route(services, event, now)
    return event


@lru_cache(maxsize=512)
def _pattern(text: str) -> dict[str, Any]:
    return patterns.parse(text)


def route(services, event: dict[str, Any], now: float) -> int:
    """Queue a delivery for every target of every enabled rule whose pattern matches; returns how many."""
    deliveries = []
    for rule in rules.enabled_rules(services, rules.DEFAULT_BUS):
        if not rule.get("_targets") or not patterns.matches(_pattern(rule["EventPattern"]), event):
            continue
        snapshot = json.dumps({k: rule.get(k) for k in ("Name", "Arn", "EventBusName")})
        for target in rule["_targets"]:
            deliveries.append((now, now, "pending", snapshot, json.dumps(target), json.dumps(event)))
    if deliveries:
        with services.db.transaction() as conn:
            conn.executemany("INSERT INTO event_deliveries (created, due, status, rule, target, event) "
                             "VALUES (?,?,?,?,?,?)", deliveries)
        wake.announce(services, DELIVERY_KIND, PENDING)
    return len(deliveries)


def put_events(services, region: str, entries: list[dict[str, Any]], *, now: float | None = None) -> dict[str, Any]:
    """PutEvents: each entry is accepted or fails on its own (EventBridge API reference)."""
    now = time.time() if now is None else now
    results, failed = [], 0
    for entry in entries:
        try:
            event = _event_of(services, region, entry, now)
        except _EntryError as err:
            failed += 1
            results.append({"ErrorCode": err.code, "ErrorMessage": err.message})
            continue
        route(services, event, now)
        results.append({"EventId": event["id"]})
    return {"FailedEntryCount": failed, "Entries": results}


class _EntryError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


def _event_of(services, region: str, entry: dict[str, Any], now: float) -> dict[str, Any]:
    for field in ("Source", "DetailType", "Detail"):
        if not entry.get(field):
            raise _EntryError("InvalidArgument", f"Parameter {field} is not valid. Reason: {field} is a required "
                                                 "argument.")
    try:
        rules.bus_name(entry.get("EventBusName"))
    except rules.ResourceNotFoundException as err:
        raise _EntryError("InvalidArgument", err.message) from None
    if entry["Source"].startswith("aws."):
        raise _EntryError("NotAuthorizedForSourceException", "Not authorized for the source.")
    try:
        detail = json.loads(entry["Detail"])
    except ValueError:
        raise _EntryError("MalformedDetail", "Detail is malformed.") from None
    if not isinstance(detail, dict):
        raise _EntryError("MalformedDetail", "Detail is malformed.")
    size = sum(len(str(entry.get(k) or "").encode()) for k in ("Source", "DetailType", "Detail")) + \
        sum(len(r.encode()) for r in entry.get("Resources") or [])
    if size > MAX_EVENT_BYTES:
        raise _EntryError("InvalidArgument", "Total size of the entries in the request is over the limit.")
    stamp = to_epoch(entry["Time"]) if entry.get("Time") is not None else now
    return envelope(services, region, entry["Source"], entry["DetailType"], entry.get("Resources") or [], detail,
                    stamp)
