"""The filtering, sorting and pagination shared by SageMaker's List* operations.

AWS's List* calls share one vocabulary: NameContains, CreationTimeAfter/Before,
LastModifiedTimeAfter/Before, StatusEquals, SortBy (Name | CreationTime | Status), SortOrder
(Ascending | Descending, default Descending), MaxResults and an opaque NextToken.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from emulator.aws.errors import ValidationException
from emulator.aws.serialize import to_epoch

if TYPE_CHECKING:
    from emulator.core.records import Records

MAX_OFFSET = 1 << 62  # a token past this is not one of ours (and would overflow SQLite's OFFSET)


@dataclass
class ListFields:
    """Which keys of a record hold the name, times and status (they differ per resource)."""
    name: str
    created: str = "CreationTime"
    modified: str = "LastModifiedTime"
    status: str | None = None


def encode_token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"o": offset}).encode()).decode()


def decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        offset = int(json.loads(base64.urlsafe_b64decode(token.encode()))["o"])
    except Exception:
        raise ValidationException("Invalid pagination token") from None
    if not 0 <= offset < MAX_OFFSET:
        raise ValidationException("Invalid pagination token")
    return offset


def filter_sort_page(items: Iterable[dict[str, Any]], request: dict[str, Any], fields: ListFields,
                     default_sort: str = "CreationTime", default_max: int = 10,
                     sort_keys: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    out = list(items)
    contains = request.get("NameContains")
    if contains:
        out = [i for i in out if contains.lower() in i.get(fields.name, "").lower()]
    for key, field, after in (("CreationTimeAfter", fields.created, True),
                              ("CreationTimeBefore", fields.created, False),
                              ("LastModifiedTimeAfter", fields.modified, True),
                              ("LastModifiedTimeBefore", fields.modified, False)):
        if request.get(key) is not None:
            bound = to_epoch(request[key])
            out = [i for i in out if i.get(field) is not None
                   and (to_epoch(i[field]) > bound if after else to_epoch(i[field]) < bound)]
    if request.get("StatusEquals") and fields.status:
        out = [i for i in out if i.get(fields.status) == request["StatusEquals"]]
    keys = {"Name": fields.name, "CreationTime": fields.created, "CreationTimeStamp": fields.created,
            "Status": fields.status or fields.name, **(sort_keys or {})}
    sort_by = keys.get(request.get("SortBy") or default_sort, fields.created)
    descending = (request.get("SortOrder") or "Descending") == "Descending"
    out.sort(key=lambda i: (i.get(sort_by) is None, i.get(sort_by) or 0), reverse=descending)
    start = decode_token(request.get("NextToken"))
    limit = request.get("MaxResults") or default_max
    page = out[start:start + limit]
    token = encode_token(start + limit) if start + limit < len(out) else None
    return page, token


def list_page(records: Records, kind: str, request: dict[str, Any], fields: ListFields,
              default_sort: str = "CreationTime", default_max: int = 10,
              where_members: Sequence[tuple[str, str, Any]] = (),
              sort_keys: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], str | None]:
    """filter_sort_page over one kind of stored record, done by SQLite: only the page is read and
    parsed, however many records there are. Same filters, order (ties in creation order) and tokens.
    `where_members`: further (member, operator, value) conditions of the resource's own filters
    (ListMonitoringExecutions' EndpointName, ScheduledTimeBefore, ...); `sort_keys` its own SortBy values."""
    def member(name: str) -> str:  # names come from code (ListFields), never from the request
        return f"json_extract(body, '$.{name}')"
    where, params = ["kind=?"], [kind]
    if request.get("NameContains"):
        where.append(f"instr(lower({member(fields.name)}), lower(?)) > 0")
        params.append(request["NameContains"])
    for key, field, op in (("CreationTimeAfter", fields.created, ">"), ("CreationTimeBefore", fields.created, "<"),
                           ("LastModifiedTimeAfter", fields.modified, ">"),
                           ("LastModifiedTimeBefore", fields.modified, "<")):
        if request.get(key) is not None:
            where.append(f"{member(field)} {op} ?")
            params.append(to_epoch(request[key]))
    if request.get("StatusEquals") and fields.status:
        where.append(f"{member(fields.status)} = ?")
        params.append(request["StatusEquals"])
    for name, op, value in where_members:
        assert op in ("=", "<", ">")
        where.append(f"{member(name)} {op} ?")
        params.append(value)
    keys = {"Name": fields.name, "CreationTime": fields.created, "CreationTimeStamp": fields.created,
            "Status": fields.status or fields.name, **(sort_keys or {})}
    sort_by = member(keys.get(request.get("SortBy") or default_sort, fields.created))
    direction = "ASC" if request.get("SortOrder") == "Ascending" else "DESC"
    start = decode_token(request.get("NextToken"))
    limit = request.get("MaxResults") or default_max
    rows = records.db.query(
        f"SELECT body FROM resources WHERE {' AND '.join(where)} "
        f"ORDER BY ({sort_by} IS NULL) {direction}, {sort_by} {direction}, created LIMIT ? OFFSET ?",
        params + [limit + 1, start])
    items = [json.loads(r["body"]) for r in rows]
    token = encode_token(start + limit) if len(items) > limit else None
    return items[:limit], token


def pick(record: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
    return {k: record[k] for k in keys if record.get(k) is not None}
