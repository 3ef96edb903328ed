"""The GitHub Action (action.yml) works: its `run:` steps, run the way a runner runs them -- in order,
`bash --noprofile --norc -eo pipefail`, with RUNNER_TEMP, GITHUB_ENV and GITHUB_OUTPUT files and the
step's `env:` expressions filled in -- install the checkout into a fresh virtualenv (a plain, not
editable, install), start the emulator, wait for it and export what later steps need. A "later step"
then uses only that environment. Nothing of GitHub itself runs; the steps are the action's own text.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import yaml

from tests.jobhelpers import free_port

# The action's steps install a package and start an emulator of their own: not part of the unit subset.
pytestmark = pytest.mark.emulator

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "action.yml").read_text())
# What a runner has system-wide: this machine's certificate settings (pip and curl need them), nothing else.
MACHINE = ("SSL_CERT_FILE", "SSL_CERT_DIR", "PIP_CERT", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")
LATER_STEP = """
import boto3
s3 = boto3.client("s3")
s3.create_bucket(Bucket="ci-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
s3.put_object(Bucket="ci-bucket", Key="k", Body=b"v")
print(s3.get_object(Bucket="ci-bucket", Key="k")["Body"].read().decode())
print(boto3.client("sagemaker").list_training_jobs()["TrainingJobSummaries"])
"""
EXPRESSION = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


class Runner:
    """Just enough of a runner for a composite action's steps."""

    def __init__(self, tmp: Path, inputs: dict[str, str], path: str) -> None:
        self.temp = tmp / "runner-temp"
        self.temp.mkdir()
        self.github_env = tmp / "github_env"
        self.github_env.touch()
        self.inputs = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()} | inputs
        self.outputs: dict[str, dict[str, str]] = {}
        self.env = {"PATH": path, "HOME": str(tmp / "home"), "RUNNER_TEMP": str(self.temp),
                    "GITHUB_ENV": str(self.github_env), "GITHUB_ACTION_PATH": str(ROOT),
                    # the runner's pip cache (setup-python's `cache: pip`), so the install takes seconds
                    "XDG_CACHE_HOME": str(Path.home() / ".cache"),
                    **{k: os.environ[k] for k in MACHINE if k in os.environ}}

    def value(self, expression: str) -> str:
        kind, _, rest = expression.partition(".")
        if kind == "inputs":
            return self.inputs[rest]
        if expression == "github.action_path":
            return str(ROOT)
        step, _, output = rest.partition(".outputs.")
        if kind == "steps" and output:
            return self.outputs.get(step, {}).get(output, "")
        raise AssertionError(f"the test does not know the expression {expression!r}; teach Runner.value")

    def condition(self, text: str | None) -> bool:
        if text is None:
            return True
        match = re.fullmatch(r"inputs\.([\w-]+) != ''", text.strip())
        assert match, f"the test does not know the condition {text!r}; teach Runner.condition"
        return self.inputs[match[1]] != ""

    def run(self, step: dict, timeout: float = 900) -> subprocess.CompletedProcess:
        output_file = self.temp / f"output-{step.get('id', 'step')}"
        output_file.write_text("")
        env = {**self.env, "GITHUB_OUTPUT": str(output_file),
               **{k: EXPRESSION.sub(lambda m: self.value(m[1]), str(v)) for k, v in step.get("env", {}).items()}}
        assert "${{" not in step["run"], "run: scripts take inputs through env: only"
        result = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]], env=env,
                                capture_output=True, text=True, timeout=timeout, check=False)
        if "id" in step:
            self.outputs[step["id"]] = dict(line.split("=", 1) for line in output_file.read_text().splitlines())
        return result

    def exported(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.github_env.read_text().splitlines())


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    """A fresh virtualenv, the runner's `python3` for this test."""
    path = tmp_path_factory.mktemp("action") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    return path


def runner_path(venv: Path) -> str:
    return f"{venv}/bin:/usr/bin:/bin"


def test_the_action_installs_starts_waits_and_exports_the_environment(venv, tmp_path):
    port = free_port()
    runner = Runner(tmp_path, {"port": str(port), "region": "eu-west-1"}, runner_path(venv))
    steps = ACTION["runs"]["steps"]
    assert ACTION["runs"]["using"] == "composite" and all(s.get("shell") == "bash" for s in steps)
    pid_file = runner.temp / "sagemaker-emulator.pid"
    try:
        for step in steps:
            if not runner.condition(step.get("if")):
                continue
            started = time.monotonic()
            result = runner.run(step)
            print(f"{step['name']}: {time.monotonic() - started:.1f}s")
            assert result.returncode == 0, f"{step['name']}:\n{result.stdout}\n{result.stderr}"
        endpoint = f"http://127.0.0.1:{port}"
        exported = runner.exported()
        assert exported == {"AWS_ENDPOINT_URL": endpoint, "SAGEMAKER_EMULATOR_URL": endpoint,
                            "AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test",
                            "AWS_DEFAULT_REGION": "eu-west-1", "AWS_REGION": "eu-west-1"}
        assert runner.outputs["start"] == {"endpoint-url": endpoint,
                                           "log-file": str(runner.temp / "sagemaker-emulator.log"),
                                           "data-dir": str(runner.temp / "sagemaker-emulator")}
        # It runs from the virtualenv, installed (not editable): the console's templates came along.
        installed = subprocess.run([f"{venv}/bin/python", "-c", "import emulator; print(emulator.__file__)"],
                                   capture_output=True, text=True, check=True, cwd=tmp_path).stdout
        assert installed.startswith(str(venv)), installed
        assert requests.get(f"{endpoint}/_emulator/ui/", timeout=10).status_code == 200

        # A later step of the job: only the runner's environment plus what the action exported.
        later = subprocess.run(
            [f"{venv}/bin/python", "-c", LATER_STEP],
            env={**runner.env, **exported}, capture_output=True, text=True, timeout=120, check=False)
        assert later.returncode == 0, later.stderr
        assert later.stdout.split() == ["v", "[]"]
        assert (runner.temp / "sagemaker-emulator" / "state.sqlite3").is_file()
    finally:
        if pid_file.exists():
            os.kill(int(pid_file.read_text()), signal.SIGTERM)   # the server this test's steps started


def test_the_wait_step_fails_with_the_log_when_nothing_answers(tmp_path):
    runner = Runner(tmp_path, {"wait-timeout": "2", "python": sys.executable}, "/usr/bin:/bin")
    (runner.temp / "sagemaker-emulator.log").write_text("Traceback: the emulator could not start\n")
    runner.outputs["start"] = {"endpoint-url": f"http://127.0.0.1:{free_port()}",
                               "log-file": str(runner.temp / "sagemaker-emulator.log")}
    (wait,) = [s for s in ACTION["runs"]["steps"] if s["name"].startswith("Wait")]
    started = time.monotonic()
    result = runner.run(wait, timeout=60)
    assert result.returncode == 1
    assert "::error::The SageMaker Emulator did not answer" in result.stdout
    assert "no SageMaker Emulator answered" in result.stderr          # sagemaker-emulator wait's own message
    assert "Traceback: the emulator could not start" in result.stdout
    assert time.monotonic() - started < 30


USER_TEST = """
def test_my_code_lists_training_jobs(sagemaker_client):
    assert sagemaker_client.list_training_jobs()["TrainingJobSummaries"] == []
"""


def test_after_the_install_a_user_test_taking_sagemaker_client_just_passes(venv, tmp_path):
    """What a user of the installed package does: add pytest and a test that takes `sagemaker_client`;
    the plugin (a pytest11 entry point of the installed wheel) starts an emulator for it."""
    runner = Runner(tmp_path, {}, runner_path(venv))
    install = runner.run(ACTION["runs"]["steps"][0])
    assert install.returncode == 0, install.stderr
    subprocess.run([f"{venv}/bin/python", "-m", "pip", "install", "-q", "pytest"], env=runner.env, check=True,
                   capture_output=True)
    (tmp_path / "project").mkdir()
    (tmp_path / "project" / "test_user.py").write_text(USER_TEST)
    result = subprocess.run([f"{venv}/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider"],
                            cwd=tmp_path / "project", env=runner.env, capture_output=True, text=True, timeout=300,
                            check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "1 passed" in result.stdout
