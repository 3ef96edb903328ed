"""CloudWatch Logs storage: groups, streams and events in SQLite.

Jobs write their container output here (group /aws/sagemaker/TrainingJobs, stream
<job>/algo-<n>-<epoch>), and the Logs API reads it back. Tokens follow AWS's shape: GetLogEvents
always returns both tokens, and returns the same forward token with no events once a reader has
caught up, which is what the SageMaker SDK's `logs=True` loop waits for.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import regex

from emulator.store.db import Database, prefix_successor, register_schema

# One FilterLogEvents call examines at most this many events (AWS also answers a page with fewer
# events, even none, and a nextToken when it stops searching); a filter regex gets this long per event.
MAX_SCANNED_EVENTS = 100_000
REGEX_TIMEOUT_SECONDS = 0.05

register_schema("""
CREATE TABLE IF NOT EXISTS log_groups (
    name TEXT PRIMARY KEY,
    created INTEGER NOT NULL,
    retention INTEGER
);
CREATE TABLE IF NOT EXISTS log_streams (
    grp TEXT NOT NULL,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    first_event INTEGER,
    last_event INTEGER,
    last_ingestion INTEGER,
    PRIMARY KEY (grp, name)
);
CREATE TABLE IF NOT EXISTS log_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    grp TEXT NOT NULL,
    stream TEXT NOT NULL,
    ts INTEGER NOT NULL,
    ingestion INTEGER NOT NULL,
    message TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS log_events_stream ON log_events (grp, stream, ts, id);
-- Reading a stream on from an event id (the console's live tail) seeks instead of scanning it.
CREATE INDEX IF NOT EXISTS log_events_stream_id ON log_events (grp, stream, id);
-- FilterLogEvents pages through a group in (timestamp, id) order.
CREATE INDEX IF NOT EXISTS log_events_time ON log_events (grp, ts, id);
""")


class FilterPatternError(ValueError):
    """A filter pattern that is not valid CloudWatch syntax, or too costly to evaluate."""


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class Page:
    events: list[dict[str, Any]]
    forward: str
    backward: str


class LogStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- writers ----------------------------------------------------------------------------
    def create_group(self, name: str) -> bool:
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM log_groups WHERE name=?", (name,)).fetchone():
                return False
            conn.execute("INSERT INTO log_groups (name, created) VALUES (?,?)", (name, now_ms()))
            return True

    def create_stream(self, group: str, stream: str) -> bool:
        with self.db.transaction() as conn:
            if conn.execute("SELECT 1 FROM log_streams WHERE grp=? AND name=?", (group, stream)).fetchone():
                return False
            conn.execute("INSERT INTO log_streams (grp, name, created) VALUES (?,?,?)", (group, stream, now_ms()))
            return True

    def put_events(self, group: str, stream: str, events: list[tuple[int, str]]) -> None:
        """Append events [(timestamp_ms, message)], creating the group and stream when needed."""
        if not events:
            return
        ingestion = now_ms()
        with self.db.transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO log_groups (name, created) VALUES (?,?)", (group, ingestion))
            conn.execute("INSERT OR IGNORE INTO log_streams (grp, name, created) VALUES (?,?,?)",
                         (group, stream, ingestion))
            conn.executemany("INSERT INTO log_events (grp, stream, ts, ingestion, message) VALUES (?,?,?,?,?)",
                             [(group, stream, ts, ingestion, msg) for ts, msg in events])
            first = min(ts for ts, _ in events)
            last = max(ts for ts, _ in events)
            conn.execute(
                "UPDATE log_streams SET first_event=MIN(COALESCE(first_event, ?), ?), "
                "last_event=MAX(COALESCE(last_event, ?), ?), last_ingestion=? WHERE grp=? AND name=?",
                (first, first, last, last, ingestion, group, stream))

    def delete_group(self, name: str) -> bool:
        with self.db.transaction() as conn:
            found = conn.execute("DELETE FROM log_groups WHERE name=?", (name,)).rowcount > 0
            conn.execute("DELETE FROM log_streams WHERE grp=?", (name,))
            conn.execute("DELETE FROM log_events WHERE grp=?", (name,))
            return found

    def delete_stream(self, group: str, stream: str) -> bool:
        with self.db.transaction() as conn:
            found = conn.execute("DELETE FROM log_streams WHERE grp=? AND name=?", (group, stream)).rowcount > 0
            conn.execute("DELETE FROM log_events WHERE grp=? AND stream=?", (group, stream))
            return found

    # --- readers ----------------------------------------------------------------------------
    def group_exists(self, name: str) -> bool:
        return self.db.query_one("SELECT 1 FROM log_groups WHERE name=?", (name,)) is not None

    def stream_exists(self, group: str, stream: str) -> bool:
        return self.db.query_one("SELECT 1 FROM log_streams WHERE grp=? AND name=?", (group, stream)) is not None

    def groups(self, prefix: str = "", *, contains: str | None = None, offset: int = 0,
               limit: int = -1) -> list[dict[str, Any]]:
        """Groups by name, filtered and paged in SQL (`limit` -1: all)."""
        where, params = ["substr(name, 1, ?)=?"], [len(prefix), prefix]
        if contains:
            where.append("instr(lower(name), lower(?)) > 0")
            params.append(contains)
        rows = self.db.query(f"SELECT name, created, retention FROM log_groups WHERE {' AND '.join(where)} "
                             "ORDER BY name LIMIT ? OFFSET ?", params + [limit, offset])
        return [dict(r) for r in rows]

    def streams(self, group: str, prefix: str = "", order_by_time: bool = False, descending: bool = False, *,
                offset: int = 0, limit: int = -1) -> list[dict[str, Any]]:
        """A group's streams by name or by last event time, filtered and paged in SQL."""
        direction = "DESC" if descending else "ASC"
        order = f"COALESCE(last_event, 0) {direction}, name {direction}" if order_by_time else f"name {direction}"
        rows = self.db.query(
            "SELECT name, created, first_event, last_event, last_ingestion FROM log_streams "
            f"WHERE grp=? AND substr(name, 1, ?)=? ORDER BY {order} LIMIT ? OFFSET ?",
            (group, len(prefix), prefix, limit, offset))
        return [dict(r) for r in rows]

    def stored_bytes(self, group: str, stream: str | None = None) -> int:
        sql = "SELECT COALESCE(SUM(LENGTH(message)), 0) FROM log_events WHERE grp=?"
        params: list[Any] = [group]
        if stream is not None:
            sql += " AND stream=?"
            params.append(stream)
        return int(self.db.query_one(sql, params)[0])

    def read_stream(self, group: str, stream: str, *, start: int | None, end: int | None,
                    after_id: int | None, before_id: int | None, limit: int, from_head: bool) -> Page:
        """One GetLogEvents page. Event ids are the cursor; tokens are `f/<id>` and `b/<id>`."""
        where = ["grp=?", "stream=?"]
        params: list[Any] = [group, stream]
        if start is not None:
            where.append("ts>=?")
            params.append(start)
        if end is not None:
            where.append("ts<?")
            params.append(end)
        if after_id is not None:
            where.append("id>?")
            params.append(after_id)
        if before_id is not None:
            where.append("id<?")
            params.append(before_id)
        forward = after_id is not None or (before_id is None and from_head)
        order = "ASC" if forward else "DESC"
        rows = self.db.query(f"SELECT id, ts, ingestion, message FROM log_events WHERE {' AND '.join(where)} "
                             f"ORDER BY id {order} LIMIT ?", params + [limit])
        rows = list(rows) if forward else list(reversed(rows))
        events = [{"timestamp": r["ts"], "message": r["message"], "ingestionTime": r["ingestion"]} for r in rows]
        if rows:
            fwd_id, back_id = rows[-1]["id"], rows[0]["id"]
        else:
            # Caught up: hand back the same position so the reader polls from where it is.
            fwd_id = after_id if after_id is not None else (before_id - 1 if before_id else 0)
            back_id = before_id if before_id is not None else (after_id + 1 if after_id is not None else 0)
        return Page(events, f"f/{fwd_id:056d}", f"b/{back_id:056d}")

    def prefix_events(self, group: str, prefix: str, *, after_id: int = 0, limit: int = 1000,
                      newest: bool = False) -> list[dict[str, Any]]:
        """Events of every stream whose name starts with `prefix` (a job's hosts), in arrival order:
        the first `limit` after event `after_id`, or with `newest` the last `limit` of them. Each event
        carries its id, the cursor for reading on. One indexed query per stream, merged by id."""
        upper = prefix_successor(prefix)
        streams = [r["name"] for r in self.db.query(
            "SELECT name FROM log_streams WHERE grp=? AND name>=?" + (" AND name<?" if upper else ""),
            [group, prefix] + ([upper] if upper else []))]
        order = "DESC" if newest else "ASC"
        events: list[dict[str, Any]] = []
        for stream in streams:
            rows = self.db.query(f"SELECT id, stream, ts, message FROM log_events WHERE grp=? AND stream=? AND id>? "
                                 f"ORDER BY id {order} LIMIT ?", (group, stream, after_id, limit))
            events.extend(dict(r) for r in rows)
        events.sort(key=lambda e: e["id"])
        return events[-limit:] if newest else events[:limit]

    def filter_events(self, group: str, *, streams: list[str] | None, prefix: str | None,
                      start: int | None, end: int | None, pattern: str | None,
                      after: tuple[int, int] | None, limit: int) -> tuple[list[dict[str, Any]], tuple[int, int] | None]:
        """One FilterLogEvents page in (timestamp, id) order; the cursor is the last event examined,
        returned when the page is full or the scan budget is spent (None: nothing more to search).
        Rows are streamed from SQLite, never all loaded."""
        matcher = compile_filter_pattern(pattern)
        where = ["grp=?"]
        params: list[Any] = [group]
        if after is not None:
            where.append("(ts>? OR (ts=? AND id>?))")
            params.extend([after[0], after[0], after[1]])
        if streams:
            where.append(f"stream IN ({','.join('?' * len(streams))})")
            params.extend(streams)
        if prefix:
            where.append("substr(stream, 1, ?)=?")
            params.extend([len(prefix), prefix])
        if start is not None:
            where.append("ts>=?")
            params.append(start)
        if end is not None:
            where.append("ts<=?")
            params.append(end)
        out: list[dict[str, Any]] = []
        with self.db.connection() as conn:
            cursor = conn.execute(f"SELECT id, stream, ts, ingestion, message FROM log_events "
                                  f"WHERE {' AND '.join(where)} ORDER BY ts, id", params)
            try:
                for scanned, r in enumerate(cursor, start=1):
                    if matcher(r["message"]):
                        out.append({"logStreamName": r["stream"], "timestamp": r["ts"], "message": r["message"],
                                    "ingestionTime": r["ingestion"], "eventId": str(r["id"])})
                        if len(out) >= limit:
                            return out, (r["ts"], r["id"])
                    if scanned >= MAX_SCANNED_EVENTS:
                        return out, (r["ts"], r["id"])
            finally:
                cursor.close()
        return out, None


def compile_filter_pattern(pattern: str | None) -> Callable[[str], bool]:
    """CloudWatch filter patterns for unstructured logs: terms that must all appear, `-term` that
    must not, "quoted phrases", `?term` alternatives, and `%regex%`. JSON/space-delimited patterns
    are matched as plain terms. A regex runs in the `regex` engine with a per-event time limit, so a
    pattern written to backtrack catastrophically answers an error instead of holding a worker."""
    if not pattern or not pattern.strip():
        return lambda message: True
    pattern = pattern.strip()
    if len(pattern) > 1 and pattern.startswith("%") and pattern.endswith("%"):
        try:
            compiled = regex.compile(pattern[1:-1])
        except (regex.error, ValueError, OverflowError) as exc:
            raise FilterPatternError(f"Invalid regex in the filter pattern: {exc}") from None

        def search(message: str) -> bool:
            try:
                return compiled.search(message, timeout=REGEX_TIMEOUT_SECONDS) is not None
            except TimeoutError:
                raise FilterPatternError("The filter pattern's regex is too expensive to evaluate.") from None
        return search
    terms = re.findall(r'[-?]?"[^"]*"|\S+', pattern)
    required, excluded, optional = [], [], []
    for term in terms:
        bucket = required
        if term.startswith("-"):
            bucket, term = excluded, term[1:]
        elif term.startswith("?"):
            bucket, term = optional, term[1:]
        bucket.append(term.strip('"'))

    def match(message: str) -> bool:
        if any(t in message for t in excluded):
            return False
        if optional and not any(t in message for t in optional):
            return False
        return all(t in message for t in required)
    return match
