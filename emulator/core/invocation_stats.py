"""Per-minute invocation statistics of each endpoint variant: what the web console shows as recent
traffic and what the endpoint CloudWatch metrics are made of. The data path counts in memory
(emulator.runtime.serving.stats) and adds its totals here every few seconds: never a write per call.
"""

from __future__ import annotations

from dataclasses import dataclass

from emulator.store.db import Database, register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS invocation_stats (
    endpoint TEXT NOT NULL,
    variant TEXT NOT NULL,
    minute INTEGER NOT NULL,          -- epoch seconds // 60
    invocations INTEGER NOT NULL DEFAULT 0,
    errors_4xx INTEGER NOT NULL DEFAULT 0,
    errors_5xx INTEGER NOT NULL DEFAULT 0,
    model_latency_us INTEGER NOT NULL DEFAULT 0,     -- sums, for averages
    overhead_latency_us INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (endpoint, variant, minute)
);
""")


@dataclass
class MinuteCounts:
    endpoint: str
    variant: str
    minute: int
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    model_latency_us: int = 0
    overhead_latency_us: int = 0


def add(db: Database, counts: list[MinuteCounts]) -> None:
    with db.transaction() as conn:
        conn.executemany(
            "INSERT INTO invocation_stats VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(endpoint, variant, minute) DO UPDATE "
            "SET invocations=invocations+excluded.invocations, errors_4xx=errors_4xx+excluded.errors_4xx, "
            "errors_5xx=errors_5xx+excluded.errors_5xx, model_latency_us=model_latency_us+excluded.model_latency_us, "
            "overhead_latency_us=overhead_latency_us+excluded.overhead_latency_us",
            [(c.endpoint.lower(), c.variant, c.minute, c.invocations, c.errors_4xx, c.errors_5xx,
              c.model_latency_us, c.overhead_latency_us) for c in counts])


def recent(db: Database, endpoint: str, since: float) -> list[MinuteCounts]:
    """Every minute of `endpoint` from `since` on, oldest first."""
    rows = db.query("SELECT * FROM invocation_stats WHERE endpoint=? AND minute>=? ORDER BY minute, variant",
                             (endpoint.lower(), int(since // 60)))
    return [MinuteCounts(r["endpoint"], r["variant"], r["minute"], r["invocations"], r["errors_4xx"],
                         r["errors_5xx"], r["model_latency_us"], r["overhead_latency_us"]) for r in rows]


def forget(db: Database, endpoint: str) -> None:
    with db.transaction() as conn:
        conn.execute("DELETE FROM invocation_stats WHERE endpoint=?", (endpoint.lower(),))


def totals(db: Database, endpoints: list[str], since: float) -> dict[str, int]:
    """Invocations of each of `endpoints` (lower-cased names) since `since`."""
    if not endpoints:
        return {}
    marks = ",".join("?" * len(endpoints))
    rows = db.query(f"SELECT endpoint, SUM(invocations) AS n FROM invocation_stats WHERE minute>=? AND endpoint IN "
                    f"({marks}) GROUP BY endpoint", [int(since // 60), *[e.lower() for e in endpoints]])
    return {r["endpoint"]: r["n"] for r in rows}
