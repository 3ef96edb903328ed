"""Which statuses end each kind of resource's life: what "wait until it is done" means.

A kind that is waited for (by a pipeline step, a tuning job, a controller) is listed here with its
status field and terminal statuses. A record that does not exist counts as finished: there is
nothing left to wait for.
"""

from __future__ import annotations

from emulator.core import jobs, pipelines, tuning
from emulator.core.services import Services

STATUS: dict[str, tuple[str, tuple[str, ...]]] = {
    **{kind.kind: (kind.status_field, jobs.TERMINAL) for kind in jobs.KINDS.values()},
    tuning.KIND: (tuning.STATUS, jobs.TERMINAL),
    pipelines.EXECUTION: ("PipelineExecutionStatus", pipelines.TERMINAL_EXECUTION),
}


def is_terminal(kind: str, body: dict) -> bool:
    field, terminal = STATUS[kind]
    return body.get(field) in terminal


def is_finished(services: Services, kind: str, name: str) -> bool:
    body = services.records.get(kind, name)
    return body is None or is_terminal(kind, body)
