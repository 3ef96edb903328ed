"""Monitoring: what a user watches while testing the model-decay loop. One page lists the Model Monitor
schedules (with their last execution), the CloudWatch alarms and the EventBridge rules; a schedule's page
shows its definition and its executions, each with its processing job and the violations its report
found; an alarm's page shows its state, its history (DescribeAlarmHistory's items) and its metric's
recent datapoints against the threshold. Everything is read through core, never over HTTP; the live
parts poll while something may change."""

from __future__ import annotations

import json
import time
from typing import Any

from emulator.aws.errors import AwsError
from emulator.core import browse, jobs
from emulator.core.cloudwatch import alarms, metrics, statistics
from emulator.core.events import rules
from emulator.core.monitoring import executions, schedules
from emulator.core.objectstore.uris import S3UriError, parse_s3_uri
from emulator.ui import svg
from emulator.ui.pages import Ctx, Html, NotFound, page, url

LISTED = 100                  # newest schedules, alarms and rules on the Monitoring page
EXECUTIONS_SHOWN = 20         # newest executions on a schedule's page (paged)
REPORT_BYTES = 1 << 20        # a constraint_violations.json larger than this is linked, not rendered
VIOLATIONS_SHOWN = 100
HISTORY_SHOWN = 50
CHART_PERIODS = 120           # an alarm's chart: its metric over this many of its periods, up to now
REPORT_FILES = ("constraint_violations.json", "constraints.json", "statistics.json")
SCHEDULE_FIELDS = ["MonitoringScheduleName", "MonitoringType", "EndpointName", "MonitoringScheduleStatus",
                   "MonitoringScheduleConfig.ScheduleConfig.ScheduleExpression", "FailureReason"]


@page("/monitoring", nav="Monitoring", order=60)
def monitoring(ctx: Ctx) -> Html:
    return Html("monitoring.html", {"section": "monitoring", **overview(ctx)})


@page("/monitoring/live")
def monitoring_live(ctx: Ctx) -> Html:
    return Html("_monitoring_live.html", overview(ctx))


def overview(ctx: Ctx) -> dict[str, Any]:
    listed = browse.page(ctx.services, schedules.KIND, SCHEDULE_FIELDS, limit=LISTED)
    for row in listed.rows:
        row["last"] = executions.latest(ctx.services, row["name"])
    alarm_page = browse.page(ctx.services, alarms.KIND, ["AlarmName"], limit=LISTED)
    shown = [a for a in (alarms.get(ctx.services, r["AlarmName"]) for r in alarm_page.rows) if a is not None]
    rule_list = sorted(ctx.services.records.list(rules.KIND), key=lambda r: r["Name"])  # at most 300 (MAX_RULES)
    return {"schedules": listed, "alarms": [alarm_row(a) for a in shown], "alarm_total": alarm_page.total,
            "rules": [rule_row(r) for r in rule_list], "live_url": url("monitoring", "live"), "listed": LISTED}


def alarm_row(alarm: dict[str, Any]) -> dict[str, Any]:
    metric, stat, _, period = alarms.watched_metric(alarm)
    return {**alarm, "metric": metric, "stat": stat, "period": period, "dimensions": metric.dimensions()}


def rule_row(rule: dict[str, Any]) -> dict[str, Any]:
    pattern = rule.get("EventPattern")
    try:
        pattern = json.dumps(json.loads(pattern), indent=2, sort_keys=True) if pattern else None
    except ValueError:
        pass
    return {**rule, "pattern": pattern, "targets": rule.get("_targets", [])}


# --- a schedule ----------------------------------------------------------------------------------

def _schedule(ctx: Ctx, name: str) -> dict[str, Any]:
    body = schedules.get(ctx.services, name)
    if body is None:
        raise NotFound(f"There is no monitoring schedule named {name!r}.")
    return body


@page("/monitoring/schedules/{name}")
def schedule_detail(ctx: Ctx, name: str) -> Html:
    body = _schedule(ctx, name)
    try:
        spec, spec_error = schedules.job_spec(ctx.services, body), None
    except AwsError as err:  # its job definition was deleted
        spec, spec_error = None, err.message
    timing = body["MonitoringScheduleConfig"].get("ScheduleConfig") or schedules.default_schedule()
    context = {"section": "monitoring", "schedule": body, "spec": spec, "spec_error": spec_error, "timing": timing,
               **executions_context(ctx, body)}
    if ctx.arg("fragment"):
        return Html("_schedule_executions.html", context)
    return Html("schedule.html", context)


def executions_context(ctx: Ctx, schedule: dict[str, Any]) -> dict[str, Any]:
    name = schedule["MonitoringScheduleName"]
    listing = browse.page(ctx.services, executions.KIND,
                          ["ScheduledTime", "MonitoringExecutionStatus", "ProcessingJobArn", "FailureReason",
                           "LastModifiedTime", "_jobs.analysis", "_jobs.merge"],
                          equals={"MonitoringScheduleName": name}, offset=ctx.int_arg("offset"), limit=EXECUTIONS_SHOWN)
    rows = [execution_row(ctx, row) for row in listing.rows]
    changing = schedule["MonitoringScheduleStatus"] == "Pending" or any(
        r["MonitoringExecutionStatus"] not in executions.TERMINAL for r in rows)
    return {"executions": listing, "execution_rows": rows, "changing": changing,
            "live_url": url("monitoring", "schedules", name, fragment=1, offset=ctx.int_arg("offset") or None)}


def execution_row(ctx: Ctx, row: dict[str, Any]) -> dict[str, Any]:
    """An execution with the processing jobs it ran (those that exist) and, once its analysis job is done,
    its report: where the files are and the violations it found."""
    out = {**row, "jobs": [], "report": None}
    for step, label in (("_jobs.merge", "ground truth merge"), ("_jobs.analysis", "analysis")):
        job = jobs.get_job(ctx.services, jobs.PROCESSING, row[step]) if row.get(step) else None
        if job is not None:
            out["jobs"].append({"name": job["ProcessingJobName"], "label": label, "status": job["ProcessingJobStatus"]})
            if step == "_jobs.analysis" and job["ProcessingJobStatus"] == "Completed":
                out["report"] = report(ctx, job)
    return out


def report(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any] | None:
    """The analysis job's report folder and its constraint_violations.json's violations (None when it wrote no
    such file: no baseline constraints), read through the object store."""
    outputs = (job.get("ProcessingOutputConfig") or {}).get("Outputs") or []
    uri = ((outputs[0] if outputs else {}).get("S3Output") or {}).get("S3Uri")
    if not uri:
        return None
    base = uri.rstrip("/")
    found: dict[str, Any] = {"base": base, "files": [f"{base}/{f}" for f in REPORT_FILES], "violations": None,
                             "problem": None}
    try:
        bucket, key = parse_s3_uri(f"{base}/constraint_violations.json")
        info = ctx.services.objects.head_object(bucket, key)
        if info is None:
            return found
        if info.size > REPORT_BYTES:
            found["problem"] = f"The report is {info.size:,} bytes: open it from the link."
            return found
        with ctx.services.objects.open_object(bucket, key) as f:
            data = json.load(f)
    except (S3UriError, AwsError, OSError, ValueError) as exc:  # AwsError includes S3Error (no such bucket)
        found["problem"] = f"The report cannot be read: {exc}"
        return found
    violations = data.get("violations") if isinstance(data, dict) else None
    if not isinstance(violations, list):
        found["problem"] = "The report has no violations list."
        return found
    found["violations"] = [v for v in violations[:VIOLATIONS_SHOWN] if isinstance(v, dict)]
    found["violation_total"] = len(violations)
    return found


# --- an alarm ------------------------------------------------------------------------------------

@page("/monitoring/alarms/{name:path}")
def alarm_detail(ctx: Ctx, name: str) -> Html:
    alarm = alarms.get(ctx.services, name)
    if alarm is None:
        raise NotFound(f"There is no CloudWatch alarm named {name!r}.")
    row = alarm_row(alarm)
    history = alarms.describe_history(ctx.services, {"AlarmName": name, "MaxRecords": HISTORY_SHOWN})
    context = {"section": "monitoring", "alarm": row, "history": history["AlarmHistoryItems"],
               "chart": alarm_chart(ctx, row), "live_url": url("monitoring", "alarms", name, fragment=1)}
    if ctx.arg("fragment"):
        return Html("_alarm_live.html", context)
    return Html("alarm.html", context)


def alarm_chart(ctx: Ctx, alarm: dict[str, Any]) -> Any:
    """The alarm's statistic of its metric per period over the last CHART_PERIODS periods, the threshold
    dashed across it; x in minutes before now."""
    period, now = alarm["period"], time.time()
    end = (now // period + 1) * period
    start = end - min(CHART_PERIODS * period, alarms.MAX_EVALUATION_SECONDS)
    found = metrics.buckets(ctx.services, alarm["metric"], start, end, period, unit=alarm.get("Unit"),
                            samples=not statistics.is_standard(alarm["stat"]))
    points = [((b.start - now) / 60, value) for b in sorted(found, key=lambda b: b.start)
              if (value := b.value(alarm["stat"])) is not None]
    return svg.line_chart([svg.Series(f"{alarm['metric'].name} ({alarm['stat']})", points)],
                          title=f"{alarm['metric'].name} · {alarm['stat']} per {period}s",
                          x_label="minutes ago (negative)", threshold=float(alarm["Threshold"]))
