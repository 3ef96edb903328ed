"""Pipeline and pipeline-execution records.

A pipeline record is its DescribePipeline response; every Create/Update adds a version row with the
definition string kept verbatim. An execution record is its DescribePipelineExecution response plus
private `_`-prefixed state (definition snapshot, resolved parameters, per-step state) that the
executor persists on every transition, so a restarted emulator resumes where it was.
"""

from __future__ import annotations

import json
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

from emulator.aws.errors import ConflictException, ResourceNotFound, ValidationException
from emulator.core import arns
from emulator.core.events import sagemaker as state_events
from emulator.core.services import Services
from emulator.store.db import register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS pipeline_versions (
    pipeline TEXT NOT NULL,
    version INTEGER NOT NULL,
    created REAL NOT NULL,
    definition TEXT NOT NULL,
    display_name TEXT,
    description TEXT,
    PRIMARY KEY (pipeline, version)
);
CREATE TABLE IF NOT EXISTS pipeline_callbacks (
    token TEXT PRIMARY KEY,
    execution_arn TEXT NOT NULL,
    step TEXT NOT NULL
);
""")

PIPELINE = "Pipeline"
EXECUTION = "PipelineExecution"
TERMINAL_EXECUTION = ("Succeeded", "Failed", "Stopped")
_ID_ALPHABET = string.ascii_lowercase + string.digits


def new_execution_id() -> str:
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(12))


def random_token(length: int = 10) -> str:
    """The random tail of pipeline job names and callback tokens: alphanumerics, mixed case."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(length))


def pipeline_name_from(name_or_arn: str) -> str:
    arn = arns.parse_arn(name_or_arn)
    if arn is None or arn.resource_type != "pipeline":
        return name_or_arn
    return arn.resource_path.split("/")[0]


# --- pipelines --------------------------------------------------------------------------------

def get_pipeline(services: Services, name_or_arn: str) -> dict[str, Any]:
    name = pipeline_name_from(name_or_arn)
    record = services.records.get(PIPELINE, name)
    if record is None:
        # Names are case-insensitive for lookups.
        for candidate in services.records.names(PIPELINE):
            if candidate.lower() == name.lower():
                record = services.records.get(PIPELINE, candidate)
                break
    if record is None:
        arn = arns.sagemaker_arn("Pipeline", name, services.settings.region, services.account_id)
        raise ResourceNotFound(f"Pipeline '{arn}' does not exist.")
    return record


def create_pipeline(services: Services, region: str, req: dict[str, Any], definition: str) -> dict[str, Any]:
    name = req["PipelineName"]
    arn = arns.sagemaker_arn("Pipeline", name, region, services.account_id)
    now = time.time()
    body = {
        "PipelineArn": arn, "PipelineName": name, "PipelineDisplayName": req.get("PipelineDisplayName", name),
        "PipelineDefinition": definition, "PipelineDescription": req.get("PipelineDescription"),
        "RoleArn": req.get("RoleArn"), "PipelineStatus": "Active", "CreationTime": now, "LastModifiedTime": now,
        "CreatedBy": {}, "LastModifiedBy": {}, "ParallelismConfiguration": req.get("ParallelismConfiguration"),
        "_version": 1,
    }

    def conflict() -> Exception:
        # SDK v2 upsert() looks for ValidationException + "already exists" (pipeline_definitions.md §0).
        return ValidationException(f"Pipeline names must be unique within an AWS account and region. Pipeline with "
                                   f"name ({name}) already exists.")
    services.records.insert(PIPELINE, name, arn, body, conflict)
    _add_version(services, name, 1, definition, req)
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    return body


def update_pipeline(services: Services, req: dict[str, Any], definition: str | None) -> dict[str, Any]:
    current = get_pipeline(services, req["PipelineName"])
    name = current["PipelineName"]

    def change(body: dict) -> None:
        for key in ("PipelineDisplayName", "PipelineDescription", "RoleArn", "ParallelismConfiguration"):
            if req.get(key) is not None:
                body[key] = req[key]
        if definition is not None:
            body["PipelineDefinition"] = definition
        body["_version"] = body.get("_version", 1) + 1
        body["LastModifiedTime"] = time.time()
    body = services.records.update(PIPELINE, name, change)
    _add_version(services, name, body["_version"], body["PipelineDefinition"], req)
    return body


def _add_version(services: Services, name: str, version: int, definition: str, req: dict) -> None:
    with services.db.transaction() as conn:
        conn.execute("INSERT INTO pipeline_versions (pipeline, version, created, definition, display_name, "
                     "description) VALUES (?,?,?,?,?,?)",
                     (name, version, time.time(), definition, req.get("PipelineDisplayName"),
                      req.get("PipelineDescription")))


def versions(services: Services, name: str) -> list[dict[str, Any]]:
    rows = services.db.query("SELECT * FROM pipeline_versions WHERE pipeline=? ORDER BY version", (name,))
    return [dict(r) for r in rows]


def version_definition(services: Services, name: str, version: int) -> str:
    row = services.db.query_one("SELECT definition FROM pipeline_versions WHERE pipeline=? AND version=?",
                                (name, version))
    if row is None:
        raise ResourceNotFound(f"Pipeline version {version} of pipeline {name} does not exist.")
    return row["definition"]


def delete_pipeline(services: Services, name_or_arn: str) -> dict[str, Any]:
    pipeline = get_pipeline(services, name_or_arn)
    services.records.delete(PIPELINE, pipeline["PipelineName"])
    with services.db.transaction() as conn:
        conn.execute("DELETE FROM pipeline_versions WHERE pipeline=?", (pipeline["PipelineName"],))
    return pipeline


# --- executions -------------------------------------------------------------------------------

def get_execution(services: Services, arn: str) -> dict[str, Any]:
    record = services.records.get(EXECUTION, arn)
    if record is None:
        raise ResourceNotFound(f"Pipeline execution '{arn}' does not exist.")
    return record


def insert_execution(services: Services, body: dict[str, Any]) -> None:
    arn = body["PipelineExecutionArn"]
    services.records.insert(EXECUTION, arn, arn, body,
                            lambda: ConflictException(f"Pipeline execution {arn} already exists."))
    state_events.execution_changed(services, None, body)


def update_execution(services: Services, arn: str, change: Callable[[dict], Any]) -> dict[str, Any]:
    before: list[dict] = []

    def apply(body: dict) -> None:
        before.append(json.loads(json.dumps({k: body.get(k) for k in ("PipelineExecutionStatus", "_steps")})))
        change(body)
        body["LastModifiedTime"] = time.time()
    body = services.records.update(EXECUTION, arn, apply)
    if body is None:
        raise ResourceNotFound(f"Pipeline execution '{arn}' does not exist.")
    state_events.execution_changed(services, before[-1], body)
    return body


def executions_of(services: Services, pipeline_name: str) -> list[dict[str, Any]]:
    return [e for e in services.records.list(EXECUTION) if e.get("_pipeline") == pipeline_name]


def all_executions(services: Services) -> list[dict[str, Any]]:
    return services.records.list(EXECUTION)


def register_callback(services: Services, token: str, execution_arn: str, step: str) -> None:
    with services.db.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO pipeline_callbacks (token, execution_arn, step) VALUES (?,?,?)",
                     (token, execution_arn, step))


def find_callback(services: Services, token: str) -> tuple[str, str]:
    row = services.db.query_one("SELECT execution_arn, step FROM pipeline_callbacks WHERE token=?", (token,))
    if row is None:
        raise ValidationException(f"Callback token {token} is invalid or has expired.")
    return row["execution_arn"], row["step"]


def public_step(state: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in state.items() if not k.startswith("_")}


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
