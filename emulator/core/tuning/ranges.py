"""The search space of a tuning job: its hyperparameter ranges, parsed and checked, and how values are
drawn from them (Linear, Logarithmic and ReverseLogarithmic scaling; Auto resolved when parsed)."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from typing import Any

from emulator.aws.errors import ValidationException


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
