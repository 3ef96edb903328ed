"""The images' `train` and `serve` commands: read /opt/ml and run the algorithm the image stands for.

One image context (containers/amazon-algorithms) serves the linear-learner, knn,
factorization-machines and randomcutforest repositories; each local image sets SAGEMAKER_ALGORITHM to its repository
name, so `docker run <image> train` knows what it is, as AWS's per-algorithm images do.

An algorithm package provides SCHEMA (its hyperparameters), train(env, hyperparameters) and
load_predictor(meta, arrays) -> serving.Predictor.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType

from algorithms.common import model_io, serving
from algorithms.common.environment import ML_ROOT, TrainingEnv, setup_logging
from algorithms.common.errors import CustomerError

log = logging.getLogger("algorithm")

ALGORITHM_ENV = "SAGEMAKER_ALGORITHM"
ALGORITHMS = {
    "linear-learner": "algorithms.linear_learner",
    "knn": "algorithms.knn",
    "factorization-machines": "algorithms.factorization_machines",
    "randomcutforest": "algorithms.randomcutforest",
}


def algorithm(name: str | None = None) -> ModuleType:
    name = name or os.environ.get(ALGORITHM_ENV, "")
    if name not in ALGORITHMS:
        raise SystemExit(f"{ALGORITHM_ENV}={name!r} is not one of {', '.join(ALGORITHMS)}")
    return importlib.import_module(ALGORITHMS[name])


def train(name: str | None = None, root: Path = ML_ROOT) -> int:
    setup_logging()
    module = algorithm(name)
    env = TrainingEnv.load(root)
    try:
        log.info(
            "Reading provided configuration from %s: %s",
            env.root / "input/config/hyperparameters.json",
            env.hyperparameters,
        )
        hyperparameters = module.SCHEMA.validate(env.hyperparameters)
        log.info(
            "Final configuration: %s", {k: v for k, v in hyperparameters.items() if not k.startswith("_")}
        )
        module.train(env, hyperparameters)
    except CustomerError as exc:
        log.error("Customer Error: %s", exc)
        env.write_failure(exc.failure_text())
        return 2
    except Exception as exc:  # noqa: BLE001 - the failure file is how the platform learns why
        traceback.print_exc()
        env.write_failure(f"{type(exc).__name__}: {exc}")
        return 1
    return 0


def load_predictor(name: str | None = None, root: Path = ML_ROOT) -> serving.Predictor:
    module = algorithm(name)
    expected = name or os.environ.get(ALGORITHM_ENV)
    trained_by, meta, arrays = model_io.load(root / "model")
    if trained_by != expected:
        raise CustomerError(f"The model was trained by {trained_by}; this image serves {expected} models")
    return module.load_predictor(meta, arrays)


def serve(name: str | None = None) -> int:
    setup_logging()
    try:
        predictor = load_predictor(name)
    except CustomerError as exc:
        log.error("Unable to load the model: %s", exc)
        return 2
    serving.serve(lambda: predictor)
    return 0


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    command = args[0] if args else "train"
    if command == "train":
        sys.exit(train())
    if command == "serve":
        sys.exit(serve())
    raise SystemExit(f"unknown command {command!r}: expected train or serve")


if __name__ == "__main__":
    main()
