"""The schedule expressions CreateMonitoringSchedule accepts, and when they fall.

ScheduleConfig.ScheduleExpression (API reference, `ScheduleConfig`): `cron(0 * ? * * *)` hourly,
`cron(0 [00-23] ? * * *)` daily, `cron(0 [00-23]/[01-24] ? * * *)` every N hours from a starting hour
(within each day, as cron counts), or `NOW` — one run at once, which requires DataAnalysisStartTime and
DataAnalysisEndTime. Those are ISO 8601 offsets from the scheduled time (`-PT1H`); the end may not follow
the start by more than 24 hours. Without them a run analyses the hour before its scheduled time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from emulator.aws.errors import ValidationException

HOUR = 3600.0
NOW = "NOW"
_CRON = re.compile(r"^cron\(0 (\*|(\d{1,2})(?:/(\d{1,2}))?) \? \* \* \*\)$")
_OFFSET = re.compile(r"^(-)?P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
SUPPORTED = ("Supported expressions are cron(0 * ? * * *) (hourly), cron(0 [00-23] ? * * *) (daily), "
             "cron(0 [00-23]/[01-24] ? * * *) (every N hours) and NOW.")


@dataclass(frozen=True)
class Schedule:
    """A parsed ScheduleConfig: the hours of the day a run falls on (None: once, NOW) and the window
    each run analyses, as offsets in seconds from its scheduled time."""
    hours: frozenset[int] | None
    start_offset: float
    end_offset: float

    @property
    def once(self) -> bool:
        return self.hours is None

    def next_run(self, after: float) -> float:
        """The first scheduled time strictly after `after` (epoch seconds, UTC hours)."""
        assert self.hours is not None
        hour = (int(after // HOUR) + 1) * HOUR
        for _ in range(48):
            if int(hour // HOUR) % 24 in self.hours:
                return hour
            hour += HOUR
        raise AssertionError("a schedule without hours")  # parse() never builds one

    def last_run(self, at_or_before: float) -> float | None:
        """The latest scheduled time at or before `at_or_before`."""
        assert self.hours is not None
        hour = int(at_or_before // HOUR) * HOUR
        for _ in range(48):
            if int(hour // HOUR) % 24 in self.hours:
                return hour
            hour -= HOUR
        return None


def parse(config: dict | None, endpoint_input: dict | None = None) -> Schedule:
    """ScheduleConfig (and the EndpointInput's StartTimeOffset/EndTimeOffset, which ScheduleConfig's
    window overrides) → Schedule; ValidationException for what SageMaker refuses."""
    config = config or {}
    expression = (config.get("ScheduleExpression") or "").strip()
    start_text = config.get("DataAnalysisStartTime") or (endpoint_input or {}).get("StartTimeOffset")
    end_text = config.get("DataAnalysisEndTime") or (endpoint_input or {}).get("EndTimeOffset")
    if expression == NOW:
        if not config.get("DataAnalysisStartTime") or not config.get("DataAnalysisEndTime"):
            raise ValidationException("DataAnalysisStartTime and DataAnalysisEndTime are required when "
                                      "ScheduleExpression is NOW.")
        hours = None
    else:
        hours = _hours(expression)
    start = offset_seconds(start_text, "DataAnalysisStartTime") if start_text else -HOUR
    end = offset_seconds(end_text, "DataAnalysisEndTime") if end_text else 0.0
    if start >= end:
        raise ValidationException(f"DataAnalysisStartTime {start_text or '-PT1H'} must be before "
                                  f"DataAnalysisEndTime {end_text or 'PT0H'}.")
    if end - start > 24 * HOUR:
        raise ValidationException("DataAnalysisEndTime must not follow DataAnalysisStartTime by more than 24 hours.")
    return Schedule(hours, start, end)


def _hours(expression: str) -> frozenset[int]:
    match = _CRON.match(expression)
    if not match:
        raise ValidationException(f"Invalid ScheduleExpression {expression}. {SUPPORTED}")
    if match.group(1) == "*":
        return frozenset(range(24))
    first = int(match.group(2))
    step = int(match.group(3)) if match.group(3) else 24
    if not 0 <= first <= 23 or not 1 <= step <= 24:
        raise ValidationException(f"Invalid ScheduleExpression {expression}. {SUPPORTED}")
    return frozenset(range(first, 24, step))


def offset_seconds(text: str, field: str) -> float:
    """An ISO 8601 duration offset (`-PT1H`, `-P1D`, `-PT30M`) in seconds; never after the scheduled time."""
    match = _OFFSET.match(text)
    if not match or text.rstrip("T").endswith(("P", "T")):
        raise ValidationException(f"Invalid {field} {text}: expected an ISO 8601 duration such as -PT1H.")
    sign, days, hours, minutes, seconds = match.groups()
    total = (int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + int(seconds or 0))
    if total and not sign:
        raise ValidationException(f"Invalid {field} {text}: the offset must be negative (before the scheduled time).")
    return -float(total)
