"""Delivering queued events to their targets.

A target kind that acts registers an actor (`register_actor`): the SageMaker pipeline target, whose
actor lives with the pipelines (it starts executions through the same code as StartPipelineExecution).
Any other target (SNS, SQS, Lambda, ...) is recorded as delivered nowhere and logged. A delivery that
fails for a reason worth retrying (not a client error) is retried with back-off within the target's
RetryPolicy (EventBridge's default: 185 attempts over 24 hours); each delivery's outcome stays in
`event_deliveries` (the last `KEEP_FINISHED`), readable at GET /_emulator/events.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from emulator.aws.errors import AwsError
from emulator.core.events import transform

log = logging.getLogger(__name__)

KEEP_FINISHED = 10_000
DEFAULT_ATTEMPTS = 185
DEFAULT_MAX_AGE = 86400
BATCH = 100

# (does this actor handle the target?, act(services, region, target, event, rule) -> result text)
Actor = Callable[[Any, str, dict, dict, dict], str]
_ACTORS: list[tuple[Callable[[dict], bool], Actor]] = []


def register_actor(handles: Callable[[dict], bool], act: Actor) -> None:
    if (handles, act) not in _ACTORS:
        _ACTORS.append((handles, act))


def deliver_due(services, now: float | None = None) -> float | None:
    """Deliver every delivery that is due; returns when the next one falls due (None: none waits)."""
    now = time.time() if now is None else now
    while True:
        rows = services.db.query("SELECT * FROM event_deliveries WHERE status='pending' AND due <= ? ORDER BY seq "
                                 "LIMIT ?", (now, BATCH))
        for row in rows:
            _deliver(services, row, now)
        if len(rows) < BATCH:
            break
    _prune(services)
    row = services.db.query_one("SELECT MIN(due) AS due FROM event_deliveries WHERE status='pending'")
    return row["due"] if row and row["due"] is not None else None


def _deliver(services, row, now: float) -> None:
    target, event, rule = json.loads(row["target"]), json.loads(row["event"]), json.loads(row["rule"])
    region = event.get("region") or services.settings.region
    actor = next((act for handles, act in _ACTORS if handles(target)), None)
    attempts = row["attempts"] + 1
    try:
        payload = transform.target_input(target, event, rule)
        if actor is None:
            log.info("event %s for rule %s: target %s (%s) is delivered nowhere; input: %s", event["id"],
                     rule["Name"], target["Id"], target["Arn"], payload[:2000])
            _finish(services, row["seq"], "nowhere", attempts, {"input": payload})
            return
        result = actor(services, region, target, event, rule)
        _finish(services, row["seq"], "delivered", attempts, {"input": payload, "result": result})
    except Exception as exc:  # noqa: BLE001 - a target's failure is recorded, never raised to the publisher
        retryable = not (isinstance(exc, AwsError) and exc.status < 500)
        policy = target.get("RetryPolicy") or {}
        expired = now - row["created"] >= policy.get("MaximumEventAgeInSeconds", DEFAULT_MAX_AGE)
        if retryable and attempts <= policy.get("MaximumRetryAttempts", DEFAULT_ATTEMPTS) and not expired:
            delay = min(2.0 ** attempts, 300.0)
            with services.db.transaction() as conn:
                conn.execute("UPDATE event_deliveries SET attempts=?, due=?, result=? WHERE seq=?",
                             (attempts, now + delay, json.dumps({"error": str(exc)}), row["seq"]))
            log.warning("event %s to %s failed (attempt %d), retrying in %.0f s: %s", event["id"], target["Arn"],
                        attempts, delay, exc)
            return
        log.warning("event %s to %s failed: %s", event["id"], target["Arn"], exc)
        _finish(services, row["seq"], "failed", attempts, {"error": getattr(exc, "message", None) or str(exc)})


def _finish(services, seq: int, status: str, attempts: int, result: dict[str, Any]) -> None:
    with services.db.transaction() as conn:
        conn.execute("UPDATE event_deliveries SET status=?, attempts=?, result=? WHERE seq=?",
                     (status, attempts, json.dumps(result), seq))


def _prune(services) -> None:
    with services.db.transaction() as conn:
        conn.execute("DELETE FROM event_deliveries WHERE status != 'pending' AND seq <= "
                     "(SELECT seq FROM event_deliveries WHERE status != 'pending' ORDER BY seq DESC LIMIT 1 OFFSET ?)",
                     (KEEP_FINISHED,))


def recent(services, limit: int = 100) -> list[dict[str, Any]]:
    rows = services.db.query("SELECT * FROM event_deliveries ORDER BY seq DESC LIMIT ?", (limit,))
    out = []
    for r in rows:
        event, target, rule = json.loads(r["event"]), json.loads(r["target"]), json.loads(r["rule"])
        out.append({"rule": rule["Name"], "targetId": target["Id"], "targetArn": target["Arn"],
                    "eventId": event["id"], "source": event["source"], "detailType": event["detail-type"],
                    "status": r["status"], "attempts": r["attempts"], "created": r["created"],
                    "result": json.loads(r["result"]) if r["result"] else None})
    return out
