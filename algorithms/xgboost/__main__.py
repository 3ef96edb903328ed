"""Entry point of the image's `train` and `serve` commands: `python -m algorithms.xgboost train|serve`."""

from __future__ import annotations

import logging
import os
import sys

from algorithms.common.environment import ML_ROOT, TrainingEnv
from algorithms.xgboost import errors

log = logging.getLogger("algorithms.xgboost")


def setup_logging() -> None:
    """AWS's XGBoost log format: `[2022-08-27:00:38:45:INFO] Running XGBoost Sagemaker in algorithm mode`."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("[%(asctime)s:%(levelname)s] %(message)s", datefmt="%Y-%m-%d:%H:%M:%S"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)


def skip_unused_imports() -> None:
    """XGBoost imports scikit-learn when it is installed (it is, for script mode): a second or more
    of every job's and endpoint's start, for estimator classes the algorithm does not use."""
    sys.modules.setdefault("sklearn", None)  # None in sys.modules: `import sklearn` raises ImportError


def train() -> int:
    try:
        env = TrainingEnv.load(ML_ROOT)
    except Exception as exc:  # noqa: BLE001 - unreadable /opt/ml/input/config: still leave a failure file
        setup_logging()
        log.error(errors.write_failure(ML_ROOT / "output", exc))
        return 1
    if "sagemaker_program" in env.hyperparameters:
        from sagemaker_training import trainer
        # The toolkit calls the image's SAGEMAKER_TRAINING_MODULE (sagemaker_xgboost_container.training),
        # which downloads sagemaker_submit_directory and runs the entry point as a Python module with
        # SM_* variables; the toolkit writes the success or failure file and exits.
        trainer.train()
        return 0
    skip_unused_imports()
    setup_logging()
    log.info("Running XGBoost Sagemaker in algorithm mode")
    from algorithms.xgboost import train as algorithm
    try:
        algorithm.run(env)
    except Exception as exc:  # noqa: BLE001 - AWS's toolkit reports every failure in the failure file
        log.error("Reporting training FAILURE")
        log.error(errors.write_failure(env.output_dir, exc))
        return 1
    (env.output_dir / "success").touch()
    log.info("Reporting training SUCCESS")
    return 0


def serve() -> int:
    if os.environ.get("SAGEMAKER_PROGRAM"):
        # Script mode: the user's inference script on the framework server, with XGBoost's defaults.
        os.environ.setdefault("SAGEMAKER_DEFAULT_HANDLERS", "algorithms.xgboost.script_serving")
        from sagemaker_framework_container import serving as framework
        framework.main()
        return 0
    skip_unused_imports()
    setup_logging()
    from algorithms.xgboost import serve as server
    server.main()
    return 0


def main(argv: list[str]) -> int:
    command = argv[0] if argv else "train"
    if command == "train":
        return train()
    if command == "serve":
        return serve()
    print(f"usage: python -m algorithms.xgboost train|serve (got {command!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
