"""Read-only queries behind the web console: counts, newest-first pages and the runs of an
experiment, filtered and paginated in SQL so that a page costs the same with ten records or
thousands. List pages read only the fields they show (json_extract on the stored Describe bodies),
never whole records: a pipeline execution's body carries its definition snapshot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from emulator.core.services import Services
from emulator.store.db import prefix_successor


@dataclass
class Page:
    rows: list[dict[str, Any]]   # {"name", "created", <field path>: value, ...}
    total: int
    offset: int
    limit: int

    @property
    def has_next(self) -> bool:
        return self.offset + len(self.rows) < self.total

    @property
    def has_previous(self) -> bool:
        return self.offset > 0


def counts(services: Services) -> dict[str, int]:
    """How many records of each kind there are."""
    return {r["kind"]: r["n"] for r in services.db.query("SELECT kind, COUNT(*) AS n FROM resources GROUP BY kind")}


def page(services: Services, kind: str, fields: Sequence[str], *, equals: dict[str, Any] | None = None,
         name_contains: str | None = None, name_prefix: str | None = None, offset: int = 0,
         limit: int = 50) -> Page:
    """One newest-first page of `kind`: each row has the name, creation time and the given top-level or
    dotted fields (`Status.PrimaryStatus`) of the record. `equals` filters on fields; `name_contains`
    matches case-insensitively; `name_prefix` is a range on the primary key."""
    where, params = ["kind=?"], [kind]
    for field, value in (equals or {}).items():
        where.append("json_extract(body, ?)=?")
        params += [f"$.{field}", value]
    if name_contains:
        where.append("instr(lower(name), ?)>0")
        params.append(name_contains.lower())
    if name_prefix:
        where.append("name>=?")
        params.append(name_prefix)
        upper = prefix_successor(name_prefix)
        if upper is not None:
            where.append("name<?")
            params.append(upper)
    clause = " AND ".join(where)
    total = services.db.query_one(f"SELECT COUNT(*) FROM resources WHERE {clause}", params)[0]
    columns = "".join(f", json_extract(body, ?) AS f{i}" for i in range(len(fields)))
    rows = services.db.query(
        f"SELECT name, created{columns} FROM resources WHERE {clause} ORDER BY created DESC, name LIMIT ? OFFSET ?",
        [f"$.{f}" for f in fields] + params + [limit, max(0, offset)])
    out = []
    for row in rows:
        item = {"name": row["name"], "created": row["created"]}
        item.update({field: row[f"f{i}"] for i, field in enumerate(fields)})
        out.append(item)
    return Page(out, total, max(0, offset), limit)


def experiment_components(services: Services, experiment: str) -> list[dict[str, Any]]:
    """The trial components (runs) linked to any trial of `experiment`, oldest first, each with the
    names of its trials in that experiment under `_trials`."""
    rows = services.db.query(
        "SELECT c.body AS body, t.name AS trial FROM resources t "
        "JOIN trial_links l ON l.trial = lower(t.name) "
        "JOIN resources c ON c.kind = 'TrialComponent' AND lower(c.name) = l.component "
        "WHERE t.kind = 'Trial' AND lower(json_extract(t.body, '$.ExperimentName')) = lower(?) "
        "ORDER BY c.created, c.name", (experiment,))
    found: dict[str, dict[str, Any]] = {}
    for row in rows:
        body = json.loads(row["body"])
        item = found.setdefault(body["TrialComponentName"], {**body, "_trials": []})
        item["_trials"].append(row["trial"])
    return list(found.values())


def trial_counts(services: Services) -> dict[str, int]:
    """Trials per experiment (lower-cased experiment name)."""
    rows = services.db.query("SELECT lower(json_extract(body, '$.ExperimentName')) AS e, COUNT(*) AS n "
                             "FROM resources WHERE kind='Trial' GROUP BY e")
    return {r["e"]: r["n"] for r in rows}
