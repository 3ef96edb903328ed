"""Script-mode training, called by the sagemaker-training toolkit's `train` command.

The toolkit (trainer.train) imports SAGEMAKER_TRAINING_MODULE and calls it inside its own error
handling, which writes /opt/ml/output/success or /opt/ml/output/failure and sets the exit code.
Like AWS's scikit-learn image we only hand the user's entry point to entry_point.run, which
downloads sagemaker_submit_directory (S3 via S3_ENDPOINT_URL, or a local path), installs
requirements.txt and runs the script with SM_* variables and hyperparameters as CLI arguments.
We keep AWS's capture_error=False, so the failure file reads `ExecuteUserScriptError: ExitCode 1
ErrorMessage ""` as on AWS: with capture_error=True the toolkit relays the script's output through
fixed-size reads and can split a line in two, which would break log-based metric definitions.
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
