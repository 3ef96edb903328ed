"""A hyperparameter schema in the style of AWS's sagemaker_algorithm_toolkit (read for behaviour).

Each hyperparameter is declared once — type, allowed range, documented default, whether required,
and any rule involving other hyperparameters — and validation and its error messages derive from
that declaration, worded as AWS's XGBoost container words them:

    Missing required hyperparameter: num_round
    Extraneous hyperparameter found: foo
    Hyperparameter eta: could not parse value (caused by ValueError)
    Hyperparameter eta: 2.0 is not in [0, 1]
    Hyperparameter objective: foo is not in ['binary:logistic', ...]

`default` is the value AWS documents. Like AWS's container, validate() does not fill it in: AWS's
documented defaults are XGBoost's own, so a hyperparameter the user leaves out is simply not passed
to XGBoost. Defaults of hyperparameters the container itself interprets (csv_weights, ...) are read
with Schema.value().
"""

from __future__ import annotations

import ast
import json
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass
from typing import Any

from algorithms.xgboost.errors import UserError

# (value, every validated hyperparameter) -> None; raises UserError
Check = Callable[[Any, dict[str, Any]], None]


@dataclass(frozen=True)
class Interval:
    """A numeric range; str() is AWS's notation, e.g. `[0, 1]`, `(0, +inf)`."""

    min_open: float | None = None
    min_closed: float | None = None
    max_open: float | None = None
    max_closed: float | None = None

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, (int, float)):
            return False
        return not ((self.min_open is not None and value <= self.min_open)
                    or (self.min_closed is not None and value < self.min_closed)
                    or (self.max_open is not None and value >= self.max_open)
                    or (self.max_closed is not None and value > self.max_closed))

    def __str__(self) -> str:
        low = f"({self.min_open}" if self.min_open is not None else (
            f"[{self.min_closed}" if self.min_closed is not None else "(-inf")
        high = f"{self.max_open})" if self.max_open is not None else (
            f"{self.max_closed}]" if self.max_closed is not None else "+inf)")
        return f"{low}, {high}"


@dataclass(frozen=True)
class Hyperparameter:
    name: str
    range: Container | None = None   # an Interval, a list of choices, or any object with __contains__
    default: Any = None              # AWS's documented default (informational, see module docstring)
    required: bool = False
    check: Check | None = None       # a rule involving other hyperparameters
    type: str = "FreeText"

    def parse(self, value: str) -> Any:
        return value

    def validate_range(self, value: Any) -> None:
        if self.range is not None and value not in self.range:
            raise UserError(f"Hyperparameter {self.name}: {value} is not in {_describe(self.range)}")


@dataclass(frozen=True)
class Integer(Hyperparameter):
    type: str = "Integer"

    def parse(self, value: str) -> int:
        # AWS's toolkit JSON-decodes values first, so "5.0" is the integer 5 there too.
        number = json.loads(value) if isinstance(value, str) else value
        if isinstance(number, bool) or not isinstance(number, (int, float)) or number != int(number):
            raise ValueError(f"invalid literal for int(): {value!r}")
        return int(number)


@dataclass(frozen=True)
class Continuous(Hyperparameter):
    type: str = "Continuous"

    def parse(self, value: str) -> float:
        return float(value)


@dataclass(frozen=True)
class Categorical(Hyperparameter):
    type: str = "Categorical"

    def parse(self, value: str) -> str:
        return str(value)


@dataclass(frozen=True)
class CommaSeparatedList(Hyperparameter):
    """`eval_metric=auc,error`, `updater=grow_colmaker,prune`."""

    def parse(self, value: str) -> list[str]:
        return [item.strip() for item in str(value).split(",")]

    def validate_range(self, value: list[str]) -> None:
        if self.range is not None and any(item not in self.range for item in value):
            raise UserError(f"Hyperparameter {self.name}: value {value} not in range {_describe(self.range)}")


@dataclass(frozen=True)
class Literal(Hyperparameter):
    """A Python literal whose every (nested) element must be in range: `(1,0,-1)`, `[[0,1],[2]]`."""

    def parse(self, value: str) -> Any:
        return ast.literal_eval(value) if isinstance(value, str) else value

    def validate_range(self, value: Any) -> None:
        if self.range is not None and any(item not in self.range for item in _flatten(value)):
            raise UserError(f"Hyperparameter {self.name}: value {value} not in range {_describe(self.range)}")


class Schema:
    """An algorithm's hyperparameters; `aliases` maps alternative names (learning_rate) to canonical ones."""

    def __init__(self, *hyperparameters: Hyperparameter, aliases: dict[str, str] | None = None) -> None:
        self.hyperparameters = {hp.name: hp for hp in hyperparameters}
        self.aliases = aliases or {}

    def __getitem__(self, name: str) -> Hyperparameter:
        return self.hyperparameters[name]

    def __iter__(self):
        return iter(self.hyperparameters.values())

    def validate(self, given: dict[str, str]) -> dict[str, Any]:
        """The user's hyperparameters parsed and checked, in AWS's order of checks."""
        given = self._canonical(given)
        for hp in self.hyperparameters.values():
            if hp.required and hp.name not in given:
                raise UserError(f"Missing required hyperparameter: {hp.name}")
        values: dict[str, Any] = {}
        for name, raw in given.items():
            hp = self.hyperparameters.get(name)
            if hp is None:
                raise UserError(f"Extraneous hyperparameter found: {name}")
            try:
                values[name] = hp.parse(raw)
            except (ValueError, TypeError, SyntaxError) as exc:
                raise UserError(f"Hyperparameter {name}: could not parse value", caused_by=exc) from exc
        for name, value in values.items():
            self.hyperparameters[name].validate_range(value)
        for name, value in values.items():
            check = self.hyperparameters[name].check
            if check is not None:
                check(value, values)
        return values

    def value(self, validated: dict[str, Any], name: str) -> Any:
        """A validated hyperparameter, or its documented default when the user left it out."""
        return validated.get(name, self.hyperparameters[name].default)

    def _canonical(self, given: dict[str, str]) -> dict[str, str]:
        out: dict[str, str] = {}
        for name, raw in given.items():
            canonical = self.aliases.get(name, name)
            if canonical in out:
                raise UserError(f"Hyperparameter {canonical} is given twice (as {canonical} and its alias)")
            out[canonical] = raw
        return out


def _describe(range_: Container) -> str:
    return str(list(range_)) if isinstance(range_, (list, tuple)) else str(range_)


def _flatten(value: Any) -> Iterable[Any]:
    if isinstance(value, (list, tuple)):
        for item in value:
            yield from _flatten(item)
    else:
        yield value
