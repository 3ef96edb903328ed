"""Hyperparameter tuning jobs: records, search strategies and the controller thread that runs them.

CreateHyperParameterTuningJob checks the request, records the job (status InProgress, the stored
body is the Describe response plus private `_` keys) and starts one controller thread for it. The
controller launches training jobs through emulator.core.jobs.create_training_job -- the path
CreateTrainingJob takes -- named as AWS names them, `<tuning job>-<NNN>-<8 hex>` (observed:
`xgboost-190407-1532-005-0e830ada`), with `TuningJobArn` set and `_tuning_objective_metric` added to
their hyperparameters as SageMaker does. It keeps up to MaxParallelTrainingJobs of them running,
reads each one's objective from its FinalMetricDataList when it ends (`services.job_listeners`
"finished" events wake it), tells the search strategy, and ends the tuning job:

  InProgress -> Completed | Failed | Stopping -> Stopped

Every trial is persisted in the record before its training job is created, so a restarted emulator
continues InProgress/Stopping tuning jobs with `resume_all(services)` (the running training jobs are
the runtime's to re-attach; the controller just waits for them again).

Strategies:
  Random     independent draws per range and scaling; RandomSeed makes them repeatable.
  Bayesian   Optuna's TPE sampler (ask/tell, constant liar for parallel trials), seeded by RandomSeed.
  Grid       every combination of the categorical ranges, in order; only categorical ranges allowed.
  Hyperband  searched like Random: training jobs are not stopped early and there are no brackets.

Where the emulator differs from AWS (by design, documented):
  - Only the first of TrainingJobDefinitions is used; its DefinitionName appears as
    TrainingJobDefinitionName on the training job summaries.
  - ScalingType Auto means Logarithmic for a positive range spanning at least two orders of
    magnitude, Linear otherwise.
  - TrainingJobEarlyStoppingType Auto does not stop jobs early; ConvergenceDetected is not evaluated
    (TargetObjectiveMetricValue and BestObjectiveNotImproving are).
  - Failed training jobs are not retried (RetryableError counts InternalServerError/CapacityError ones).
  - Autotune / AutoParameters: each AutoParameter is passed as a static hyperparameter (its ValueHint).
  - WarmStartConfig: the parents' evaluated training jobs seed the Bayesian search and compete for
    OverallBestTrainingJob.
  - ResourceLimits.MaxRuntimeInSeconds: running training jobs are stopped and the tuning job Completes.
"""

from __future__ import annotations

import copy
import itertools
import logging
import math
import random
import re
import secrets
import threading
import time
import warnings
import zlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from emulator.aws.errors import AwsError, ResourceInUse, ResourceNotFound, ValidationException
from emulator.core import arns, jobs
from emulator.core.jobs import TERMINAL, TRAINING
from emulator.core.listing import ListFields, filter_sort_page, pick
from emulator.core.services import Services

if TYPE_CHECKING:
    from emulator.pipelines.executor import ExecutionRun
    from emulator.pipelines.steps import StepResult

log = logging.getLogger(__name__)

KIND = "HyperParameterTuningJob"
NAME = "HyperParameterTuningJobName"
ARN = "HyperParameterTuningJobArn"
STATUS = "HyperParameterTuningJobStatus"
OBJECTIVE_KEY = "_tuning_objective_metric"
FAILURE_BUDGET = 5           # "No training job succeeded after 5 attempts." (observed FailureReason)
UNBOUNDED_JOBS = 500         # cap when only completion criteria bound a Random/Bayesian search
SUMMARY_KEYS = (NAME, ARN, STATUS, "Strategy", "CreationTime", "HyperParameterTuningEndTime",
                "LastModifiedTime", "TrainingJobStatusCounters", "ObjectiveStatusCounters", "ResourceLimits")
RETRYABLE_PREFIXES = ("InternalServerError", "CapacityError")
TRAINING_DEFINITION_KEYS = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "VpcConfig",
                            "OutputDataConfig", "StoppingCondition", "EnableNetworkIsolation",
                            "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
                            "CheckpointConfig", "RetryStrategy", "Environment")


def _now() -> float:
    return time.time()


# --- search space -------------------------------------------------------------------------------

def _fmt(value: float) -> str:
    return repr(float(value))


@dataclass(frozen=True)
class Param:
    """One tunable hyperparameter. Values cross the API as strings; `internal` values are Optuna's."""
    name: str
    kind: str                       # Integer | Continuous | Categorical
    low: float = 0.0
    high: float = 0.0
    scaling: str = "Linear"         # Linear | Logarithmic | ReverseLogarithmic (Auto already resolved)
    values: tuple[str, ...] = ()

    def sample(self, rng: random.Random) -> str:
        if self.kind == "Categorical":
            return rng.choice(self.values)
        low, high = self.low, self.high
        if self.kind == "Integer":
            if self.scaling == "Logarithmic":
                value = math.floor(math.exp(rng.uniform(math.log(low), math.log(high + 1))))
            else:
                value = rng.randint(int(low), int(high))
            return str(int(min(max(value, low), high)))
        if self.scaling == "Logarithmic":
            x = math.exp(rng.uniform(math.log(low), math.log(high)))
        elif self.scaling == "ReverseLogarithmic":
            x = 1.0 - math.exp(rng.uniform(math.log(1.0 - high), math.log(1.0 - low)))
        else:
            x = rng.uniform(low, high)
        return _fmt(min(max(x, low), high))

    def distribution(self):
        from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
        if self.kind == "Categorical":
            return CategoricalDistribution(list(self.values))
        if self.kind == "Integer":
            return IntDistribution(int(self.low), int(self.high), log=self.scaling == "Logarithmic")
        if self.scaling == "ReverseLogarithmic":  # searched as 1 - x on a log scale
            return FloatDistribution(1.0 - self.high, 1.0 - self.low, log=True)
        return FloatDistribution(self.low, self.high, log=self.scaling == "Logarithmic")

    def to_value(self, internal: Any) -> str:
        if self.kind == "Categorical":
            return str(internal)
        if self.kind == "Integer":
            return str(int(internal))
        if self.scaling == "ReverseLogarithmic":
            return _fmt(min(max(1.0 - float(internal), self.low), self.high))
        return _fmt(internal)

    def from_value(self, text: str | None) -> Any:
        """The internal value for a string value, or None when it lies outside this range."""
        if text is None:
            return None
        if self.kind == "Categorical":
            return text if text in self.values else None
        try:
            number = float(text)
        except ValueError:
            return None
        if not (self.low <= number <= self.high):
            return None
        if self.kind == "Integer":
            return int(number) if number.is_integer() else None
        return 1.0 - number if self.scaling == "ReverseLogarithmic" else number


def _number(text: str, kind: str, name: str, which: str) -> float:
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValidationException(f"The {which} '{text}' of hyperparameter '{name}' is not a valid "
                                  f"{'integer' if kind == 'Integer' else 'number'}.") from None
    if not math.isfinite(value) or (kind == "Integer" and not value.is_integer()):
        raise ValidationException(f"The {which} '{text}' of hyperparameter '{name}' is not a valid "
                                  f"{'integer' if kind == 'Integer' else 'number'}.")
    return value


def _numeric_param(r: dict[str, Any], kind: str) -> Param:
    name = r["Name"]
    low = _number(r["MinValue"], kind, name, "MinValue")
    high = _number(r["MaxValue"], kind, name, "MaxValue")
    if low > high:
        raise ValidationException(f"The MinValue {r['MinValue']} of hyperparameter '{name}' must be less "
                                  f"than or equal to its MaxValue {r['MaxValue']}.")
    scaling = r.get("ScalingType") or "Auto"
    if scaling == "Auto":
        scaling = "Logarithmic" if low > 0 and high / low >= 100 else "Linear"
    if scaling == "Logarithmic" and low <= 0:
        raise ValidationException(f"Logarithmic scaling of hyperparameter '{name}' requires a MinValue "
                                  "greater than 0.")
    if scaling == "ReverseLogarithmic":
        if kind == "Integer":
            raise ValidationException(f"ReverseLogarithmic scaling is not supported for the integer "
                                      f"hyperparameter '{name}'; use it with continuous ranges within "
                                      "0 <= x < 1.")
        if not (0 <= low and high < 1):
            raise ValidationException(f"ReverseLogarithmic scaling of hyperparameter '{name}' requires a "
                                      "range entirely within 0 <= x < 1.0.")
    return Param(name, kind, low, high, scaling)


def parse_ranges(ranges: dict[str, Any] | None) -> tuple[list[Param], dict[str, str]]:
    """Tunable parameters, and the AutoParameters passed as static hyperparameters (their ValueHint)."""
    ranges = ranges or {}
    params: list[Param] = []
    for r in ranges.get("IntegerParameterRanges") or []:
        params.append(_numeric_param(r, "Integer"))
    for r in ranges.get("ContinuousParameterRanges") or []:
        params.append(_numeric_param(r, "Continuous"))
    for r in ranges.get("CategoricalParameterRanges") or []:
        values = tuple(str(v) for v in r.get("Values") or [])
        if not values:
            raise ValidationException(f"The categorical hyperparameter '{r['Name']}' needs at least one "
                                      "value.")
        params.append(Param(r["Name"], "Categorical", values=values))
    auto = {a["Name"]: a["ValueHint"] for a in ranges.get("AutoParameters") or []}
    seen: set[str] = set()
    for name in [p.name for p in params] + list(auto):
        if name in seen:
            raise ValidationException(f"The hyperparameter '{name}' is specified in more than one parameter "
                                      "range.")
        seen.add(name)
    return params, auto


# --- the parsed request ---------------------------------------------------------------------------

@dataclass
class Spec:
    strategy: str
    metric: str
    objective_type: str           # Minimize | Maximize
    params: list[Param]
    static: dict[str, str]
    max_jobs: int
    max_parallel: int
    max_runtime: int | None
    seed: int
    target: float | None
    not_improving: int | None
    definition: dict[str, Any]
    definition_name: str | None
    template: dict[str, Any] = field(default_factory=dict)   # CreateTrainingJob request minus name/HPs

    def better(self, a: float, b: float) -> bool:
        return a < b if self.objective_type == "Minimize" else a > b


def _definition(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("TrainingJobDefinition") is not None:
        return body["TrainingJobDefinition"]
    return (body.get("TrainingJobDefinitions") or [{}])[0]


def _resource_config(definition: dict[str, Any]) -> dict[str, Any]:
    if definition.get("ResourceConfig"):
        return copy.deepcopy(definition["ResourceConfig"])
    hpo = definition.get("HyperParameterTuningResourceConfig")
    if not hpo:
        raise ValidationException("The training job definition must specify ResourceConfig or "
                                  "HyperParameterTuningResourceConfig.")
    keys = ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")
    config = {k: hpo[k] for k in keys if k in hpo}
    first = (hpo.get("InstanceConfigs") or [None])[0]
    if "InstanceType" not in config and first:
        # AllocationStrategy Prioritized: the first instance configuration is always available locally.
        config.update({"InstanceType": first["InstanceType"], "InstanceCount": first["InstanceCount"],
                       "VolumeSizeInGB": first["VolumeSizeInGB"]})
    if "InstanceType" not in config:
        raise ValidationException("HyperParameterTuningResourceConfig must specify InstanceType or "
                                  "InstanceConfigs.")
    config.setdefault("InstanceCount", 1)
    config.setdefault("VolumeSizeInGB", 30)
    return config


def training_template(definition: dict[str, Any]) -> dict[str, Any]:
    """The CreateTrainingJob request every training job of the tuning job shares."""
    request = {k: copy.deepcopy(definition[k]) for k in TRAINING_DEFINITION_KEYS
               if definition.get(k) is not None}
    request["ResourceConfig"] = _resource_config(definition)
    return request


def _seed(body: dict[str, Any]) -> int:
    config = body["HyperParameterTuningJobConfig"]
    if config.get("RandomSeed") is not None:
        return int(config["RandomSeed"])
    return zlib.crc32(body[ARN].encode())


def parse_spec(body: dict[str, Any], services: Services | None = None) -> Spec:
    """Check a tuning job request (stored body) and turn it into what the controller needs."""
    config = body["HyperParameterTuningJobConfig"]
    has_one = body.get("TrainingJobDefinition") is not None
    has_many = bool(body.get("TrainingJobDefinitions"))
    if has_one == has_many:
        raise ValidationException("Specify exactly one of TrainingJobDefinition and TrainingJobDefinitions.")
    definition = _definition(body)
    objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective")
    if not objective:
        raise ValidationException("The tuning job needs an objective: specify "
                                  "HyperParameterTuningJobObjective in HyperParameterTuningJobConfig or "
                                  "TuningObjective in the training job definition.")
    ranges = config.get("ParameterRanges") if config.get("ParameterRanges") is not None \
        else definition.get("HyperParameterRanges")
    params, auto = parse_ranges(ranges)
    static = dict(definition.get("StaticHyperParameters") or {})
    overlap = sorted({p.name for p in params} & set(static))
    if overlap:
        raise ValidationException(f"The hyperparameter '{overlap[0]}' is both static and tunable; remove it "
                                  "from StaticHyperParameters or from the parameter ranges.")
    static.update({k: v for k, v in auto.items() if k not in static})

    strategy = config["Strategy"]
    limits = config["ResourceLimits"]
    max_jobs = limits.get("MaxNumberOfTrainingJobs")
    criteria = config.get("TuningJobCompletionCriteria") or {}
    if strategy == "Grid":
        if not params or any(p.kind != "Categorical" for p in params):
            raise ValidationException("The Grid strategy supports only categorical hyperparameter ranges, "
                                      "and needs at least one.")
        combinations = math.prod(len(p.values) for p in params)
        if max_jobs is not None and max_jobs != combinations:
            raise ValidationException(f"For the Grid strategy MaxNumberOfTrainingJobs must be omitted or "
                                      f"equal the number of distinct categorical combinations "
                                      f"({combinations}).")
        max_jobs = combinations
    elif max_jobs is None:
        if not criteria:
            raise ValidationException(f"MaxNumberOfTrainingJobs is required for the {strategy} strategy.")
        max_jobs = UNBOUNDED_JOBS

    spec_alg = definition.get("AlgorithmSpecification") or {}
    if not spec_alg.get("TrainingImage") and not spec_alg.get("AlgorithmName"):
        raise ValidationException("Either TrainingImage or AlgorithmName must be specified in "
                                  "AlgorithmSpecification.")
    _check_metric(objective["MetricName"], spec_alg, services)
    not_improving = (criteria.get("BestObjectiveNotImproving") or {}).get(
        "MaxNumberOfTrainingJobsNotImproving")
    return Spec(strategy=strategy, metric=objective["MetricName"], objective_type=objective["Type"],
                params=params, static=static, max_jobs=int(max_jobs),
                max_parallel=int(limits["MaxParallelTrainingJobs"]),
                max_runtime=limits.get("MaxRuntimeInSeconds"), seed=_seed(body),
                target=criteria.get("TargetObjectiveMetricValue"), not_improving=not_improving,
                definition=definition, definition_name=definition.get("DefinitionName") if has_many else None,
                template=training_template(definition))


def _check_metric(metric: str, algorithm: dict[str, Any], services: Services | None) -> None:
    if algorithm.get("AlgorithmName"):
        return
    defs = algorithm.get("MetricDefinitions") or []
    names = {d["Name"] for d in defs}
    runtime = getattr(services, "runtime", None) if services is not None else None
    image = algorithm.get("TrainingImage") or ""
    unavailable = runtime.unavailable_image_reason(image) if hasattr(runtime, "unavailable_image_reason") else None
    if unavailable:
        raise ValidationException(unavailable)
    checkable = bool(defs)
    if runtime is not None and hasattr(runtime, "builtin_metric_definitions"):
        checkable = True
        try:
            names |= {d["Name"] for d in runtime.builtin_metric_definitions(image, defs)}
        except Exception:  # noqa: BLE001 - never fail a request on a lookup of built-in metrics
            checkable = bool(defs)
    if checkable and metric not in names:
        raise ValidationException(f"The objective metric for the hyperparameter tuning job, [{metric}], "
                                  f"isn't valid for the [{image}] algorithm. Choose a valid objective "
                                  "metric.")


# --- strategies -------------------------------------------------------------------------------------

class RandomSearch:
    """Each trial's values are drawn from its own seeded generator: repeatable, and restart-safe."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def suggest(self, number: int) -> dict[str, str] | None:
        rng = random.Random(f"{self.spec.seed}:{number}")
        return {p.name: p.sample(rng) for p in self.spec.params}

    def tell(self, number: int, tuned: dict[str, str], value: float | None) -> None:
        pass


class GridSearch(RandomSearch):
    def __init__(self, spec: Spec) -> None:
        super().__init__(spec)
        self.combinations = list(itertools.product(*[p.values for p in spec.params]))

    def suggest(self, number: int) -> dict[str, str] | None:
        if number > len(self.combinations):
            return None
        return {p.name: v for p, v in zip(self.spec.params, self.combinations[number - 1])}


class BayesianSearch:
    """Optuna TPE with ask/tell. Trials it did not ask for (after a restart, or a warm start's parents)
    are added as finished trials, so the model always sees every evaluated job."""

    def __init__(self, spec: Spec) -> None:
        import optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self.optuna = optuna
        self.spec = spec
        self.distributions = {p.name: p.distribution() for p in spec.params}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # constant_liar is flagged experimental
            sampler = optuna.samplers.TPESampler(seed=spec.seed % (2 ** 32), constant_liar=True,
                                                 n_startup_trials=max(1, min(10, spec.max_jobs // 3)))
        direction = "minimize" if spec.objective_type == "Minimize" else "maximize"
        self.study = optuna.create_study(direction=direction, sampler=sampler)
        self.pending: dict[int, Any] = {}

    def suggest(self, number: int) -> dict[str, str] | None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            trial = self.study.ask(self.distributions)
        self.pending[number] = trial
        return {p.name: p.to_value(trial.params[p.name]) for p in self.spec.params}

    def tell(self, number: int, tuned: dict[str, str], value: float | None) -> None:
        trial = self.pending.pop(number, None)
        if trial is not None:
            if value is None:
                self.study.tell(trial, state=self.optuna.trial.TrialState.FAIL)
            else:
                self.study.tell(trial, value)
            return
        if value is None:
            return
        params = {p.name: p.from_value(tuned.get(p.name)) for p in self.spec.params}
        if any(v is None for v in params.values()):
            return  # a warm-start parent's values outside this job's ranges
        self.study.add_trial(self.optuna.trial.create_trial(params=params, distributions=self.distributions,
                                                            value=value))


def make_strategy(spec: Spec):
    if spec.strategy == "Grid":
        return GridSearch(spec)
    if spec.strategy == "Bayesian":
        try:
            return BayesianSearch(spec)
        except ImportError:
            log.warning("optuna is not installed: the Bayesian tuning job searches randomly")
    return RandomSearch(spec)  # Random, and Hyperband without its early-stopping brackets


# --- records ------------------------------------------------------------------------------------

def _get(services: Services, name: str) -> dict[str, Any] | None:
    return services.records.get(KIND, name)


def _require(services: Services, name: str) -> dict[str, Any]:
    body = _get(services, name)
    if body is None:
        raise ResourceNotFound(f"Amazon SageMaker can't find a tuning job with name {name}")
    return body


def create_tuning_job(services: Services, region: str, req: dict[str, Any]) -> dict[str, Any]:
    name = req[NAME]
    arn = arns.sagemaker_arn(KIND, name, region, services.account_id)
    now = _now()
    body = copy.deepcopy({k: v for k, v in req.items() if k != "Tags"})
    body[ARN] = arn
    config = body["HyperParameterTuningJobConfig"]
    config.setdefault("TrainingJobEarlyStoppingType", "Off")
    spec = parse_spec(body, services)
    _check_training_request(spec, name)
    _record_objective_in_static_hyperparameters(body)
    parents = _warm_start_parents(services, body)
    body.update({
        STATUS: "InProgress",
        "CreationTime": now,
        "LastModifiedTime": now,
        "TrainingJobStatusCounters": _empty_training_counters(),
        "ObjectiveStatusCounters": _empty_objective_counters(),
        "_trials": [],
        "_parents": parents,
    })

    def conflict() -> Exception:
        return ResourceInUse(f"A hyperparameter tuning job with the name, {name}, already exists. "
                             "Choose a different name.")
    services.records.insert(KIND, name, arn, body, conflict)
    if req.get("Tags"):
        services.records.add_tags(arn, req["Tags"])
    manager(services).start(name)
    return body


def _record_objective_in_static_hyperparameters(body: dict[str, Any]) -> None:
    """SageMaker describes each training job definition with the objective metric among its static
    hyperparameters, as it passes it to every training job (HyperparameterTuner.attach deletes
    StaticHyperParameters["_tuning_objective_metric"] and fails without it)."""
    config = body["HyperParameterTuningJobConfig"]
    definitions = [body["TrainingJobDefinition"]] if body.get("TrainingJobDefinition") is not None \
        else body.get("TrainingJobDefinitions") or []
    for definition in definitions:
        objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective") or {}
        if objective.get("MetricName"):
            definition.setdefault("StaticHyperParameters", {})[OBJECTIVE_KEY] = objective["MetricName"]


def _check_training_request(spec: Spec, name: str) -> None:
    """Validate the training jobs this tuning job will create now, not halfway through the search."""
    from emulator.aws import models as aws_models
    from emulator.aws.validation import validate_input
    sample = dict(spec.template, TrainingJobName=f"{name}-001-00000000",
                  HyperParameters={**spec.static, **{p.name: p.sample(random.Random(0)) for p in spec.params},
                                   OBJECTIVE_KEY: spec.metric})
    validate_input(aws_models.operation_model("sagemaker", "CreateTrainingJob").input_shape, sample)


def _warm_start_parents(services: Services, body: dict[str, Any]) -> list[str]:
    names = []
    for parent in (body.get("WarmStartConfig") or {}).get("ParentHyperParameterTuningJobs") or []:
        parent_name = parent.get(NAME)
        if not parent_name:
            continue
        record = _get(services, parent_name)
        if record is None:
            raise ValidationException(f"The parent hyperparameter tuning job {parent_name} does not exist.")
        if record[STATUS] not in TERMINAL:
            raise ValidationException(f"The parent hyperparameter tuning job {parent_name} is in status "
                                      f"{record[STATUS]}; a parent must be Completed, Stopped or Failed.")
        names.append(record[NAME])
    return names


def _empty_training_counters() -> dict[str, int]:
    return {"Completed": 0, "InProgress": 0, "RetryableError": 0, "NonRetryableError": 0, "Stopped": 0}


def _empty_objective_counters() -> dict[str, int]:
    return {"Succeeded": 0, "Pending": 0, "Failed": 0}


def objective_value(job: dict[str, Any], metric: str) -> float | None:
    for item in job.get("FinalMetricDataList") or []:
        if item.get("MetricName") == metric:
            try:
                value = float(item["Value"])
            except (TypeError, ValueError, KeyError):
                return None
            return value if math.isfinite(value) else None
    return None


@dataclass
class Evaluation:
    """The tuning job as its training jobs currently stand."""
    summaries: list[dict[str, Any]]               # HyperParameterTrainingJobSummary, trial order
    training: dict[str, int]
    objective: dict[str, int]
    best: dict[str, Any] | None
    not_improving: int
    missing: list[dict[str, Any]]                 # trials whose training job does not exist yet


def _summary(body: dict[str, Any], trial: dict[str, Any], job: dict[str, Any], metric: str,
             objective_type: str, definition_name: str | None) -> dict[str, Any]:
    status = job["TrainingJobStatus"]
    value = objective_value(job, metric)
    if status in ("InProgress", "Stopping"):
        objective_status = "Pending"
    elif status in ("Completed", "Stopped") and value is not None:
        objective_status = "Succeeded"
    else:
        objective_status = "Failed"
    summary = {"TrainingJobName": job["TrainingJobName"], "TrainingJobArn": job["TrainingJobArn"],
               "TuningJobName": body[NAME], "CreationTime": job["CreationTime"],
               "TrainingStartTime": job.get("TrainingStartTime"),
               "TrainingEndTime": job.get("TrainingEndTime"), "TrainingJobStatus": status,
               "TunedHyperParameters": dict(trial.get("TunedHyperParameters") or {}),
               "FailureReason": job.get("FailureReason"), "ObjectiveStatus": objective_status}
    if definition_name:
        summary["TrainingJobDefinitionName"] = definition_name
    if objective_status == "Succeeded":
        summary["FinalHyperParameterTuningJobObjectiveMetric"] = {"MetricName": metric, "Value": value}
    return {k: v for k, v in summary.items() if v is not None}


def _objective_of(body: dict[str, Any]) -> tuple[str, str, str | None]:
    config = body["HyperParameterTuningJobConfig"]
    definition = _definition(body)
    objective = config.get("HyperParameterTuningJobObjective") or definition.get("TuningObjective") or {}
    name = definition.get("DefinitionName") if body.get("TrainingJobDefinitions") else None
    return objective.get("MetricName", ""), objective.get("Type", "Minimize"), name


def _better(objective_type: str, a: float, b: float) -> bool:
    return a < b if objective_type == "Minimize" else a > b


def evaluate(services: Services, body: dict[str, Any]) -> Evaluation:
    metric, objective_type, definition_name = _objective_of(body)
    training = _empty_training_counters()
    objective = _empty_objective_counters()
    summaries, missing = [], []
    for trial in body.get("_trials") or []:
        job = jobs.get_job(services, TRAINING, trial["TrainingJobName"])
        if job is None:
            missing.append(trial)
            continue
        summary = _summary(body, trial, job, metric, objective_type, definition_name)
        summaries.append(summary)
        status = summary["TrainingJobStatus"]
        if status in ("InProgress", "Stopping"):
            training["InProgress"] += 1
        elif status == "Failed":
            retryable = (summary.get("FailureReason") or "").startswith(RETRYABLE_PREFIXES)
            training["RetryableError" if retryable else "NonRetryableError"] += 1
        else:
            training[status] += 1
        objective[summary["ObjectiveStatus"]] += 1
    best = _best(summaries, objective_type)
    # BestObjectiveNotImproving counts evaluated jobs, in the order they ended, since the last improvement.
    finished = sorted((s for s in summaries if s["ObjectiveStatus"] == "Succeeded"),
                      key=lambda s: s.get("TrainingEndTime") or 0)
    not_improving, running_best = 0, None
    for s in finished:
        value = s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        if running_best is None or _better(objective_type, value, running_best):
            running_best, not_improving = value, 0
        else:
            not_improving += 1
    return Evaluation(summaries, training, objective, best, not_improving, missing)


def _best(summaries: list[dict[str, Any]], objective_type: str) -> dict[str, Any] | None:
    best = None
    for s in summaries:
        if s["ObjectiveStatus"] != "Succeeded":
            continue
        value = s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        if best is None or _better(objective_type, value,
                                   best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]):
            best = s
    return best


def _public(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if not k.startswith("_")}


def _with_evaluation(services: Services, body: dict[str, Any]) -> dict[str, Any]:
    """The Describe response: the stored record with counters and best job as the training jobs stand."""
    out = copy.deepcopy(_public(body))
    for definition in [out.get("TrainingJobDefinition")] + list(out.get("TrainingJobDefinitions") or []):
        if definition is not None and "ResourceConfig" not in definition:
            # The SDK creates definitions with HyperParameterTuningResourceConfig only, and its
            # HyperparameterTuner.attach() reads the definition's ResourceConfig: SageMaker describes
            # the instances the training jobs get under that name as well.
            definition["ResourceConfig"] = _resource_config(definition)
    ev = evaluate(services, body)
    out["TrainingJobStatusCounters"] = ev.training
    out["ObjectiveStatusCounters"] = ev.objective
    if ev.best is not None:
        out["BestTrainingJob"] = ev.best
    if body.get("_parents"):
        _, objective_type, _ = _objective_of(body)
        candidates = [ev.best] if ev.best else []
        for parent in body["_parents"]:
            record = _get(services, parent)
            if record is not None:
                parent_best = evaluate(services, record).best
                if parent_best:
                    candidates.append(parent_best)
        overall = _best(candidates, objective_type)
        if overall is not None:
            out["OverallBestTrainingJob"] = overall
    criteria = body["HyperParameterTuningJobConfig"].get("TuningJobCompletionCriteria")
    if criteria:
        out["TuningJobCompletionDetails"] = {"NumberOfTrainingJobsObjectiveNotImproving": ev.not_improving}
    end = body.get("HyperParameterTuningEndTime") or _now()
    out["ConsumedResources"] = {"RuntimeInSeconds": max(0, int(end - body["CreationTime"]))}
    return out


def describe_tuning_job(services: Services, name: str) -> dict[str, Any]:
    return _with_evaluation(services, _require(services, name))


def list_tuning_jobs(services: Services, req: dict[str, Any]) -> tuple[list[dict], str | None]:
    items = []
    for body in services.records.list(KIND):
        view = _with_evaluation(services, body)
        view["Strategy"] = body["HyperParameterTuningJobConfig"]["Strategy"]
        view["ResourceLimits"] = body["HyperParameterTuningJobConfig"]["ResourceLimits"]
        items.append(view)
    request = {**req, "SortOrder": req.get("SortOrder") or "Ascending"}
    page, token = filter_sort_page(items, request, ListFields(name=NAME, status=STATUS), default_sort="Name")
    return [pick(item, SUMMARY_KEYS) for item in page], token


def list_training_jobs_for_tuning_job(services: Services,
                                      req: dict[str, Any]) -> tuple[list[dict], str | None]:
    body = _require(services, req[NAME])
    summaries = evaluate(services, body).summaries
    sort_by = req.get("SortBy") or "Name"
    if sort_by == "FinalObjectiveMetricValue":
        # "any training jobs that did not return an objective metric are not listed" (API reference)
        summaries = [s for s in summaries if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        for s in summaries:
            s["_value"] = s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
    request = {k: v for k, v in req.items() if k != NAME}
    request["SortOrder"] = req.get("SortOrder") or "Ascending"
    fields = ListFields(name="TrainingJobName", status="TrainingJobStatus")
    page, token = filter_sort_page(summaries, request, fields, default_sort="Name",
                                   sort_keys={"FinalObjectiveMetricValue": "_value"})
    return [_public(s) for s in page], token


def ranked_summaries(services: Services, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Training jobs with an objective value, best first (a Tuning step's TrainingJobSummaries)."""
    _, objective_type, _ = _objective_of(body)
    evaluated = [s for s in evaluate(services, body).summaries if s["ObjectiveStatus"] == "Succeeded"]
    evaluated.sort(key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                   reverse=objective_type == "Maximize")
    return evaluated


def stop_tuning_job(services: Services, name: str) -> None:
    body = _require(services, name)
    if body[STATUS] == "Stopping":
        return
    if body[STATUS] != "InProgress":
        raise ValidationException(f"The request was rejected because the hyperparameter tuning job is in "
                                  f"status {body[STATUS]}.")

    def change(record: dict) -> None:
        if record[STATUS] == "InProgress":
            record[STATUS] = "Stopping"
            record["LastModifiedTime"] = _now()
    services.records.update(KIND, body[NAME], change)
    mgr = manager(services)
    mgr.start(body[NAME])
    mgr.wake(body[NAME])


def delete_tuning_job(services: Services, name: str) -> None:
    body = _require(services, name)
    if body[STATUS] not in TERMINAL:
        raise ValidationException(f"The hyperparameter tuning job {name} is in status {body[STATUS]}; only "
                                  "Completed, Failed or Stopped tuning jobs can be deleted.")
    services.records.delete(KIND, body[NAME])


# --- the controller ----------------------------------------------------------------------------

class _Controller:
    def __init__(self, mgr: TuningManager, name: str) -> None:
        self.mgr = mgr
        self.services = mgr.services
        self.name = name
        self.wake = threading.Event()
        self.exit = threading.Event()
        self.told: set[int] = set()
        self.stop_sent: set[str] = set()
        self.exhausted = False
        self.thread = threading.Thread(target=self.run, name=f"tuning-{name}", daemon=True)

    def owns(self, training_job: str) -> bool:
        return training_job.lower().startswith(self.name.lower() + "-")

    def run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # noqa: BLE001 - a tuning job must never hang InProgress
            if not self.exit.is_set():
                log.exception("tuning job %s crashed", self.name)
                self._finish("Failed", f"InternalServerError: the emulator could not run the tuning job: "
                                       f"{type(exc).__name__}: {exc}")
        finally:
            self.mgr.forget(self)

    def _loop(self) -> None:
        body = _get(self.services, self.name)
        if body is None or body[STATUS] in TERMINAL:
            return
        spec = parse_spec(body, None)
        strategy = make_strategy(spec)
        if isinstance(strategy, BayesianSearch):
            for parent in body.get("_parents") or []:
                record = _get(self.services, parent)
                for s in ranked_summaries(self.services, record) if record else []:
                    strategy.tell(-1, s["TunedHyperParameters"],
                                  s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
        region = body[ARN].split(":")[3]
        while not self.exit.is_set():
            self.wake.clear()
            body = _get(self.services, self.name)
            if body is None or body[STATUS] in TERMINAL:
                return
            stopping = body[STATUS] == "Stopping"
            ev = evaluate(self.services, body)
            for trial in ev.missing:  # recorded, but the emulator stopped before creating its job
                if stopping:
                    self._drop_trial(trial)
                else:
                    self._create_job(spec, body, region, trial)
            if ev.missing:
                continue
            by_name = {s["TrainingJobName"]: s for s in ev.summaries}
            for trial in body["_trials"]:
                summary = by_name[trial["TrainingJobName"]]
                if trial["Number"] in self.told or summary["ObjectiveStatus"] == "Pending":
                    continue
                self.told.add(trial["Number"])
                metric = summary.get("FinalHyperParameterTuningJobObjectiveMetric")
                strategy.tell(trial["Number"], trial["TunedHyperParameters"],
                              metric["Value"] if metric else None)
            running = [s["TrainingJobName"] for s in ev.summaries if s["ObjectiveStatus"] == "Pending"]
            elapsed = _now() - body["CreationTime"]
            out_of_time = spec.max_runtime is not None and elapsed >= spec.max_runtime
            if stopping or out_of_time:
                self._stop_jobs(running)
            if stopping:
                if not running:
                    self._finish("Stopped")
                    return
            else:
                if not self._done_launching(spec, body, ev, out_of_time):
                    launched = self._launch(spec, body, region, strategy, len(running))
                    running += launched
                if not running and (self._done_launching(spec, _get(self.services, self.name) or body, ev,
                                                         out_of_time) or self.exhausted):
                    self._complete(ev)
                    return
            self.wake.wait(timeout=self._poll_interval(spec, body))

    def _poll_interval(self, spec: Spec, body: dict[str, Any]) -> float:
        if spec.max_runtime is None:
            return 5.0
        left = body["CreationTime"] + spec.max_runtime - _now()
        # Past the limit the stopped jobs' "finished" events wake the controller; no need to spin.
        return max(0.2, min(5.0, left)) if left > 0 else 5.0

    def _done_launching(self, spec: Spec, body: dict[str, Any], ev: Evaluation, out_of_time: bool) -> bool:
        if out_of_time or self.exhausted or len(body.get("_trials") or []) >= spec.max_jobs:
            return True
        if ev.objective["Succeeded"] == 0 and ev.objective["Failed"] >= min(FAILURE_BUDGET, spec.max_jobs):
            return True
        if ev.best is not None and spec.target is not None:
            value = ev.best["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
            if value == spec.target or spec.better(value, spec.target):
                return True
        return spec.not_improving is not None and ev.not_improving >= spec.not_improving

    def _launch(self, spec: Spec, body: dict[str, Any], region: str, strategy, running: int) -> list[str]:
        launched = []
        number = len(body["_trials"])
        while (running + len(launched) < spec.max_parallel and number < spec.max_jobs
               and not self.exit.is_set()):
            number += 1
            tuned = strategy.suggest(number)
            if tuned is None:
                self.exhausted = True
                break
            trial = {"Number": number, "TrainingJobName": f"{body[NAME]}-{number:03d}-{secrets.token_hex(4)}",
                     "TunedHyperParameters": tuned}

            def add(record: dict, trial=trial) -> None:
                record.setdefault("_trials", []).append(trial)
                record["LastModifiedTime"] = _now()
            if self.services.records.update(KIND, self.name, add) is None:
                return launched
            body["_trials"].append(trial)
            trial = self._create_job(spec, body, region, trial)
            if trial is None:
                return launched
            launched.append(trial["TrainingJobName"])
        return launched

    def _create_job(self, spec: Spec, body: dict[str, Any], region: str,
                    trial: dict[str, Any]) -> dict | None:
        request = copy.deepcopy(spec.template)
        request["HyperParameters"] = {**spec.static, **trial["TunedHyperParameters"]}
        request["HyperParameters"].setdefault(OBJECTIVE_KEY, spec.metric)
        request["TuningJobArn"] = body[ARN]
        for _ in range(3):
            if self.exit.is_set():
                return None
            request["TrainingJobName"] = trial["TrainingJobName"]
            try:
                jobs.create_training_job(self.services, region, request)
                return trial
            except ResourceInUse:  # a name taken by someone else: draw another suffix
                renamed = f"{body[NAME]}-{trial['Number']:03d}-{secrets.token_hex(4)}"
                self._rename_trial(trial, renamed)
            except AwsError as err:
                self._finish("Failed", f"ClientError: Failed to create training job "
                                       f"{trial['TrainingJobName']}: {err.message}")
                self.exit.set()
                return None
        self._finish("Failed", f"InternalServerError: could not name training job {trial['Number']}.")
        self.exit.set()
        return None

    def _rename_trial(self, trial: dict[str, Any], new_name: str) -> None:
        old = trial["TrainingJobName"]

        def change(record: dict) -> None:
            for t in record.get("_trials") or []:
                if t["TrainingJobName"] == old:
                    t["TrainingJobName"] = new_name
        self.services.records.update(KIND, self.name, change)
        trial["TrainingJobName"] = new_name

    def _drop_trial(self, trial: dict[str, Any]) -> None:
        def change(record: dict) -> None:
            record["_trials"] = [t for t in record.get("_trials") or [] if t["Number"] != trial["Number"]]
        self.services.records.update(KIND, self.name, change)

    def _stop_jobs(self, running: list[str]) -> None:
        for name in running:
            if name in self.stop_sent:
                continue
            self.stop_sent.add(name)
            try:
                jobs.request_stop(self.services, TRAINING, name)
            except AwsError:
                pass  # it ended meanwhile

    def _complete(self, ev: Evaluation) -> None:
        if ev.objective["Succeeded"] == 0:
            attempts = len(ev.summaries)
            self._finish("Failed", f"No training job succeeded after {attempts} attempts. Please take a look "
                                   "at the training job failures to get more details.")
        else:
            self._finish("Completed")

    def _finish(self, status: str, reason: str | None = None) -> None:
        finish_tuning_job(self.services, self.name, status, reason)


def finish_tuning_job(services: Services, name: str, status: str, reason: str | None = None) -> None:
    """The one writer of terminal statuses (with a snapshot of the counters and the best job)."""
    assert status in TERMINAL
    current = _get(services, name)
    if current is None:
        return
    view = _with_evaluation(services, current)

    def change(body: dict) -> None:
        if body[STATUS] in TERMINAL:
            return
        now = _now()
        body[STATUS] = status
        body["HyperParameterTuningEndTime"] = now
        body["LastModifiedTime"] = now
        if reason and status == "Failed":
            body["FailureReason"] = reason[:1024]
        for key in ("TrainingJobStatusCounters", "ObjectiveStatusCounters", "BestTrainingJob",
                    "OverallBestTrainingJob", "TuningJobCompletionDetails"):
            if key in view:
                body[key] = view[key]
        body["ConsumedResources"] = {"RuntimeInSeconds": max(0, int(now - body["CreationTime"]))}
    services.records.update(KIND, name, change)
    services.notify_job("finished", KIND, name)


class TuningManager:
    """The running controllers of one emulator, and the wake-ups they need."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.controllers: dict[str, _Controller] = {}
        self._lock = threading.Lock()
        self._waiters: dict[str, threading.Event] = {}
        self._halted = False
        services.job_listeners.append(self._on_job_event)
        # First in line: controllers must stop launching training jobs before the runtime tears
        # the running ones down (a stopped job would otherwise make room for a new one).
        services.reset_hooks.insert(0, self._reset)
        services.shutdown_hooks.insert(0, self.halt)

    def start(self, name: str) -> None:
        with self._lock:
            if self._halted:
                return
            current = self.controllers.get(name.lower())
            if current is not None and current.thread.is_alive() and not current.exit.is_set():
                return
            controller = _Controller(self, name)
            self.controllers[name.lower()] = controller
        controller.thread.start()

    def wake(self, name: str) -> None:
        with self._lock:
            controller = self.controllers.get(name.lower())
        if controller is not None:
            controller.wake.set()

    def forget(self, controller: _Controller) -> None:
        with self._lock:
            if self.controllers.get(controller.name.lower()) is controller:
                del self.controllers[controller.name.lower()]

    def waiter(self, name: str) -> threading.Event:
        with self._lock:
            return self._waiters.setdefault(name.lower(), threading.Event())

    def drop_waiter(self, name: str) -> None:
        with self._lock:
            self._waiters.pop(name.lower(), None)

    def _on_job_event(self, event: str, kind: str, name: str) -> None:
        if event != "finished":
            return
        with self._lock:
            if kind == TRAINING.kind:
                targets = [c for c in self.controllers.values() if c.owns(name)]
            elif kind == KIND:
                targets = []
                waiter = self._waiters.get(name.lower())
                if waiter is not None:
                    waiter.set()
            else:
                return
        for controller in targets:
            controller.wake.set()

    def halt(self, join_timeout: float = 10.0) -> None:
        """Stop every controller without touching its record (shutdown, or before a reset wipes them)."""
        with self._lock:
            self._halted = True
            controllers = list(self.controllers.values())
        for c in controllers:
            c.exit.set()
            c.wake.set()
        for c in controllers:
            if c.thread is not threading.current_thread():
                c.thread.join(timeout=join_timeout)
        with self._lock:
            self.controllers.clear()

    def _reset(self) -> None:
        self.halt()
        with self._lock:
            self._halted = False  # the emulator keeps serving after a reset


_MANAGER_LOCK = threading.Lock()
_ATTRIBUTE = "_tuning_manager"


def manager(services: Services) -> TuningManager:
    with _MANAGER_LOCK:
        mgr = getattr(services, _ATTRIBUTE, None)
        if mgr is None:
            mgr = TuningManager(services)
            setattr(services, _ATTRIBUTE, mgr)
        return mgr


def resume_all(services: Services) -> int:
    """Continue the tuning jobs a previous emulator left InProgress or Stopping; returns how many."""
    mgr = manager(services)
    count = 0
    for body in services.records.list(KIND):
        if body.get(STATUS) in ("InProgress", "Stopping"):
            mgr.start(body[NAME])
            count += 1
    return count


# --- pipelines: the Tuning step ----------------------------------------------------------------

def pipeline_job_name(execution_id: str, step_name: str) -> str:
    """AWS's pipeline job naming (`pipelines-<execId>-<step>-<10 random>`) cannot fit the 32 characters
    a tuning job name allows: drop the `pipelines-` prefix and keep what fits of the step name."""
    from emulator.core.pipelines import random_token
    token = random_token()
    execution_id = re.sub(r"[^A-Za-z0-9-]", "", execution_id).strip("-")[:20]
    room = 32 - len(execution_id) - len(token) - 2
    stem = re.sub(r"[^A-Za-z0-9-]", "-", step_name)[:max(room, 0)].strip("-")
    return "-".join(part for part in (execution_id, stem, token) if part)


def wait_for_tuning_job(services: Services, name: str, stop: threading.Event,
                        poll: float = 1.0) -> dict[str, Any]:
    """Block until the tuning job is terminal; `stop` being set stops it (once)."""
    mgr = manager(services)
    event = mgr.waiter(name)
    stop_sent = False
    try:
        while True:
            event.clear()
            body = _get(services, name)
            if body is None:
                from emulator.pipelines.steps import StepFailed
                raise StepFailed(f"The hyperparameter tuning job {name} disappeared.")
            if body[STATUS] in TERMINAL:
                return body
            if stop.is_set() and not stop_sent and body[STATUS] == "InProgress":
                stop_sent = True
                try:
                    stop_tuning_job(services, name)
                except AwsError:
                    pass
            event.wait(poll)
    finally:
        mgr.drop_waiter(name)


def step_outcome(services: Services, final: dict[str, Any], metadata: dict[str, Any]) -> StepResult:
    from emulator.pipelines.steps import StepFailed, StepResult
    status = final[STATUS]
    if status == "Completed":
        properties = _with_evaluation(services, final)
        properties["TrainingJobSummaries"] = ranked_summaries(services, final)
        return StepResult(metadata, properties)
    if status == "Stopped":
        raise StepFailed("Job was stopped.", "Stopped", metadata)
    raise StepFailed(final.get("FailureReason") or "Hyperparameter tuning job failed.", None, metadata)


def run_pipeline_step(run: ExecutionRun, step, arguments: dict[str, Any],
                      stop: threading.Event) -> StepResult:
    """A pipeline Tuning step: `arguments` is the resolved CreateHyperParameterTuningJob request minus
    the name. Creates the tuning job, waits for it (`stop` stops it) and returns the step's outcome."""
    from emulator.pipelines.steps import _create
    key, hit = run.check_cache(step, arguments)
    if hit is not None:
        return hit
    name = pipeline_job_name(run.execution_id, step.name)
    request = dict(arguments)
    request[NAME] = name
    created = _create("CreateHyperParameterTuningJob", create_tuning_job, run, request)
    metadata = {"TuningJob": {"Arn": created[ARN]}}
    run.note_job(step.name, KIND, name, metadata)
    final = wait_for_tuning_job(run.services, name, stop)
    result = step_outcome(run.services, final, metadata)
    result.extra["_cache_key"] = key
    return result


def resume_pipeline_step(run: ExecutionRun, state: dict[str, Any], stop: threading.Event) -> StepResult:
    """Re-wait a Tuning step's job after an emulator restart (state["_job"] = {"kind", "name"})."""
    name = state["_job"]["name"]
    manager(run.services).start(name)  # harmless when resume_all already did
    final = wait_for_tuning_job(run.services, name, stop)
    result = step_outcome(run.services, final, state.get("Metadata") or {})
    if state.get("_cache_key"):
        result.extra["_cache_key"] = state["_cache_key"]
    return result
