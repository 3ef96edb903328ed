"""How a tuning job picks the next hyperparameters (ask: `suggest(number)`; learn: `tell(...)`).

  Random     independent draws per range and scaling; RandomSeed makes them repeatable.
  Bayesian   Optuna's TPE sampler (ask/tell, constant liar for parallel trials), seeded by RandomSeed.
  Grid       every combination of the categorical ranges, in order; only categorical ranges allowed.
  Hyperband  searched like Random: training jobs are not stopped early and there are no brackets.
"""

from __future__ import annotations

import itertools
import logging
import random
import warnings
from typing import Any

from emulator.core.tuning.spec import Spec

log = logging.getLogger(__name__)


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
