"""InvokeEndpointAsync's queue: each accepted request is stored until its output (or failure) is written,
so a request accepted before the emulator stopped -- even by kill -9 -- is still answered after it
restarts (AWS keeps async requests queued durably for up to RequestTTLSeconds)."""

from __future__ import annotations

import json
import time
from typing import Any

from emulator.store.db import Database, register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS async_invocations (
    id TEXT PRIMARY KEY,
    endpoint TEXT NOT NULL,
    created REAL NOT NULL,
    request TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS async_invocations_endpoint ON async_invocations (endpoint, created);
""")


def add(db: Database, invocation_id: str, endpoint: str, request: dict[str, Any]) -> None:
    with db.transaction() as conn:
        conn.execute("INSERT INTO async_invocations VALUES (?,?,?,?)",
                     (invocation_id, endpoint.lower(), time.time(), json.dumps(request)))


def done(db: Database, invocation_id: str) -> None:
    with db.transaction() as conn:
        conn.execute("DELETE FROM async_invocations WHERE id=?", (invocation_id,))


def pending(db: Database, endpoint: str) -> list[tuple[str, float, dict[str, Any]]]:
    rows = db.query("SELECT id, created, request FROM async_invocations WHERE endpoint=? ORDER BY created",
                    (endpoint.lower(),))
    return [(r["id"], r["created"], json.loads(r["request"])) for r in rows]


def forget(db: Database, endpoint: str) -> None:
    with db.transaction() as conn:
        conn.execute("DELETE FROM async_invocations WHERE endpoint=?", (endpoint.lower(),))
