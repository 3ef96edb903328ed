"""A tuning job request, checked and turned into what its controller needs (`Spec`), and the
CreateTrainingJob request every training job of the tuning job shares."""

from __future__ import annotations

import copy
import math
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from emulator.aws.errors import ValidationException
from emulator.core.builtin_metrics import builtin_metric_definitions
from emulator.core.tuning.ranges import Param, parse_ranges

KIND = "HyperParameterTuningJob"
NAME = "HyperParameterTuningJobName"
ARN = "HyperParameterTuningJobArn"
STATUS = "HyperParameterTuningJobStatus"
OBJECTIVE_KEY = "_tuning_objective_metric"
UNBOUNDED_JOBS = 500         # cap when only completion criteria bound a Random/Bayesian search
TRAINING_DEFINITION_KEYS = ("AlgorithmSpecification", "RoleArn", "InputDataConfig", "VpcConfig",
                            "OutputDataConfig", "StoppingCondition", "EnableNetworkIsolation",
                            "EnableInterContainerTrafficEncryption", "EnableManagedSpotTraining",
                            "CheckpointConfig", "RetryStrategy", "Environment")


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


def definition_of(body: dict[str, Any]) -> dict[str, Any]:
    if body.get("TrainingJobDefinition") is not None:
        return body["TrainingJobDefinition"]
    return (body.get("TrainingJobDefinitions") or [{}])[0]


def resource_config(definition: dict[str, Any]) -> dict[str, Any]:
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
    request["ResourceConfig"] = resource_config(definition)
    return request


def _seed(body: dict[str, Any]) -> int:
    config = body["HyperParameterTuningJobConfig"]
    if config.get("RandomSeed") is not None:
        return int(config["RandomSeed"])
    return zlib.crc32(body[ARN].encode())


def parse_spec(body: dict[str, Any], image_problem: Callable[[str], str | None] | None = None) -> Spec:
    """Check a tuning job request (stored body) and turn it into what the controller needs.
    `image_problem(uri)`: why a training image cannot run here, if it cannot (checked at Create)."""
    config = body["HyperParameterTuningJobConfig"]
    has_one = body.get("TrainingJobDefinition") is not None
    has_many = bool(body.get("TrainingJobDefinitions"))
    if has_one == has_many:
        raise ValidationException("Specify exactly one of TrainingJobDefinition and TrainingJobDefinitions.")
    definition = definition_of(body)
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
    check_metric(objective["MetricName"], spec_alg, image_problem)
    not_improving = (criteria.get("BestObjectiveNotImproving") or {}).get(
        "MaxNumberOfTrainingJobsNotImproving")
    return Spec(strategy=strategy, metric=objective["MetricName"], objective_type=objective["Type"],
                params=params, static=static, max_jobs=int(max_jobs),
                max_parallel=int(limits["MaxParallelTrainingJobs"]),
                max_runtime=limits.get("MaxRuntimeInSeconds"), seed=_seed(body),
                target=criteria.get("TargetObjectiveMetricValue"), not_improving=not_improving,
                definition=definition, definition_name=definition.get("DefinitionName") if has_many else None,
                template=training_template(definition))


def check_metric(metric: str, algorithm: dict[str, Any],
                 image_problem: Callable[[str], str | None] | None = None) -> None:
    """The objective must be one of the training image's metrics: its MetricDefinitions plus the ones
    the platform defines for a built-in algorithm. An image that cannot run here (a built-in
    algorithm the emulator does not provide) is refused first, saying so."""
    if algorithm.get("AlgorithmName"):
        return
    image = algorithm.get("TrainingImage") or ""
    unavailable = image_problem(image) if image_problem is not None else None
    if unavailable:
        raise ValidationException(unavailable)
    defs = algorithm.get("MetricDefinitions") or []
    builtin = builtin_metric_definitions(image)
    names = {d["Name"] for d in defs + builtin}
    if metric not in names:
        raise ValidationException(f"The objective metric for the hyperparameter tuning job, [{metric}], "
                                  f"isn't valid for the [{image}] algorithm. Choose a valid objective "
                                  "metric.")
