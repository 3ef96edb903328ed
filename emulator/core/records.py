"""Durable resource records: one row per SageMaker resource, its Describe* response as JSON.

The stored body *is* the Describe response (timestamps as epoch seconds), so a Describe handler
returns it as is and the protocol layer's shape-driven serialiser does the rest. Tags live in their
own table keyed by ARN, as AddTags/ListTags/DeleteTags address resources by ARN.

Every committed change of a record is announced through `on_change(kind, name)` (an update that
leaves the body as it was is not a change): that is what sets controllers to work.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from emulator.store.db import Database, register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS resources (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    arn TEXT NOT NULL,
    created REAL NOT NULL,
    body TEXT NOT NULL,
    PRIMARY KEY (kind, name)
);
CREATE INDEX IF NOT EXISTS resources_arn ON resources (arn);
-- Newest-first pages of one kind (the web console's lists) read only the rows they show.
CREATE INDEX IF NOT EXISTS resources_kind_created ON resources (kind, created);
CREATE TABLE IF NOT EXISTS tags (
    arn TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (arn, key)
);
""")


class Records:
    def __init__(self, db: Database, on_change: Callable[[str, str], None] | None = None) -> None:
        self.db = db
        self._on_change = on_change or (lambda kind, name: None)

    def insert(self, kind: str, name: str, arn: str, body: dict[str, Any],
               on_conflict: Callable[[], Exception]) -> dict[str, Any]:
        """Create a record; `on_conflict()` builds the error raised when the name is taken."""
        with self.db.transaction() as conn:
            # SageMaker names are unique regardless of case (its ARNs lower-case them).
            if conn.execute("SELECT 1 FROM resources WHERE kind=? AND lower(name)=lower(?)", (kind, name)).fetchone():
                raise on_conflict()
            conn.execute("INSERT INTO resources (kind, name, arn, created, body) VALUES (?,?,?,?,?)",
                         (kind, name, arn, time.time(), json.dumps(body)))
        self._on_change(kind, name)
        return body

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        row = self.db.query_one("SELECT body FROM resources WHERE kind=? AND name=?", (kind, name))
        if row is None:
            # Clients describe jobs by the tail of their (lower-cased) ARN: look names up case-insensitively.
            row = self.db.query_one("SELECT body FROM resources WHERE kind=? AND lower(name)=lower(?)", (kind, name))
        return json.loads(row["body"]) if row else None

    def get_by_arn(self, arn: str) -> tuple[str, str, dict[str, Any]] | None:
        row = self.db.query_one("SELECT kind, name, body FROM resources WHERE arn=?", (arn,))
        return (row["kind"], row["name"], json.loads(row["body"])) if row else None

    def update(self, kind: str, name: str, change: Callable[[dict[str, Any]], Any]) -> dict[str, Any] | None:
        """Read-modify-write under the write lock; `change` mutates the body in place."""
        with self.db.transaction() as conn:
            name = _canonical(conn, kind, name)
            row = conn.execute("SELECT body FROM resources WHERE kind=? AND name=?", (kind, name)).fetchone()
            if row is None:
                return None
            body = json.loads(row["body"])
            change(body)
            text = json.dumps(body)
            if text == row["body"]:
                return body
            conn.execute("UPDATE resources SET body=? WHERE kind=? AND name=?", (text, kind, name))
        self._on_change(kind, name)
        return body

    def put(self, kind: str, name: str, arn: str, body: dict[str, Any]) -> None:
        with self.db.transaction() as conn:
            conn.execute(
                "INSERT INTO resources (kind, name, arn, created, body) VALUES (?,?,?,?,?) "
                "ON CONFLICT(kind, name) DO UPDATE SET body=excluded.body, arn=excluded.arn",
                (kind, name, arn, time.time(), json.dumps(body)))
        self._on_change(kind, name)

    def delete(self, kind: str, name: str) -> bool:
        with self.db.transaction() as conn:
            name = _canonical(conn, kind, name)
            row = conn.execute("SELECT arn FROM resources WHERE kind=? AND name=?", (kind, name)).fetchone()
            if row is None:
                return False
            conn.execute("DELETE FROM resources WHERE kind=? AND name=?", (kind, name))
            conn.execute("DELETE FROM tags WHERE arn=?", (row["arn"],))
        self._on_change(kind, name)
        return True

    def list(self, kind: str) -> list[dict[str, Any]]:
        rows = self.db.query("SELECT body FROM resources WHERE kind=? ORDER BY created", (kind,))
        return [json.loads(r["body"]) for r in rows]

    def list_where(self, kind: str, field: str, *, exclude: tuple[str, ...]) -> list[dict[str, Any]]:
        """Records whose top-level `field` is none of `exclude` (filtered in SQL, not in Python)."""
        marks = ",".join("?" * len(exclude))
        rows = self.db.query(f"SELECT body FROM resources WHERE kind=? AND json_extract(body, ?) NOT IN ({marks}) "
                             "ORDER BY created", (kind, f"$.{field}", *exclude))
        return [json.loads(r["body"]) for r in rows]

    def names(self, kind: str) -> list[str]:
        return [r["name"] for r in self.db.query("SELECT name FROM resources WHERE kind=?", (kind,))]

    # --- tags -------------------------------------------------------------------------------
    def add_tags(self, arn: str, tags: list[dict[str, str]]) -> None:
        with self.db.transaction() as conn:
            for tag in tags:
                conn.execute("INSERT INTO tags (arn, key, value) VALUES (?,?,?) "
                             "ON CONFLICT(arn, key) DO UPDATE SET value=excluded.value",
                             (arn, tag["Key"], tag.get("Value", "")))

    def list_tags(self, arn: str) -> list[dict[str, str]]:
        rows = self.db.query("SELECT key, value FROM tags WHERE arn=? ORDER BY key", (arn,))
        return [{"Key": r["key"], "Value": r["value"]} for r in rows]

    def delete_tags(self, arn: str, keys: list[str]) -> None:
        with self.db.transaction() as conn:
            conn.executemany("DELETE FROM tags WHERE arn=? AND key=?", [(arn, k) for k in keys])

    def arn_exists(self, arn: str) -> bool:
        return self.db.query_one("SELECT 1 FROM resources WHERE arn=?", (arn,)) is not None


def _canonical(conn, kind: str, name: str) -> str:
    """The stored spelling of a name given in any case."""
    row = conn.execute("SELECT name FROM resources WHERE kind=? AND lower(name)=lower(?) "
                       "ORDER BY name=? DESC LIMIT 1", (kind, name, name)).fetchone()
    return row["name"] if row else name
