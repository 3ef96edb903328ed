"""Metric alarms: records, history, and applying an evaluation.

An alarm record is its DescribeAlarms `MetricAlarm` (kind `CloudWatchAlarm` in the resource store,
tags by its ARN). PutMetricAlarm records the desired alarm; evaluating it -- on its period, and at
once when datapoints of its metric arrive -- is `evaluate_now`, called by the alarm controller
(runtime/controllers/monitoring.py). Every state change is written here: the record, a StateUpdate history item, and the
"CloudWatch Alarm State Change" event on the default event bus.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from typing import Any

from emulator.aws.errors import AwsError, ValidationException
from emulator.aws.serialize import to_epoch
from emulator.core import arns, wake
from emulator.core.cloudwatch import evaluation, statistics
from emulator.core.cloudwatch.metrics import (
    InvalidParameterCombination,
    InvalidParameterValue,
    MetricKey,
    MissingParameter,
    buckets,
    check_period,
)
from emulator.core.events import bus
from emulator.store.db import register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS cw_alarm_history (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    alarm TEXT NOT NULL,
    ts REAL NOT NULL,
    type TEXT NOT NULL,
    summary TEXT NOT NULL,
    data TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cw_alarm_history_alarm ON cw_alarm_history (alarm, ts);
CREATE INDEX IF NOT EXISTS cw_alarm_history_ts ON cw_alarm_history (ts);
-- Which metric each alarm watches, so arriving datapoints find their alarms through an index.
CREATE TABLE IF NOT EXISTS cw_alarm_watch (
    alarm TEXT PRIMARY KEY,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    dims TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cw_alarm_watch_metric ON cw_alarm_watch (namespace, name, dims);
""")

KIND = "CloudWatchAlarm"
HISTORY_RETENTION = 14 * 86400   # "CloudWatch preserves alarm history for two weeks"
MAX_ALARMS = 5000                 # per account and region (CloudWatch quotas)
MAX_EVALUATION_SECONDS = 7 * 86400
DESCRIBE_PAGE = 50
CONFIG_FIELDS = ("AlarmDescription", "ActionsEnabled", "OKActions", "AlarmActions", "InsufficientDataActions",
                 "MetricName", "Namespace", "Statistic", "ExtendedStatistic", "Dimensions", "Period", "Unit",
                 "EvaluationPeriods", "DatapointsToAlarm", "Threshold", "ComparisonOperator", "TreatMissingData",
                 "EvaluateLowSampleCountPercentile", "Metrics", "ThresholdMetricId")


class ResourceNotFound(AwsError):
    code = "ResourceNotFound"
    status = 404


class LimitExceeded(AwsError):
    code = "LimitExceeded"


class InvalidFormat(AwsError):
    code = "InvalidFormat"


# --- PutMetricAlarm --------------------------------------------------------------------------------

def put_metric_alarm(services, region: str, req: dict[str, Any], *, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    config = {k: req[k] for k in CONFIG_FIELDS if req.get(k) is not None}
    _check(config)
    config.setdefault("ActionsEnabled", True)
    for key in ("OKActions", "AlarmActions", "InsufficientDataActions", "Dimensions"):
        config.setdefault(key, [])
    name = req["AlarmName"]
    arn = arns.alarm_arn(name, region, services.account_id)
    existing = services.records.get(KIND, name)
    if existing is not None and existing["AlarmName"] != name:
        existing = None  # alarm names are case-sensitive
    if existing is None and len(services.records.names(KIND)) >= MAX_ALARMS:
        raise LimitExceeded(f"The maximum number of alarms ({MAX_ALARMS}) has been reached.")
    body = {"AlarmName": name, "AlarmArn": arn, **config, "AlarmConfigurationUpdatedTimestamp": now}
    if existing is None:
        body.update(StateValue=evaluation.INSUFFICIENT, StateReason="Unchecked: Initial alarm creation",
                    StateUpdatedTimestamp=now, StateTransitionedTimestamp=now)
    else:  # "the update completely overwrites the previous configuration"; the state stays
        body.update({k: existing[k] for k in ("StateValue", "StateReason", "StateReasonData", "StateUpdatedTimestamp",
                                              "StateTransitionedTimestamp") if k in existing})
    # History first: the record's write wakes the alarm controller, whose first StateUpdate must come
    # after the ConfigurationUpdate that created the alarm.
    kind = "Create" if existing is None else "Update"
    data = {"version": "1.0", "type": kind, f"{kind.lower()}dAlarm": _history_config(body)}
    if existing is not None:
        data["originalAlarm"] = _history_config(existing)
    add_history(services, name, "ConfigurationUpdate", f'Alarm "{name}" {kind.lower()}d', data, now)
    services.records.put(KIND, name, arn, body)
    metric = watched_metric(body)[0]
    with services.db.transaction() as conn:
        conn.execute("INSERT OR REPLACE INTO cw_alarm_watch (alarm, namespace, name, dims) VALUES (?,?,?,?)",
                     (name, metric.namespace, metric.name, metric.dims))
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    return body


def _check(config: dict[str, Any]) -> None:
    """What the model cannot say: which members go together (PutMetricAlarm API reference)."""
    metrics = config.get("Metrics")
    if metrics:
        if any(config.get(k) is not None for k in ("MetricName", "Namespace", "Statistic", "ExtendedStatistic",
                                                   "Period")) or config.get("Dimensions"):
            raise InvalidParameterCombination("The parameters Metrics and MetricName/Namespace/Statistic/"
                                              "ExtendedStatistic/Dimensions/Period are mutually exclusive.")
        returned = [q for q in metrics if q.get("ReturnData", True)]
        if any(q.get("Expression") for q in metrics) or len(returned) != 1 or not returned[0].get("MetricStat"):
            raise InvalidParameterValue("The SageMaker Emulator evaluates alarms on one metric: Metrics must hold "
                                        "exactly one MetricStat query and no Expression.")
        stat = returned[0]["MetricStat"]
        _check_stat(stat["Stat"], "Metrics.member.1.MetricStat.Stat")
        check_period(int(stat["Period"]))
    else:
        for name in ("MetricName", "Namespace", "Period"):
            if config.get(name) is None:
                raise MissingParameter(f"The parameter {name} is required.")
        if config.get("Statistic") and config.get("ExtendedStatistic"):
            raise InvalidParameterCombination("The parameters Statistic and ExtendedStatistic are mutually "
                                              "exclusive and you have specified both.")
        if not config.get("Statistic") and not config.get("ExtendedStatistic"):
            raise MissingParameter("One of the parameters Statistic or ExtendedStatistic is required.")
        if config.get("ExtendedStatistic"):
            _check_stat(config["ExtendedStatistic"], "ExtendedStatistic")
        period = int(config["Period"])
        if period not in (10, 20, 30) and period % 60:
            raise ValidationException("Period must be 10, 20, 30 or a multiple of 60.")
    if config.get("EvaluationPeriods") is None:
        raise MissingParameter("The parameter EvaluationPeriods is required.")
    if config.get("ComparisonOperator") is None:
        raise MissingParameter("The parameter ComparisonOperator is required.")
    if config["ComparisonOperator"] not in evaluation.OPERATORS or config.get("ThresholdMetricId"):
        raise InvalidParameterValue(f"The SageMaker Emulator does not evaluate anomaly detection alarms "
                                    f"(ComparisonOperator {config['ComparisonOperator']}).")
    if config.get("Threshold") is None:
        raise ValidationException("Threshold must be specified when ComparisonOperator is "
                                  f"{config['ComparisonOperator']}.")
    if not math.isfinite(float(config["Threshold"])):
        raise InvalidParameterValue(f"The value {config['Threshold']} for parameter Threshold is invalid.")
    treat = config.get("TreatMissingData")
    if treat is not None and treat not in evaluation.TREATMENTS:
        raise ValidationException(f"Option {treat} is not supported. Supported options for parameter "
                                  "TreatMissingData are missing, ignore, breaching and notBreaching.")
    low = config.get("EvaluateLowSampleCountPercentile")
    if low is not None and low not in ("evaluate", "ignore"):
        raise ValidationException(f"Option {low} is not supported. Supported options for parameter "
                                  "EvaluateLowSampleCountPercentile are evaluate and ignore.")
    n = int(config["EvaluationPeriods"])
    if int(config.get("DatapointsToAlarm") or n) > n:
        raise ValidationException("DatapointsToAlarm must be less than or equal to EvaluationPeriods.")
    if n * _period(config) > MAX_EVALUATION_SECONDS:
        raise ValidationException("Metrics cannot be checked across more than a week (EvaluationPeriods x "
                                  "Period must not exceed 604800 seconds).")


def _check_stat(stat: str, path: str) -> None:
    if not statistics.is_standard(stat) and statistics.parse(stat) is None:
        raise InvalidParameterValue(f"The value {stat} for parameter {path} is not supported.")


def _period(alarm: dict) -> int:
    if alarm.get("Metrics"):
        query = next(q for q in alarm["Metrics"] if q.get("ReturnData", True))
        return int(query.get("Period") or query["MetricStat"]["Period"])
    return int(alarm["Period"])


def watched_metric(alarm: dict) -> tuple[MetricKey, str, str | None, int]:
    """(metric, statistic, unit, period) the alarm evaluates."""
    if alarm.get("Metrics"):
        query = next(q for q in alarm["Metrics"] if q.get("ReturnData", True))
        stat, metric = query["MetricStat"], query["MetricStat"]["Metric"]
        return (MetricKey.of(metric["Namespace"], metric["MetricName"], metric.get("Dimensions")), stat["Stat"],
                stat.get("Unit"), _period(alarm))
    return (MetricKey.of(alarm["Namespace"], alarm["MetricName"], alarm.get("Dimensions")),
            alarm.get("Statistic") or alarm["ExtendedStatistic"], alarm.get("Unit"), _period(alarm))


def _history_config(alarm: dict) -> dict[str, Any]:
    return {k[:1].lower() + k[1:]: v for k, v in alarm.items() if k in CONFIG_FIELDS or k == "AlarmName"}


# --- reading ---------------------------------------------------------------------------------------

def get(services, name: str) -> dict[str, Any] | None:
    alarm = services.records.get(KIND, name)
    return alarm if alarm is not None and alarm["AlarmName"] == name else None


def all_alarms(services) -> list[dict[str, Any]]:
    return sorted(services.records.list(KIND), key=lambda a: a["AlarmName"])


def describe_alarms(services, req: dict[str, Any]) -> dict[str, Any]:
    if req.get("AlarmNames") and req.get("AlarmNamePrefix"):
        raise InvalidParameterCombination("The parameters AlarmNames and AlarmNamePrefix are mutually exclusive.")
    types = req.get("AlarmTypes") or ["MetricAlarm"]
    alarms = all_alarms(services) if "MetricAlarm" in types else []
    if req.get("AlarmNames"):
        wanted = set(req["AlarmNames"])
        alarms = [a for a in alarms if a["AlarmName"] in wanted]
    if req.get("AlarmNamePrefix"):
        alarms = [a for a in alarms if a["AlarmName"].startswith(req["AlarmNamePrefix"])]
    if req.get("StateValue"):
        alarms = [a for a in alarms if a["StateValue"] == req["StateValue"]]
    if req.get("ActionPrefix"):
        prefix = req["ActionPrefix"]
        alarms = [a for a in alarms if any(x.startswith(prefix) for key in ("OKActions", "AlarmActions",
                                                                             "InsufficientDataActions")
                                           for x in a.get(key, []))]
    page, token = _page(alarms, req, lambda a: a["AlarmName"])
    out: dict[str, Any] = {"MetricAlarms": page, "CompositeAlarms": []}
    if token:
        out["NextToken"] = token
    return out


def alarms_for_metric(services, req: dict[str, Any]) -> list[dict[str, Any]]:
    key = MetricKey.of(req["Namespace"], req["MetricName"], req.get("Dimensions"))
    out = []
    for alarm in all_alarms(services):
        metric, stat, unit, period = watched_metric(alarm)
        if metric != key:
            continue
        if req.get("Statistic") and stat != req["Statistic"] or req.get("ExtendedStatistic") and \
                stat != req["ExtendedStatistic"]:
            continue
        if req.get("Period") and period != req["Period"] or req.get("Unit") and unit != req["Unit"]:
            continue
        out.append(alarm)
    return out


def _page(items: list, req: dict[str, Any], key) -> tuple[list, str | None]:
    start = req.get("NextToken")
    if start:
        items = [i for i in items if key(i) > start]
    size = int(req.get("MaxRecords") or DESCRIBE_PAGE)
    page = items[:size]
    return page, (key(page[-1]) if len(items) > size else None)


# --- changes ---------------------------------------------------------------------------------------

def delete_alarms(services, names: list[str]) -> None:
    missing = [n for n in names if get(services, n) is None]
    if missing:
        # "If you specify any alarm names that do not exist, no alarms are deleted" (DeleteAlarms).
        raise ResourceNotFound(f"{len(missing)} alarm(s) not found: [{', '.join(missing)}]")
    for name in names:
        services.records.delete(KIND, name)  # its tags go with it
        with services.db.transaction() as conn:
            conn.execute("DELETE FROM cw_alarm_history WHERE alarm=?", (name,))
            conn.execute("DELETE FROM cw_alarm_watch WHERE alarm=?", (name,))


def set_actions_enabled(services, names: list[str], enabled: bool) -> None:
    for name in names:
        services.records.update(KIND, name, lambda b: b.update(ActionsEnabled=enabled))


def metric_data_arrived(services, keys) -> None:
    """New datapoints: the alarms on those metrics are evaluated now rather than at their next period."""
    for key in keys:
        for row in services.db.query("SELECT alarm FROM cw_alarm_watch WHERE namespace=? AND name=? AND dims=?",
                                     (key.namespace, key.name, key.dims)):
            wake.announce(services, KIND, row["alarm"])


def set_alarm_state(services, req: dict[str, Any], *, now: float | None = None) -> None:
    """SetAlarmState: the state lasts until the next evaluation (at the start of the alarm's next period)."""
    now = time.time() if now is None else now
    data = req.get("StateReasonData")
    if data is not None:
        try:
            json.loads(data)
        except ValueError:
            raise InvalidFormat("Unknown") from None
    alarm = get(services, req["AlarmName"])
    if alarm is None:
        raise ResourceNotFound(f"Alarm {req['AlarmName']} not found")
    period = watched_metric(alarm)[3]
    transition(services, req["AlarmName"], req["StateValue"], req["StateReason"], data, now,
               held_until=math.floor(now / period) * period + period)


def transition(services, name: str, state: str, reason: str, reason_data: str | None, now: float, *,
               held_until: float | None = None) -> bool:
    """Record a state update; a change of state also gets a history item and an event. Returns
    whether the state value changed. `held_until`: no evaluation replaces the state before then
    (SetAlarmState's state lasts until the next scheduled evaluation)."""
    before: dict[str, Any] = {}

    def change(body: dict) -> None:
        before.update(body)
        body.pop("_held_until", None)
        if held_until is not None:
            body["_held_until"] = held_until
        body["StateValue"] = state
        body["StateReason"] = reason[:1023]
        if reason_data is not None:
            body["StateReasonData"] = reason_data[:4000]
        else:
            body.pop("StateReasonData", None)
        body["StateUpdatedTimestamp"] = now
        if before.get("StateValue") != state:
            body["StateTransitionedTimestamp"] = now
    after = services.records.update(KIND, name, change)
    if after is None or before.get("StateValue") == state:
        return False
    old_state = {"stateValue": before["StateValue"], "stateReason": before.get("StateReason", "")}
    new_state: dict[str, Any] = {"stateValue": state, "stateReason": reason}
    if reason_data:
        new_state["stateReasonData"] = json.loads(reason_data)
    add_history(services, name, "StateUpdate", f"Alarm updated from {before['StateValue']} to {state}",
                {"version": "1.0", "oldState": old_state, "newState": new_state}, now)
    bus.emit(services, after["AlarmArn"].split(":")[3], "aws.cloudwatch", "CloudWatch Alarm State Change",
             [after["AlarmArn"]], state_change_detail(before, after), now=now)
    return True


def state_change_detail(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """The event's detail, as in the CloudWatch User Guide's "Alarm events and EventBridge"."""
    def state(alarm: dict) -> dict[str, Any]:
        out = {"value": alarm["StateValue"], "reason": alarm.get("StateReason", ""),
               "timestamp": evaluation.long_time(alarm.get("StateUpdatedTimestamp") or time.time())}
        if alarm.get("StateReasonData"):
            out["reasonData"] = alarm["StateReasonData"]
        return out
    metric, stat, unit, period = watched_metric(after)
    metric_stat: dict[str, Any] = {"metric": {"namespace": metric.namespace, "name": metric.name,
                                              "dimensions": {d["Name"]: d["Value"] for d in metric.dimensions()}},
                                   "period": period, "stat": stat}
    if unit:
        metric_stat["unit"] = unit
    configuration: dict[str, Any] = {"metrics": [{"id": str(uuid.uuid5(uuid.NAMESPACE_URL, after["AlarmArn"])),
                                                  "metricStat": metric_stat, "returnData": True}]}
    if after.get("AlarmDescription"):
        configuration["description"] = after["AlarmDescription"]
    return {"alarmName": after["AlarmName"], "state": state(after), "previousState": state(before),
            "configuration": configuration}


# --- history ---------------------------------------------------------------------------------------

def add_history(services, name: str, kind: str, summary: str, data: dict[str, Any], now: float) -> None:
    with services.db.transaction() as conn:
        conn.execute("INSERT INTO cw_alarm_history (alarm, ts, type, summary, data) VALUES (?,?,?,?,?)",
                     (name, now, kind, summary, json.dumps(data, separators=(",", ":"))))
        conn.execute("DELETE FROM cw_alarm_history WHERE ts < ?", (now - HISTORY_RETENTION,))


def describe_history(services, req: dict[str, Any]) -> dict[str, Any]:
    types = req.get("AlarmTypes") or ["MetricAlarm", "CompositeAlarm"]
    if "MetricAlarm" not in types:
        return {"AlarmHistoryItems": []}
    sql, args = "SELECT * FROM cw_alarm_history WHERE 1=1", []
    for column, key, op in (("alarm", "AlarmName", "="), ("type", "HistoryItemType", "="),
                            ("ts", "StartDate", ">="), ("ts", "EndDate", "<=")):
        if req.get(key) is not None:
            sql += f" AND {column} {op} ?"
            args.append(req[key] if column != "ts" else to_epoch(req[key]))
    ascending = req.get("ScanBy") == "TimestampAscending"
    if req.get("NextToken"):
        try:
            token = int(req["NextToken"])
        except ValueError:
            raise AwsError("The service couldn't process the NextToken you provided.", code="InvalidNextToken") \
                from None
        sql += " AND seq > ?" if ascending else " AND seq < ?"
        args.append(token)
    size = int(req.get("MaxRecords") or 100)
    sql += f" ORDER BY seq {'ASC' if ascending else 'DESC'} LIMIT ?"
    args.append(size + 1)
    rows = services.db.query(sql, args)
    items = [{"AlarmName": r["alarm"], "AlarmType": "MetricAlarm", "Timestamp": r["ts"],
              "HistoryItemType": r["type"], "HistorySummary": r["summary"], "HistoryData": r["data"]}
             for r in rows[:size]]
    out: dict[str, Any] = {"AlarmHistoryItems": items}
    if len(rows) > size:
        out["NextToken"] = str(rows[size - 1]["seq"])
    return out




# --- evaluation ------------------------------------------------------------------------------------

def evaluate_now(services, name: str, now: float | None = None) -> float | None:
    """Evaluate one alarm against its metric's datapoints at `now`; returns when to evaluate it next
    (the start of its next period), or None if the alarm is gone."""
    now = time.time() if now is None else now
    alarm = get(services, name)
    if alarm is None:
        return None
    if alarm.get("_held_until", 0) > now:
        return alarm["_held_until"]
    metric, stat, unit, period = watched_metric(alarm)
    settings = evaluation.Settings.of({**alarm, "Period": period, "Statistic": stat})
    end = math.floor(now / period) * period + period  # the period holding `now` counts once it has data
    start = end - settings.range_periods * period
    found = {b.start: b for b in buckets(services, metric, start, end, period, unit=unit,
                                         samples=not statistics.is_standard(stat))}
    points = []
    for i in range(settings.range_periods):
        at = start + i * period
        bucket = found.get(at)
        value = bucket.value(stat) if bucket is not None else None
        points.append(evaluation.Point(at, value, bucket.count if bucket is not None else None))
    outcome = evaluation.evaluate(settings, points, alarm["StateValue"], now)
    if outcome.state != alarm["StateValue"] and outcome.reason:
        transition(services, name, outcome.state, outcome.reason, outcome.reason_data, now)
    return end
