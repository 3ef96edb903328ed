"""SQLite access: one WAL database under the data dir, connections shared through a small pool.

WAL lets readers run while a writer commits, so Describe/List calls stay fast while jobs record
their transitions. Every write goes through `transaction()`, which takes the write lock up front
(BEGIN IMMEDIATE) so read-modify-write sequences never interleave.

A connection is borrowed for one query or one transaction and handed back, never tied to a thread:
the emulator starts threads per job, and a connection per thread kept three file descriptors open
per job until shutdown (~550 jobs exhausted `ulimit -n 1024`). Reads made inside a transaction use
the transaction's own connection, so they see its uncommitted writes.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_SCHEMA: list[str] = []
# Connections kept open between uses: enough for the request thread pool and the job threads that
# write at the same moment; a burst above it opens extra connections and closes them afterwards.
POOL_IDLE_MAX = 16


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
        self._local = threading.local()  # .conn: the connection this thread has borrowed, if any
        self._idle: list[sqlite3.Connection] = []
        self._open = 0
        self._lock = threading.Lock()
        self._closed = False
        self.ensure_schema()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=30000")
        conn.execute("PRAGMA foreign_keys=ON")
        return conn

    @contextmanager
    def connection(self) -> Iterator[sqlite3.Connection]:
        """Borrow a connection for the block (the thread's current one when it already holds one)."""
        held = getattr(self._local, "conn", None)
        if held is not None:
            yield held
            return
        with self._lock:
            conn = self._idle.pop() if self._idle else None
            if conn is None:
                self._open += 1
        if conn is None:
            try:
                conn = self._connect()
            except BaseException:
                with self._lock:
                    self._open -= 1
                raise
        self._local.conn = conn
        try:
            yield conn
        finally:
            self._local.conn = None
            self._give_back(conn)

    def _give_back(self, conn: sqlite3.Connection) -> None:
        if conn.in_transaction:  # a query abandoned mid-statement: never hand on an open transaction
            conn.rollback()
        with self._lock:
            if not self._closed and len(self._idle) < POOL_IDLE_MAX:
                self._idle.append(conn)
                return
            self._open -= 1
        conn.close()

    def ensure_schema(self) -> None:
        with self.connection() as conn:
            for ddl in _SCHEMA:
                conn.executescript(ddl)

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.connection() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            else:
                conn.execute("COMMIT")

    def query(self, sql: str, params: tuple | list = ()) -> list[sqlite3.Row]:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchall()

    def query_one(self, sql: str, params: tuple | list = ()) -> sqlite3.Row | None:
        with self.connection() as conn:
            return conn.execute(sql, params).fetchone()

    @property
    def open_connections(self) -> int:
        return self._open

    def wipe(self) -> None:
        """Delete every row of every table (used by POST /_emulator/reset)."""
        self.ensure_schema()
        with self.transaction() as conn:
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'")]
            for table in tables:
                conn.execute(f'DELETE FROM "{table}"')

    def close(self) -> None:
        """Close the idle connections; ones still borrowed close when they are handed back."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
            self._open -= len(idle)
        for conn in idle:
            try:
                conn.close()
            except sqlite3.Error:
                pass
