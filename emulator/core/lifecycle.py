"""Which statuses end each kind of resource's life: what "wait until it is done" means.

A kind that is waited for (by a pipeline step, a tuning job, a controller) is listed here with its
status field and terminal statuses. A record that does not exist counts as finished: there is
nothing left to wait for.
"""

from __future__ import annotations

from emulator.core.services import Services

JOB_TERMINAL = frozenset({"Completed", "Failed", "Stopped"})
EXECUTION_TERMINAL = frozenset({"Succeeded", "Failed", "Stopped"})

STATUS: dict[str, tuple[str, frozenset[str]]] = {
    "TrainingJob": ("TrainingJobStatus", JOB_TERMINAL),
    "ProcessingJob": ("ProcessingJobStatus", JOB_TERMINAL),
    "HyperParameterTuningJob": ("HyperParameterTuningJobStatus", JOB_TERMINAL),
    "PipelineExecution": ("PipelineExecutionStatus", EXECUTION_TERMINAL),
}


def is_terminal(kind: str, body: dict) -> bool:
    field, terminal = STATUS[kind]
    return body.get(field) in terminal


def is_finished(services: Services, kind: str, name: str) -> bool:
    body = services.records.get(kind, name)
    return body is None or is_terminal(kind, body)
