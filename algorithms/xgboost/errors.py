"""Errors of the XGBoost container, and the failure file text it leaves behind.

AWS's XGBoost image classifies failures the way its sagemaker_algorithm_toolkit does (UserError: the
user's to fix; AlgorithmError: the algorithm's; PlatformError: the environment's), and its legacy
training toolkit (sagemaker_containers) writes *every* uncaught exception to /opt/ml/output/failure
as `framework error: \\n<traceback>\\n<message>`. The platform prefixes `AlgorithmError: `, so a
missing num_round reads on AWS:

    AlgorithmError: framework error: \\nTraceback (most recent call last): ... UserError: Missing
    required hyperparameter: num_round\\n\\nMissing required hyperparameter: num_round

FailureReason keeps only the first 1024 characters, and AWS's deep traceback often pushes the
message past them; ours keeps just the raising frame, so the message always survives.
"""

from __future__ import annotations

import traceback
from pathlib import Path


class ToolkitError(Exception):
    """`message (caused by ValueError)`, as AWS's BaseToolkitError formats a wrapped exception."""

    def __init__(self, message: str | None = None, caused_by: BaseException | None = None) -> None:
        text = message or (str(caused_by) if caused_by else "unknown error occurred")
        if caused_by is not None:
            text += f" (caused by {type(caused_by).__name__})"
        super().__init__(text)
        self.caused_by = caused_by


class UserError(ToolkitError):
    """A mistake in the job's hyperparameters, channels or data."""


class AlgorithmError(ToolkitError):
    """A failure of the algorithm itself."""


class PlatformError(ToolkitError):
    """The environment does not meet the algorithm's needs (e.g. hosts that never appear)."""


def failure_text(exc: BaseException) -> str:
    frames = "".join(traceback.format_exception(exc, limit=-1, chain=False))
    return f"framework error: \n{frames}\n{exc}"


def write_failure(output_dir: Path, exc: BaseException) -> str:
    text = failure_text(exc)
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "failure").write_text(text)
    return text
