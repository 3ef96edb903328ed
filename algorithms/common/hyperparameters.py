"""Hyperparameter schemas for the first-party algorithms: declared once, validated like AWS.

The real containers validate hyperparameters.json against a JSON schema and turn jsonschema's
errors into customer-facing messages (the wording below follows AWS's first-party algorithm
framework: "No value(s) were specified for 'k' which are required hyperparameter(s)", "The value
'x' is not valid for the 'predictor_type' hyperparameter which accepts one of the following: ...",
"Additional hyperparameters are not allowed ('foo' was unexpected)"). FailureReason then reads
`ClientError: <message> (caused by ValidationError)`.

Values arrive as strings (the SDK's amazon estimators send str(value), so booleans are "True").
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from algorithms.common.errors import CustomerError

AUTO = "auto"
_INT = re.compile(r"^\s*[-+]?\d+\s*$")


class HyperparameterValidationError(CustomerError):
    caused_by = "ValidationError"


@dataclass(frozen=True)
class Param:
    """One hyperparameter: how to parse it, what is allowed, its default."""

    name: str
    kind: str  # "int" | "float" | "enum" | "bool" | "list" (of choices)
    required: bool = False
    default: Any = None
    min: float | None = None  # inclusive bounds (what jsonschema's minimum/maximum mean)
    max: float | None = None
    exclusive_min: bool = False
    exclusive_max: bool = False
    choices: tuple[str, ...] = ()  # for "enum" and "list"
    auto: bool = False  # the string "auto" is accepted as well
    words: tuple[str, ...] = ()  # other literal strings accepted (e.g. "balanced")
    allowed: tuple[Any, ...] = ()  # for "int": the only values accepted (e.g. faiss_index_pq_m)

    def parse(self, raw: Any) -> Any:
        text = str(raw).strip()
        if self.auto and text.lower() == AUTO:
            return AUTO
        if text in self.words:
            return text
        if self.kind == "enum":
            if text not in self.choices:
                raise HyperparameterValidationError(
                    f"The value '{raw}' is not valid for the '{self.name}' hyperparameter which accepts "
                    "one of "
                    f"the following: {', '.join(repr(c) for c in self.choices)}"
                )
            return text
        if self.kind == "list":  # the SDK writes a list as str(list): "['accuracy', 'precision_recall_fscore']"
            items = [part.strip().strip("'\"") for part in text.strip("[]").split(",") if part.strip()]
            if not items or any(item not in self.choices for item in items):
                raise HyperparameterValidationError(
                    f"The value '{raw}' is not valid for the '{self.name}' hyperparameter which accepts a list "
                    f"of: {', '.join(repr(c) for c in self.choices)}"
                )
            return items
        if self.kind == "bool":
            if text.lower() in ("true", "1"):
                return True
            if text.lower() in ("false", "0"):
                return False
            raise self._invalid(raw, "; or ".join(["'auto'"] * self.auto + ["a boolean ('true' or 'false')"]))
        try:
            if self.kind == "int":
                if not _INT.match(text):
                    # "10.0" is not an integer to a JSON schema either
                    raise ValueError(text)
                value: float = int(text)
            else:
                value = float(text)
                if math.isnan(value) or math.isinf(value):
                    raise ValueError(text)
        except ValueError:
            raise self._invalid(raw, self._describe()) from None
        if not self._in_range(value) or (self.allowed and value not in self.allowed):
            raise self._invalid(raw, self._describe())
        return value

    def _in_range(self, value: float) -> bool:
        below = self.min is not None and (value < self.min or (self.exclusive_min and value == self.min))
        above = self.max is not None and (value > self.max or (self.exclusive_max and value == self.max))
        return not (below or above)

    def _describe(self) -> str:
        article = "an integer" if self.kind == "int" else "a float"
        if self.allowed:
            text = f"one of the integers {', '.join(str(v) for v in self.allowed)}"
        elif self.min is not None and self.max is not None:
            text = f"{article} between {_num(self.min)} and {_num(self.max)}"
        elif self.min is not None:
            text = f"{article} greater than {'' if self.exclusive_min else 'or equal to '}{_num(self.min)}"
        elif self.max is not None:
            text = f"{article} less than {'' if self.exclusive_max else 'or equal to '}{_num(self.max)}"
        else:
            text = article
        words = ([AUTO] if self.auto else []) + list(self.words)
        return "; or ".join([*(repr(w) for w in words), text])

    def _invalid(self, raw: Any, expected: str) -> HyperparameterValidationError:
        which = "expects one of the following:" if self.auto or self.words else "expects"
        return HyperparameterValidationError(
            f"The value '{raw}' is not valid for the '{self.name}' hyperparameter which {which} {expected}"
        )


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def integer(name: str, **kw: Any) -> Param:
    return Param(name, "int", **kw)


def real(name: str, **kw: Any) -> Param:
    return Param(name, "float", **kw)


def enum(name: str, choices: Iterable[str], **kw: Any) -> Param:
    return Param(name, "enum", choices=tuple(choices), **kw)


def choice_list(name: str, choices: Iterable[str], **kw: Any) -> Param:
    return Param(name, "list", choices=tuple(choices), **kw)


def boolean(name: str, **kw: Any) -> Param:
    return Param(name, "bool", **kw)


@dataclass
class Schema:
    """An algorithm's hyperparameters plus rules that relate several of them."""

    params: list[Param]
    # (hyperparameters) -> None, raising HyperparameterValidationError; run after every value parsed
    checks: list[Callable[[dict[str, Any]], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.by_name = {p.name: p for p in self.params}

    def validate(self, raw: dict[str, Any]) -> dict[str, Any]:
        """Parsed hyperparameters with defaults filled in; raises HyperparameterValidationError."""
        # Keys the platform or the tuner adds (e.g. _tuning_objective_metric) are not the algorithm's.
        given = {k: v for k, v in raw.items() if not k.startswith("_")}
        unknown = sorted(k for k in given if k not in self.by_name)
        if unknown:
            names = ", ".join(repr(k) for k in unknown)
            verb = "were" if len(unknown) > 1 else "was"
            raise HyperparameterValidationError(
                f"Additional hyperparameters are not allowed ({names} {verb} unexpected)"
            )
        missing = [p.name for p in self.params if p.required and p.name not in given]
        if missing:
            raise HyperparameterValidationError(
                f"No value(s) were specified for {', '.join(repr(m) for m in missing)} which are required "
                "hyperparameter(s)"
            )
        values = {p.name: p.default for p in self.params}
        for name, value in given.items():
            values[name] = self.by_name[name].parse(value)
        values["_given"] = frozenset(given)
        for check in self.checks:
            check(values)
        return values


def require_if(name: str, condition: Callable[[dict[str, Any]], bool], why: str) -> Callable[[dict], None]:
    """A hyperparameter that becomes required when others have certain values."""

    def check(values: dict[str, Any]) -> None:
        if condition(values) and values.get(name) is None:
            raise HyperparameterValidationError(
                f"No value(s) were specified for '{name}' which are required hyperparameter(s) {why}"
            )

    return check
