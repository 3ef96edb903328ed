"""The tuning job controller: one sync brings a tuning job one step closer to done.

A sync reads the tuning job and its training jobs (emulator.core.tuning.records.evaluate), creates
the training jobs of trials recorded but not created yet (the emulator stopped in between), tells
the search strategy every trial that ended, stops running training jobs when the tuning job is
Stopping or out of time, launches new trials up to MaxParallelTrainingJobs, and ends the tuning job
when nothing runs and nothing more will be launched. It then waits for its running training jobs
(the one waiter registry) or for MaxRuntimeInSeconds (a requeue at that time).

The search strategy lives in memory between syncs (Optuna's study); after a restart it is rebuilt
from the record: every evaluated trial is told again, so a resumed search sees everything.
"""

from __future__ import annotations

import copy
import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from emulator.aws.errors import AwsError, ResourceInUse
from emulator.core import arns, jobs
from emulator.core.jobs import TERMINAL, TRAINING
from emulator.core.tuning.records import Evaluation, evaluate, finish_tuning_job, get_tuning_job, ranked_summaries
from emulator.core.tuning.spec import ARN, KIND, NAME, OBJECTIVE_KEY, STATUS, Spec, parse_spec
from emulator.core.tuning.strategies import BayesianSearch, make_strategy
from emulator.runtime.controllers.base import Controller, Requeue
from emulator.runtime.controllers.queue import Key

log = logging.getLogger(__name__)

FAILURE_BUDGET = 5           # "No training job succeeded after 5 attempts." (observed FailureReason)
NAME_ATTEMPTS = 3            # a generated training job name taken by someone else: draw another suffix


@dataclass
class Search:
    """What a tuning job's controller keeps between syncs."""
    spec: Spec
    strategy: Any
    told: set[int] = field(default_factory=set)
    exhausted: bool = False


class TuningController(Controller):
    kinds = (KIND,)
    workers = 2

    def __init__(self, services) -> None:
        super().__init__(services)
        self.searches: dict[str, Search] = {}

    def keys(self) -> Iterable[Key]:
        for body in self.services.records.list(KIND):
            if body.get(STATUS) not in TERMINAL:
                yield KIND, body[NAME]

    def reset(self) -> None:
        self.searches.clear()

    def give_up(self, key: Key, error: Exception) -> None:
        self.searches.pop(key[1].lower(), None)
        finish_tuning_job(self.services, key[1], "Failed", f"InternalServerError: the emulator could not run the "
                          f"tuning job: {type(error).__name__}: {error}", snapshot=False)

    # --- the sync -------------------------------------------------------------------------------
    def sync(self, key: Key) -> Requeue | None:
        name = key[1]
        body = get_tuning_job(self.services, name)
        if body is None or body[STATUS] in TERMINAL:
            self.searches.pop(name.lower(), None)
            return None
        name = body[NAME]
        search = self._search(body)
        stopping = body[STATUS] == "Stopping"
        ev = evaluate(self.services, body)
        if ev.missing:  # recorded, but the emulator stopped before creating their training jobs
            for trial in ev.missing:
                if stopping:
                    self._drop_trial(name, trial)
                elif not self._create_job(search.spec, body, trial):
                    return None
            body = get_tuning_job(self.services, name)
            ev = evaluate(self.services, body)
        self._tell(search, body, ev)
        running = [s for s in ev.summaries if s["ObjectiveStatus"] == "Pending"]
        out_of_time = self._out_of_time(search.spec, body)
        if stopping or out_of_time:
            for summary in running:
                if summary["TrainingJobStatus"] == "InProgress":
                    try:
                        jobs.request_stop(self.services, TRAINING, summary["TrainingJobName"])
                    except AwsError:
                        pass  # it ended meanwhile
        running_names = [s["TrainingJobName"] for s in running]
        if stopping:
            if not running_names:
                finish_tuning_job(self.services, name, "Stopped")
                return None
        else:
            if not self._done_launching(search, body, ev, out_of_time):
                launched = self._launch(search, body, len(running_names))
                if launched is None:
                    return None
                running_names += launched
            if not running_names and self._done_launching(search, body, ev, out_of_time):
                self._complete(name, ev)
                return None
        for job_name in running_names:
            self.wait_for((TRAINING.kind, job_name), key)
        if search.spec.max_runtime is not None and not out_of_time:
            return Requeue(at=body["CreationTime"] + search.spec.max_runtime)
        return None

    def _search(self, body: dict[str, Any]) -> Search:
        search = self.searches.get(body[NAME].lower())
        if search is None:
            spec = parse_spec(body)
            search = Search(spec, make_strategy(spec))
            if isinstance(search.strategy, BayesianSearch):
                for parent in body.get("_parents") or []:
                    record = get_tuning_job(self.services, parent)
                    for s in ranked_summaries(self.services, record) if record else []:
                        search.strategy.tell(-1, s["TunedHyperParameters"],
                                             s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
            self.searches[body[NAME].lower()] = search
        return search

    def _tell(self, search: Search, body: dict[str, Any], ev: Evaluation) -> None:
        by_name = {s["TrainingJobName"]: s for s in ev.summaries}
        for trial in body.get("_trials") or []:
            summary = by_name.get(trial["TrainingJobName"])
            if summary is None or trial["Number"] in search.told or summary["ObjectiveStatus"] == "Pending":
                continue
            search.told.add(trial["Number"])
            metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
            search.strategy.tell(trial["Number"], trial["TunedHyperParameters"], metric["Value"] if metric else None)

    def _out_of_time(self, spec: Spec, body: dict[str, Any]) -> bool:
        return spec.max_runtime is not None and self.now() - body["CreationTime"] >= spec.max_runtime

    def _done_launching(self, search: Search, body: dict[str, Any], ev: Evaluation, out_of_time: bool) -> bool:
        spec = search.spec
        if out_of_time or search.exhausted or len(body.get("_trials") or []) >= spec.max_jobs:
            return True
        if ev.objective["Succeeded"] == 0 and ev.objective["Failed"] >= min(FAILURE_BUDGET, spec.max_jobs):
            return True
        if ev.best is not None and spec.target is not None:
            value = ev.best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
            if value == spec.target or spec.better(value, spec.target):
                return True
        return spec.not_improving is not None and ev.not_improving >= spec.not_improving

    # --- launching training jobs -------------------------------------------------------------------
    def _launch(self, search: Search, body: dict[str, Any], running: int) -> list[str] | None:
        """Start trials up to the parallelism limit; None when the tuning job ended meanwhile."""
        spec = search.spec
        launched: list[str] = []
        trials = body.setdefault("_trials", [])
        while running + len(launched) < spec.max_parallel and len(trials) < spec.max_jobs:
            number = len(trials) + 1
            tuned = search.strategy.suggest(number)
            if tuned is None:
                search.exhausted = True
                break
            trial = {"Number": number, "TrainingJobName": _trial_name(body[NAME], number),
                     "TunedHyperParameters": tuned}

            def add(record: dict, trial=trial) -> None:
                record.setdefault("_trials", []).append(trial)
                record["LastModifiedTime"] = self.now()
            # The trial is recorded before its training job exists: a restart creates it, never twice.
            if self.services.records.update(KIND, body[NAME], add) is None:
                return None
            trials.append(trial)
            if not self._create_job(spec, body, trial):
                return None
            launched.append(trial["TrainingJobName"])
        return launched

    def _create_job(self, spec: Spec, body: dict[str, Any], trial: dict[str, Any]) -> bool:
        """Create a trial's training job; False when that ended the tuning job (Failed)."""
        request = copy.deepcopy(spec.template)
        request["HyperParameters"] = {**spec.static, **trial["TunedHyperParameters"]}
        request["HyperParameters"].setdefault(OBJECTIVE_KEY, spec.metric)
        request["TuningJobArn"] = body[ARN]
        region = arns.region_of(body[ARN])
        for _ in range(NAME_ATTEMPTS):
            request["TrainingJobName"] = trial["TrainingJobName"]
            try:
                jobs.create_training_job(self.services, region, request)
                return True
            except ResourceInUse:
                self._rename_trial(body[NAME], trial, _trial_name(body[NAME], trial["Number"]))
            except AwsError as err:
                finish_tuning_job(self.services, body[NAME], "Failed",
                                  f"ClientError: Failed to create training job {trial['TrainingJobName']}: "
                                  f"{err.message}")
                return False
        finish_tuning_job(self.services, body[NAME], "Failed",
                          f"InternalServerError: could not name training job {trial['Number']}.")
        return False

    def _rename_trial(self, name: str, trial: dict[str, Any], new_name: str) -> None:
        old = trial["TrainingJobName"]

        def change(record: dict) -> None:
            for t in record.get("_trials") or []:
                if t["TrainingJobName"] == old:
                    t["TrainingJobName"] = new_name
        self.services.records.update(KIND, name, change)
        trial["TrainingJobName"] = new_name

    def _drop_trial(self, name: str, trial: dict[str, Any]) -> None:
        def change(record: dict) -> None:
            record["_trials"] = [t for t in record.get("_trials") or [] if t["Number"] != trial["Number"]]
        self.services.records.update(KIND, name, change)

    def _complete(self, name: str, ev: Evaluation) -> None:
        if ev.objective["Succeeded"] == 0:
            finish_tuning_job(self.services, name, "Failed",
                              f"No training job succeeded after {len(ev.summaries)} attempts. Please take a look "
                              "at the training job failures to get more details.")
        else:
            finish_tuning_job(self.services, name, "Completed")


def _trial_name(tuning_job: str, number: int) -> str:
    return f"{tuning_job}-{number:03d}-{secrets.token_hex(4)}"
