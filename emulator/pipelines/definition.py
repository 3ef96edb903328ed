"""Parsing and checking a pipeline definition (pipeline_definitions.md §1).

Checked once, at CreatePipeline / UpdatePipeline, so a bad definition is a ValidationException that
names the step and the problem, never a failure half-way through an execution. Cycles are found when
the execution graph is built (emulator.pipelines.graph.plan).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from emulator.aws.errors import ValidationException

RUNNABLE_TYPES = {"Processing", "Training", "Model", "RegisterModel", "Condition", "Fail", "Tuning", "Callback",
                  "Transform", "CreateModel", "QualityCheck"}
# Step types the service knows, but which cannot run locally yet: their steps fail with a clear
# message instead of silently succeeding.
KNOWN_UNRUNNABLE = {"Lambda", "EMR", "ClarifyCheck", "AutoML", "EndpointConfig", "Endpoint",
                    "InferenceComponent", "Lineage"}
STEP_NAME = re.compile(r"^[A-Za-z0-9\-_]{1,64}$")
PARAMETER_TYPES = {"String", "Integer", "Float", "Boolean"}
# The top-level fields of a QualityCheck step (ClarifyCheck has the same but Statistics), beside its
# Arguments; any of them may be an expression (a parameter, a step property).
CHECK_FIELDS = ("CheckType", "ModelPackageGroupName", "SkipCheck", "FailOnViolation", "RegisterNewBaseline",
                "SuppliedBaselineStatistics", "SuppliedBaselineConstraints")


@dataclass
class Step:
    name: str
    type: str
    raw: dict[str, Any]
    branch_of: str | None = None       # the Condition step whose branch holds this step
    branch: bool | None = None         # True = IfSteps, False = ElseSteps

    @property
    def arguments(self) -> Any:
        return self.raw.get("Arguments", {})

    @property
    def depends_on(self) -> list[str]:
        return list(self.raw.get("DependsOn") or [])


@dataclass
class Definition:
    raw: dict[str, Any]
    parameters: dict[str, dict[str, Any]]
    steps: dict[str, Step] = field(default_factory=dict)

    @property
    def experiment_config(self) -> dict[str, Any] | None:
        return self.raw.get("PipelineExperimentConfig")


def parse(text: str) -> Definition:
    try:
        raw = json.loads(text)
    except ValueError as exc:
        raise ValidationException(f"Pipeline definition is not valid JSON: {exc}") from None
    if not isinstance(raw, dict):
        raise ValidationException("Pipeline definition must be a JSON object.")
    if raw.get("Version") not in (None, "2020-12-01"):
        raise ValidationException(f"Unsupported pipeline definition Version {raw.get('Version')!r}; "
                                  "the only valid version is 2020-12-01.")
    if not isinstance(raw.get("Steps"), list):
        raise ValidationException("Pipeline definition must contain a list of Steps.")
    parameters: dict[str, dict[str, Any]] = {}
    for param in raw.get("Parameters") or []:
        name = param.get("Name") if isinstance(param, dict) else None
        if not name or not STEP_NAME.match(name):
            raise ValidationException(f"Invalid parameter name {name!r} in pipeline definition.")
        if name in parameters:
            raise ValidationException(f"Duplicate parameter name {name} in pipeline definition.")
        if param.get("Type", "String") not in PARAMETER_TYPES:
            raise ValidationException(f"Parameter {name} has invalid type {param.get('Type')!r}.")
        parameters[name] = param
    definition = Definition(raw, parameters)
    for step in raw["Steps"]:
        _add_step(definition, step, None, None)
    _check_references(definition)
    return definition


def _add_step(definition: Definition, raw: Any, branch_of: str | None, branch: bool | None) -> None:
    if not isinstance(raw, dict) or not isinstance(raw.get("Name"), str):
        raise ValidationException("Every step needs a Name.")
    name = raw["Name"]
    if not STEP_NAME.match(name):
        raise ValidationException(f"Step name {name!r} must match ^[A-Za-z0-9\\-_]{{1,64}}$.")
    if name in definition.steps:
        raise ValidationException(f"Duplicate step name {name}: step names must be unique in a pipeline.")
    kind = raw.get("Type")
    if kind not in RUNNABLE_TYPES | KNOWN_UNRUNNABLE:
        raise ValidationException(f"Step {name} has unknown step type {kind!r}.")
    definition.steps[name] = Step(name, kind, raw, branch_of, branch)
    if kind == "Condition":
        args = raw.get("Arguments") or {}
        for key, value in (("IfSteps", True), ("ElseSteps", False)):
            for child in args.get(key) or []:
                _add_step(definition, child, name, value)


def references(value: Any) -> tuple[set[str], set[str], set[tuple[str, str]]]:
    """(steps, parameters, property files) referenced anywhere inside an expression tree."""
    steps: set[str] = set()
    params: set[str] = set()
    files: set[tuple[str, str]] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            get = node.get("Get")
            if isinstance(get, str) and len(node) == 1:
                if get.startswith("Steps."):
                    step = re.split(r"[.\[]", get[len("Steps."):], maxsplit=1)[0]
                    steps.add(step)
                    match = re.match(r"^Steps\.[^.]+\.PropertyFiles\.(.+)$", get)
                    if match:
                        files.add((step, match.group(1)))
                elif get.startswith("Parameters."):
                    params.add(get[len("Parameters."):])
                return
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)
    walk(value)
    return steps, params, files


def step_expressions(step: Step) -> Any:
    """What of a step is evaluated when it runs (a Condition's branches are separate steps)."""
    if step.type == "Condition":
        return {"Conditions": step.arguments.get("Conditions", [])}
    if step.type in ("QualityCheck", "ClarifyCheck"):
        return {"Arguments": step.arguments, **{k: step.raw.get(k) for k in CHECK_FIELDS}}
    return step.arguments


def _check_references(definition: Definition) -> None:
    for step in definition.steps.values():
        for dep in step.depends_on:
            if dep not in definition.steps:
                raise ValidationException(f"Step {step.name} depends on step {dep}, which is not defined.")
            if definition.steps[dep].type == "Fail":
                # AWS's wording, verbatim (pipeline_definitions.md: "CondStep can not depends on FailStep").
                raise ValidationException(f"{step.name} can not depends on {dep}")
        used_steps, used_params, used_files = references(step_expressions(step))
        for name in used_params:
            if name not in definition.parameters:
                raise ValidationException(f"Step {step.name} references parameter {name}, which is not defined.")
        for name in used_steps:
            if name not in definition.steps:
                raise ValidationException(f"Step {step.name} references step {name}, which is not defined.")
            if definition.steps[name].type == "Fail":
                raise ValidationException(f"{step.name} can not depends on {name}")
        for source, file_name in used_files:
            declared = {f.get("PropertyFileName") for f in definition.steps[source].raw.get("PropertyFiles") or []}
            if file_name not in declared:
                raise ValidationException(f"Step {step.name} references property file {file_name} of step {source}, "
                                          "which does not declare it.")
    config = definition.experiment_config
    if config:
        _, used_params, _ = references(config)
        for name in used_params:
            if name not in definition.parameters:
                raise ValidationException(f"PipelineExperimentConfig references parameter {name}, "
                                          "which is not defined.")
