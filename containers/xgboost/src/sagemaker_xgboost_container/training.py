"""SAGEMAKER_TRAINING_MODULE of the XGBoost image: `train` (the sagemaker-training toolkit) calls main().

As in AWS's image: with a user entry point (hyperparameter sagemaker_program) the script is run as a
Python *module*, `python -m <entry point without .py>` in the code directory, with the toolkit's
command-line arguments and SM_* variables; so `sagemaker_program="train"` with a `train.py` in the
sourcedir runs that file (AWS's training.train -> sagemaker_containers modules.run_module). Without
one, the built-in algorithm runs.
"""

from __future__ import annotations

import re
import sys

from sagemaker_training import environment, files, modules, process


class ModuleRunner(process.ProcessRunner):
    """`python -m <module> <args>` in the code directory, with the toolkit's error reporting."""

    def _create_command(self) -> list[str]:
        module = re.sub(r"\.py$", "", process.validate_entry_point(self._user_entry_point))
        return [process.python_executable(), "-m", module, *self._args]


def run_user_module(env: environment.Environment) -> None:
    files.download_and_extract(uri=env.module_dir, path=environment.code_dir)
    if modules.has_requirements(environment.code_dir):
        modules.install_requirements(environment.code_dir, capture_error=False)
    env_vars = env.to_env_vars()
    environment.write_env_vars(env_vars)
    ModuleRunner(env.user_entry_point, env.to_cmd_args(), env_vars, 1).run(wait=True, capture_error=False)


def train(training_environment: environment.Environment) -> None:
    if training_environment.user_entry_point:
        run_user_module(training_environment)
    else:
        from algorithms.xgboost.__main__ import train as algorithm_mode
        code = algorithm_mode()
        if code:
            sys.exit(code)


def main() -> None:
    train(environment.Environment())
