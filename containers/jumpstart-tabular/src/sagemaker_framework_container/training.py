"""Script-mode training, called by the sagemaker-training toolkit's `train` command.

As in AWS's framework images (and containers/sklearn): the toolkit imports SAGEMAKER_TRAINING_MODULE
inside its own error handling (success/failure files, exit code); we hand the user's entry point to
entry_point.run, which fetches sagemaker_submit_directory (S3 through S3_ENDPOINT_URL, or
/opt/ml/input/data/code/sourcedir.tar.gz under network isolation), installs requirements.txt and
runs the script with SM_* variables and the hyperparameters as `--name value` arguments.
"""

from sagemaker_training import entry_point, environment, runner


def train(training_environment: environment.Environment) -> None:
    entry_point.run(
        uri=training_environment.module_dir,
        user_entry_point=training_environment.user_entry_point,
        args=training_environment.to_cmd_args(),
        env_vars=training_environment.to_env_vars(),
        runner_type=runner.ProcessRunnerType,
    )


def main() -> None:
    train(environment.Environment())
