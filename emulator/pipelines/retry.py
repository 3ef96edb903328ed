"""Step retry policies (pipeline_definitions.md §4.7): which policy covers a failure, and how long to
wait before the next attempt. Pure functions; the executor owns the clock and the attempts."""

from __future__ import annotations

from typing import Any

RETRYABLE_TYPES = {"Processing", "Training", "Tuning", "AutoML", "Model", "CreateModel", "RegisterModel",
                   "Transform"}


def matching_policy(policies: list[dict[str, Any]] | None, exception_type: str) -> dict[str, Any] | None:
    """The first policy listing `exception_type` (a job's CAPACITY_ERROR also matches the older
    JOB_CAPACITY_ERROR name), or None."""
    aliases = {exception_type}
    if exception_type == "SageMaker.CAPACITY_ERROR":
        aliases.add("SageMaker.JOB_CAPACITY_ERROR")
    return next((p for p in policies or [] if aliases & set(p.get("ExceptionType") or [])), None)


def retry_delay(policy: dict[str, Any], attempt: int, elapsed: float) -> float | None:
    """Seconds to wait after attempt number `attempt` failed, `elapsed` seconds after the first one
    started: IntervalSeconds x BackoffRate^(attempt-1). None once the policy is spent: MaxAttempts
    retries (default 5), or, when ExpireAfterMin is set instead, a retry that would start after it."""
    delay = float(policy.get("IntervalSeconds", 1)) * float(policy.get("BackoffRate", 2.0)) ** (attempt - 1)
    if "ExpireAfterMin" in policy:
        return None if elapsed + delay > float(policy["ExpireAfterMin"]) * 60 else delay
    return None if attempt > int(policy.get("MaxAttempts", 5)) else delay
