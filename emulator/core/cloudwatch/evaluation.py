"""Metric alarm evaluation (pure): given an alarm's settings, its current state and the datapoints of
its evaluation range, the state it moves to and why, worded as CloudWatch words it.

The rules are the CloudWatch User Guide's ("Evaluating an alarm", "How alarm state is evaluated when
data is missing"; tests/test_cloudwatch_units.py replays every row of its two tables):

- the evaluation range is longer than EvaluationPeriods (N): CloudWatch "attempts to retrieve a higher
  number of data points"; the guide's examples retrieve 5 for N = 3, so the range here is N + 2 periods;
- at least N datapoints exist: the N most recent are evaluated, missing ones are not needed;
- fewer exist: missing datapoints fill the gap per TreatMissingData (`breaching`, `notBreaching`), and
  every real datapoint of the range is evaluated, however old;
- ALARM when at least DatapointsToAlarm (M) of the N evaluated datapoints breach, else OK;
- no datapoint at all: `missing` -> INSUFFICIENT_DATA, `ignore` -> the state is kept,
  `breaching` -> ALARM, `notBreaching` -> OK;
- with `missing` or `ignore` and some but fewer than N datapoints, missing ones are neither: M
  breaching -> ALARM; any non-breaching datapoint -> OK; otherwise (only breaching datapoints, too
  few) `ignore` keeps the state, and `missing` goes to ALARM when the breach has lasted the whole
  range (its oldest period breaches -- the guide's sixth row) and INSUFFICIENT_DATA when it has not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime

OK, ALARM, INSUFFICIENT = "OK", "ALARM", "INSUFFICIENT_DATA"
OPERATORS = {
    "GreaterThanOrEqualToThreshold": ("greater than or equal to", lambda v, t: v >= t),
    "GreaterThanThreshold": ("greater than", lambda v, t: v > t),
    "LessThanThreshold": ("less than", lambda v, t: v < t),
    "LessThanOrEqualToThreshold": ("less than or equal to", lambda v, t: v <= t),
}
TREATMENTS = ("missing", "ignore", "breaching", "notBreaching")


@dataclass(frozen=True)
class Settings:
    period: int
    evaluation_periods: int
    datapoints_to_alarm: int
    threshold: float
    comparison: str
    treat_missing: str = "missing"
    statistic: str = "Average"

    @property
    def range_periods(self) -> int:
        return self.evaluation_periods + 2

    @classmethod
    def of(cls, alarm: dict) -> Settings:
        n = int(alarm["EvaluationPeriods"])
        return cls(int(alarm["Period"]), n, int(alarm.get("DatapointsToAlarm") or n), float(alarm["Threshold"]),
                   alarm["ComparisonOperator"], alarm.get("TreatMissingData") or "missing",
                   alarm.get("Statistic") or alarm.get("ExtendedStatistic") or "Average")


@dataclass(frozen=True)
class Point:
    """One period of the evaluation range: its start and value (None: missing)."""
    start: float
    value: float | None
    sample_count: float | None = None


@dataclass(frozen=True)
class Outcome:
    state: str          # the new state (the current one when it is kept)
    reason: str
    reason_data: str    # JSON, as StateReasonData


def evaluate(settings: Settings, points: list[Point], current: str, query_time: float) -> Outcome:
    """`points` are the range's periods, oldest first (missing ones included, value None)."""
    n, m = settings.evaluation_periods, settings.datapoints_to_alarm
    word, breaches = OPERATORS[settings.comparison]
    existing = [p for p in points if p.value is not None]
    treat = settings.treat_missing

    if len(existing) >= n:
        evaluated: list[Point | None] = list(existing[-n:])
    elif treat in ("breaching", "notBreaching"):
        evaluated = [None] * (n - len(existing)) + list(existing)
    else:
        evaluated = list(existing)

    def breaching(p: Point | None) -> bool:
        return treat == "breaching" if p is None else breaches(p.value, settings.threshold)

    hits = sum(1 for p in evaluated if breaching(p))
    misses = len(evaluated) - hits
    filled = sum(1 for p in evaluated if p is None)
    data = _reason_data(settings, points, evaluated, query_time)

    if not existing and treat in ("missing", "ignore"):
        if treat == "ignore":
            return Outcome(current, "", data)
        return Outcome(INSUFFICIENT, f"Insufficient Data: {_count(n, 'datapoint')} {_was(n)} unknown.", data)
    if not existing:
        label = "Breaching" if treat == "breaching" else "NonBreaching"
        state = ALARM if treat == "breaching" else OK
        return Outcome(state, f"Threshold Crossed: no datapoints were received for {_count(n, 'period')} and "
                              f"{_count(n, 'missing datapoint')} {_was(n)} treated as [{label}].", data)
    listed = _listing(evaluated)
    if hits >= m:
        return Outcome(ALARM, _crossed(hits, n, m, listed, word, settings.threshold, filled, treat, current, ALARM),
                       data)
    if misses > 0 and (len(evaluated) >= n or any(p is not None and not breaching(p) for p in evaluated)):
        return Outcome(OK, _crossed(misses, n, n - m + 1, listed, "not " + word, settings.threshold, filled, treat,
                                    current, OK), data)
    # Only breaching datapoints, too few of them, missing ones neither breaching nor not.
    if treat == "ignore":
        return Outcome(current, "", data)
    if points and points[0].value is not None and breaching(points[0]):
        return Outcome(ALARM, _crossed(hits, n, m, listed, word, settings.threshold, 0, treat, current, ALARM), data)
    return Outcome(INSUFFICIENT, f"Insufficient Data: {_count(n - len(existing), 'datapoint')} "
                                 f"{_was(n - len(existing))} unknown.", data)


def _crossed(count: int, n: int, minimum: int, listed: str, word: str, threshold: float, filled: int, treat: str,
             current: str, new: str) -> str:
    if n == 1 or (count == n and minimum == n and not filled):
        return f"Threshold Crossed: {_count(count, 'datapoint')} {listed} {_was(count)} {word} the threshold " \
               f"({_number(threshold)})."
    text = f"Threshold Crossed: {count} out of the last {n} datapoints {listed} {_was(count)} {word} the threshold " \
           f"({_number(threshold)})"
    if filled:
        label = "Breaching" if treat == "breaching" else "NonBreaching"
        text += f", and {_count(filled, 'missing datapoint')} {_was(filled)} treated as [{label}]"
    return text + f" (minimum {_count(minimum, 'datapoint')} for {current} -> {new} transition)."


def _listing(evaluated: list[Point | None]) -> str:
    real = [p for p in reversed(evaluated) if p is not None]
    return "[" + ", ".join(f"{_number(p.value)} ({_short_time(p.start)})" for p in real) + "]"


def _reason_data(settings: Settings, points: list[Point], evaluated: list[Point | None], query_time: float) -> str:
    start = points[0].start if points else query_time
    data = {
        "version": "1.0",
        "queryDate": long_time(query_time),
        "startDate": long_time(start),
        "statistic": settings.statistic,
        "period": settings.period,
        "recentDatapoints": [p.value for p in points if p.value is not None],
        "threshold": settings.threshold,
        "evaluatedDatapoints": [
            {"timestamp": long_time(p.start), **({"sampleCount": p.sample_count} if p.sample_count else {}),
             "value": p.value}
            for p in reversed(evaluated) if p is not None],
    }
    return json.dumps(data, separators=(",", ":"))


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _was(n: int) -> str:
    return "was" if n == 1 else "were"


def _number(value: float) -> str:
    return repr(float(value))


def _short_time(stamp: float) -> str:
    """CloudWatch's StateReason timestamps: dd/MM/yy HH:mm:ss (UTC)."""
    return datetime.fromtimestamp(stamp, UTC).strftime("%d/%m/%y %H:%M:%S")


def long_time(stamp: float) -> str:
    """StateReasonData timestamps: 2019-10-02T17:04:40.985+0000."""
    moment = datetime.fromtimestamp(stamp, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"
