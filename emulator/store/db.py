"""SQLite access: one WAL database under the data dir, one connection per thread.

WAL lets readers run while a writer commits, so Describe/List calls stay fast while jobs record
their transitions. Every write goes through `transaction()`, which takes the write lock up front
(BEGIN IMMEDIATE) so read-modify-write sequences never interleave.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SCHEMA: list[str] = []


def register_schema(ddl: str) -> None:
    """Modules that own tables register their DDL at import time (CREATE ... IF NOT EXISTS)."""
    if ddl not in _SCHEMA:
        _SCHEMA.append(ddl)


def prefix_successor(text: str) -> str | None:
    """The smallest string greater than every string that starts with `text` (None if unbounded):
    `col >= text AND col < prefix_successor(text)` is a prefix match an index can serve."""
    while text:
        code = ord(text[-1])
        if code < 0x10FFFF and not 0xD7FF <= code < 0xE000:
            return text[:-1] + chr(code + 1)
        text = text[:-1]
    return None


class Database:
    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self.ensure_schema()

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA foreign_keys=ON")
            self._local.conn = conn
            with self._lock:
                self._all.append(conn)
        return conn

    def ensure_schema(self) -> None:
        conn = self.connection()
        for ddl in _SCHEMA:
            conn.executescript(ddl)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        return self.connection().execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | list = ()) -> sqlite3.Row | None:
        return self.connection().execute(sql, params).fetchone()

    def wipe(self) -> None:
        """Delete every row of every table (used by POST /_emulator/reset)."""
        self.ensure_schema()
        with self.transaction() as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')

    def close(self) -> None:
        with self._lock:
            for conn in self._all:
                try:
                    conn.close()
                except sqlite3.Error:
                    pass
            self._all.clear()
        self._local = threading.local()
