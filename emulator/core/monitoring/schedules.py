"""Monitoring schedules: CreateMonitoringSchedule and the rest, and each schedule's clock.

A schedule names a job definition (MonitoringJobDefinitionName + MonitoringType) or embeds one
(MonitoringJobDefinition, the generic ModelMonitor form). It is `Pending` when created or updated until the
scheduler has taken it in, then `Scheduled`; Stop/Start toggle `Stopped`/`Scheduled` (SageMaker's
statuses, inference_and_monitoring.md §4.2). SageMaker refuses to delete a schedule still Pending
("Monitoring schedule in status Pending", seen from DeleteMonitoringSchedule); deleting one keeps its
execution history (DeleteMonitoringSchedule: "This does not delete the job execution history").

Besides the Describe response a record keeps, for the scheduler (emulator.runtime.controllers.schedules):
`_runs_from` (runs fall strictly after this time, on the schedule's clock: creation, the last Start or
Update), `_last_run` (the scheduled time of the last run recorded) and `_ran_once` (a NOW schedule ran).

The schedule's clock is wall time sped up by `Settings.schedule_clock_scale` from the schedule's creation,
so that tests see hourly runs in seconds: `clock(t) = created + (t - created) * scale`.
"""

from __future__ import annotations

import time
from typing import Any

from emulator.aws.errors import ResourceInUse, ResourceNotFound, ValidationException
from emulator.core.arns import sagemaker_arn
from emulator.core.listing import ListFields, list_page, pick
from emulator.core.monitoring import cron, definitions
from emulator.core.monitoring.definitions import JobSpec
from emulator.core.services import Services

KIND = "MonitoringSchedule"
NAME = "MonitoringScheduleName"
STATUS = "MonitoringScheduleStatus"
SUMMARY = ("MonitoringScheduleName", "MonitoringScheduleArn", "CreationTime", "LastModifiedTime",
           "MonitoringScheduleStatus", "EndpointName", "MonitoringJobDefinitionName", "MonitoringType")


def schedule_arn(services: Services, region: str, name: str) -> str:
    return sagemaker_arn(KIND, name, region, services.account_id)


def not_found(services: Services, region: str, name: str) -> ResourceNotFound:
    return ResourceNotFound(f"Monitoring schedule {schedule_arn(services, region, name)} not found.")


def _checked(services: Services, config: dict[str, Any]) -> tuple[str, str, str | None]:
    """(monitoring type, endpoint, job definition name) of a valid MonitoringScheduleConfig."""
    by_name = config.get("MonitoringJobDefinitionName")
    embedded = config.get("MonitoringJobDefinition")
    monitoring_type = config.get("MonitoringType") or definitions.DATA_QUALITY
    if monitoring_type in definitions.UNSUPPORTED_TYPES:
        raise definitions.unsupported(monitoring_type)
    if bool(by_name) == bool(embedded):
        raise ValidationException("Exactly one of MonitoringJobDefinitionName and MonitoringJobDefinition must be "
                                  "specified in MonitoringScheduleConfig.")
    if embedded:
        inputs = embedded["MonitoringInputs"]
        endpoint = definitions.check_input(services, inputs[0].get("EndpointInput"),
                                           inputs[0].get("BatchTransformInput"))
        endpoint_input = inputs[0]["EndpointInput"]
    else:
        body = definitions.get(services, monitoring_type, by_name)
        if body is None:
            raise ValidationException(f"{monitoring_type} job definition {by_name} does not exist.")
        endpoint = body["EndpointName"]
        endpoint_input = body[f"{monitoring_type}JobInput"]["EndpointInput"]
    cron.parse(config.get("ScheduleConfig") or default_schedule(), endpoint_input)
    return monitoring_type, endpoint, by_name


def default_schedule() -> dict[str, str]:
    """No ScheduleConfig: "SageMaker will pick a time for running every day" — midnight UTC here."""
    return {"ScheduleExpression": "cron(0 0 ? * * *)"}


def create(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name = req[NAME]
    arn = schedule_arn(services, region, name)
    config = req["MonitoringScheduleConfig"]
    monitoring_type, endpoint, definition = _checked(services, config)
    now = time.time()
    body = {NAME: name, "MonitoringScheduleArn": arn, STATUS: "Pending", "MonitoringType": monitoring_type,
            "CreationTime": now, "LastModifiedTime": now, "MonitoringScheduleConfig": config,
            "EndpointName": endpoint, "_runs_from": now, "_ran_once": False}
    if definition:
        body["MonitoringJobDefinitionName"] = definition

    def conflict() -> Exception:
        return ResourceInUse(f"Monitoring schedule {arn} already exists.")
    services.records.insert(KIND, name, arn, body, conflict)
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    return body


def get(services: Services, name: str) -> dict[str, Any] | None:
    return services.records.get(KIND, name)


def require(services: Services, region: str, name: str) -> dict[str, Any]:
    body = get(services, name)
    if body is None:
        raise not_found(services, region, name)
    return body


def _change(services: Services, region: str, name: str, change) -> dict[str, Any]:
    name = require(services, region, name)[NAME]

    def apply(body: dict[str, Any]) -> None:
        change(body)
        body["LastModifiedTime"] = time.time()
    body = services.records.update(KIND, name, apply)
    if body is None:
        raise not_found(services, region, name)
    return body


def update(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    config = req["MonitoringScheduleConfig"]
    monitoring_type, endpoint, definition = _checked(services, config)

    def change(body: dict[str, Any]) -> None:
        body.update({"MonitoringScheduleConfig": config, "MonitoringType": monitoring_type, "EndpointName": endpoint,
                     STATUS: "Pending" if body[STATUS] != "Stopped" else "Stopped",
                     "_runs_from": clock(services, body, time.time()), "_ran_once": False})
        body.pop("MonitoringJobDefinitionName", None)
        body.pop("FailureReason", None)
        if definition:
            body["MonitoringJobDefinitionName"] = definition
    return _change(services, region, req[NAME], change)


def stop(services: Services, region: str, name: str) -> None:
    def change(body: dict[str, Any]) -> None:
        body[STATUS] = "Stopped"
    _change(services, region, name, change)


def start(services: Services, region: str, name: str) -> None:
    def change(body: dict[str, Any]) -> None:
        if body[STATUS] == "Stopped":
            body[STATUS] = "Scheduled"
            body["_runs_from"] = clock(services, body, time.time())
    _change(services, region, name, change)


def delete(services: Services, region: str, name: str) -> None:
    body = require(services, region, name)
    if body[STATUS] == "Pending":
        raise ValidationException("Monitoring schedule in status Pending")
    services.records.delete(KIND, body[NAME])


def list_schedules(services: Services, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    where = [(member, "=", req[key]) for key, member in (("EndpointName", "EndpointName"),
                                                         ("MonitoringJobDefinitionName", "MonitoringJobDefinitionName"),
                                                         ("MonitoringTypeEquals", "MonitoringType")) if req.get(key)]
    page, token = list_page(services.records, KIND, req, ListFields(name=NAME, status=STATUS), where_members=where)
    return [pick(s, SUMMARY) for s in page], token


# --- for the scheduler ---------------------------------------------------------------------------

def mark(services: Services, name: str, change) -> dict[str, Any] | None:
    """A write by the scheduler (status, run bookkeeping); None when the schedule is gone."""
    return services.records.update(KIND, name, change)


def clock(services: Services, body: dict[str, Any], wall: float) -> float:
    """Wall time → the schedule's clock (sped up by Settings.schedule_clock_scale from its creation)."""
    scale = services.settings.schedule_clock_scale
    return body["CreationTime"] + (wall - body["CreationTime"]) * scale


def wall(services: Services, body: dict[str, Any], scheduled: float) -> float:
    """The schedule's clock → wall time (when a run scheduled then is due)."""
    scale = services.settings.schedule_clock_scale
    return body["CreationTime"] + (scheduled - body["CreationTime"]) / scale


def timing(body: dict[str, Any], spec: JobSpec | None = None) -> cron.Schedule:
    config = body["MonitoringScheduleConfig"]
    return cron.parse(config.get("ScheduleConfig") or default_schedule(), spec.endpoint_input if spec else None)


def job_spec(services: Services, body: dict[str, Any]) -> JobSpec:
    """What a run of this schedule runs; ValidationException when its job definition is gone."""
    config = body["MonitoringScheduleConfig"]
    monitoring_type = body["MonitoringType"]
    if config.get("MonitoringJobDefinition"):
        return definitions.spec_of_embedded(monitoring_type, config["MonitoringJobDefinition"])
    definition = definitions.get(services, monitoring_type, config["MonitoringJobDefinitionName"])
    if definition is None:
        raise ValidationException(f"{monitoring_type} job definition {config['MonitoringJobDefinitionName']} "
                                  "does not exist.")
    return definitions.spec_of_definition(monitoring_type, definition)
