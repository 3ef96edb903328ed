"""Unchanged SageMaker SDK code after one documented setup: `sagemaker-emulator sdk-setup` and
`eval "$(sagemaker-emulator env)"`. The client code runs in a fresh process whose HOME is a
temporary folder, with only the exports `env` prints: `sagemaker.get_execution_role()`,
`sagemaker.Session().default_bucket()` and the user guide's SKLearnProcessor and pipeline snippets.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from emulator import sdk_setup

HERE = Path(__file__).parent
CLI = [sys.executable, "-m", "emulator.cli"]


def cli(*args: str, home: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home)}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def user_environment(server, home: Path, *flags: str) -> dict[str, str]:
    """The environment of a shell after `sdk-setup` and `eval "$(sagemaker-emulator env)"`."""
    assert cli("sdk-setup", "--endpoint", server.endpoint, home=home).returncode == 0
    exports = cli("env", "--endpoint", server.endpoint, *flags, home=home).stdout
    env = {"PATH": os.environ["PATH"], "HOME": str(home), "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}
    for line in exports.splitlines():
        key, _, value = line.removeprefix("export ").partition("=")
        env[key] = value.strip("'")
    return env


def run_user_code(code: str, env: dict[str, str], cwd: Path, timeout: int = 120) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env, cwd=cwd, capture_output=True,
                            text=True, timeout=timeout, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


def write_guide_scripts(folder: Path) -> None:
    """preprocess.py (x -> y = 2x, clean.csv) and train.py (writes "<rows> <scikit-learn version>")."""
    (folder / "preprocess.py").write_text(textwrap.dedent("""
        import pandas as pd, sklearn
        df = pd.read_csv("/opt/ml/processing/input/raw.csv")
        df["y"] = df["x"] * 2
        df.to_csv("/opt/ml/processing/output/clean.csv", index=False)
        print("scikit-learn", sklearn.__version__)
    """))
    (folder / "train.py").write_text(textwrap.dedent("""
        import os, sklearn
        rows = open(os.path.join(os.environ["SM_CHANNEL_TRAINING"], "clean.csv")).read().splitlines()
        open(os.path.join(os.environ["SM_MODEL_DIR"], "rows.txt"), "w").write(f"{len(rows)} {sklearn.__version__}")
    """))


def test_env_prints_every_export_a_shell_needs(server, tmp_path):
    result = cli("env", "--endpoint", server.endpoint, home=tmp_path)
    assert result.returncode == 0, result.stderr
    exports = dict(line.removeprefix("export ").split("=", 1) for line in result.stdout.splitlines())
    health = sdk_setup.server_info(server.endpoint)
    assert exports == {"AWS_ENDPOINT_URL": server.endpoint, "AWS_ACCESS_KEY_ID": "test",
                       "AWS_SECRET_ACCESS_KEY": "test", "AWS_DEFAULT_REGION": "us-east-1",
                       "AWS_REGION": "us-east-1", "AWS_CA_BUNDLE": health["caBundle"]}
    bundle = Path(health["caBundle"]).read_text()
    assert bundle.startswith("-----BEGIN CERTIFICATE-----") and bundle.count("BEGIN CERTIFICATE") > 10
    failed = cli("env", "--endpoint", "http://127.0.0.1:9", home=tmp_path)
    assert failed.returncode == 1 and "no SageMaker Emulator answers" in failed.stderr


def test_sdk_setup_overrides_only_sts_and_sdk_reset_restores_what_was_there(server, tmp_path):
    models = tmp_path / ".aws" / "models"
    models.mkdir(parents=True)
    (models / "endpoints.json").write_text('{"partitions": [], "mine": true}')
    assert cli("sdk-setup", "--endpoint", server.endpoint, home=tmp_path).returncode == 0
    written = json.loads((models / "endpoints.json").read_text())
    port = sdk_setup.server_info(server.endpoint)["sdkHttpsPort"]
    aws = next(p for p in written["partitions"] if p["partition"] == "aws")
    assert aws["services"]["sts"]["defaults"]["hostname"] == f"127.0.0.1:{port}"
    import botocore
    builtin = json.loads((Path(botocore.__file__).parent / "data" / "endpoints.json").read_text())
    for ours, theirs in zip(written["partitions"], builtin["partitions"], strict=True):
        assert {k: v for k, v in ours["services"].items() if k != "sts"} == \
            {k: v for k, v in theirs["services"].items() if k != "sts"}
    again = cli("sdk-setup", "--endpoint", server.endpoint, home=tmp_path)  # idempotent: the user's file stays safe
    assert again.returncode == 0
    assert cli("sdk-reset", home=tmp_path).returncode == 0
    assert json.loads((models / "endpoints.json").read_text()) == {"partitions": [], "mine": True}
    assert "nothing to undo" in cli("sdk-reset", home=tmp_path).stdout


def test_get_execution_role_and_default_bucket_work_unchanged(server, tmp_path):
    env = user_environment(server, tmp_path)
    out = run_user_code("""
        import sagemaker
        role = sagemaker.get_execution_role()
        session = sagemaker.Session()
        print("ROLE", role)
        print("BUCKET", session.default_bucket())
        print("ACCOUNT", session.account_id())
    """, env, tmp_path)
    assert "ROLE arn:aws:iam::000000000000:role/SageMakerRole" in out
    assert "BUCKET sagemaker-us-east-1-000000000000" in out
    assert "ACCOUNT 000000000000" in out
    s3 = server.client("s3")
    assert s3.head_bucket(Bucket="sagemaker-us-east-1-000000000000")["ResponseMetadata"]["HTTPStatusCode"] == 200
    # Undone, the same code reaches for sts.us-east-1.amazonaws.com again and fails offline.
    assert cli("sdk-reset", home=tmp_path).returncode == 0
    result = subprocess.run([sys.executable, "-c", "import sagemaker; sagemaker.get_execution_role()"],
                            env=env, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode != 0


def test_caller_identity_is_an_assumed_role_and_iam_knows_the_role(server):
    identity = server.client("sts").get_caller_identity()
    assert identity["Arn"] == "arn:aws:sts::000000000000:assumed-role/SageMakerRole/SageMaker"
    assert identity["UserId"].startswith("AROA") and identity["UserId"].endswith(":SageMaker")
    role = server.client("iam").get_role(RoleName="SageMakerRole")["Role"]
    assert role["Arn"] == "arn:aws:iam::000000000000:role/SageMakerRole"
    assert role["RoleId"] == identity["UserId"].split(":")[0]


def test_configure_gives_a_harness_the_same_setup(server, tmp_path):
    env = sdk_setup.configure(server.endpoint, tmp_path)
    assert env["HOME"] == str(tmp_path) and env["AWS_ENDPOINT_URL"] == server.endpoint
    assert sdk_setup.is_ours(sdk_setup.endpoints_file(tmp_path))
    out = run_user_code("""
        import sagemaker
        print("ROLE", sagemaker.get_execution_role())
    """, {**env, "PATH": os.environ["PATH"], "SAGEMAKER_SUPPRESS_V2_WARNING": "1"}, tmp_path)
    assert "ROLE arn:aws:iam::000000000000:role/SageMakerRole" in out


def test_in_process_setup_for_a_pytest_plugin(server, tmp_path, monkeypatch):
    import sagemaker
    for key, value in sdk_setup.configure(server.endpoint, tmp_path).items():
        if key != "HOME":
            monkeypatch.setenv(key, value)
    with sdk_setup.in_process(tmp_path):
        assert sagemaker.get_execution_role() == "arn:aws:iam::000000000000:role/SageMakerRole"
        assert sagemaker.Session().default_bucket() == "sagemaker-us-east-1-000000000000"
    from sagemaker.utils import sts_regional_endpoint
    assert sts_regional_endpoint("us-east-1") == "https://sts.us-east-1.amazonaws.com"  # restored


@pytest.mark.docker
@pytest.mark.slow
def test_user_guide_sklearn_processor_and_pipeline_snippets_run_unchanged(server, tmp_path):
    from emulator.runtime.images import ensure_image
    ensure_image("sklearn-1.2", print)
    env = user_environment(server, tmp_path)
    write_guide_scripts(tmp_path)
    (tmp_path / "raw.csv").write_text("x\n1\n2\n3\n")
    out = run_user_code("""
        import sagemaker
        from sagemaker.inputs import TrainingInput
        from sagemaker.processing import ProcessingInput, ProcessingOutput
        from sagemaker.sklearn.estimator import SKLearn
        from sagemaker.sklearn.processing import SKLearnProcessor
        from sagemaker.workflow.pipeline import Pipeline
        from sagemaker.workflow.pipeline_context import PipelineSession
        from sagemaker.workflow.steps import TrainingStep

        role = sagemaker.get_execution_role()
        sklearn_processor = SKLearnProcessor(framework_version="1.2-1", role=role, instance_type="ml.m5.large",
                                             instance_count=1, base_job_name="guide-prep")
        sklearn_processor.run(code="preprocess.py",
                              inputs=[ProcessingInput(source="raw.csv", destination="/opt/ml/processing/input")],
                              outputs=[ProcessingOutput(output_name="clean", source="/opt/ml/processing/output")],
                              logs=False)
        clean = sklearn_processor.latest_job.describe()["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
        print("PROCESSED", sklearn_processor.latest_job.describe()["ProcessingJobStatus"], clean)

        pipeline_session = PipelineSession()
        estimator = SKLearn(sagemaker_session=pipeline_session, role=sagemaker.get_execution_role(),
                            instance_type="ml.m5.large", instance_count=1, framework_version="1.2-1",
                            py_version="py3", entry_point="train.py")
        step = TrainingStep(name="Train", step_args=estimator.fit(inputs=TrainingInput(s3_data=clean)))
        pipeline = Pipeline(name="UserGuidePipeline", steps=[step], sagemaker_session=pipeline_session)
        pipeline.upsert(role_arn=sagemaker.get_execution_role(), description="user guide")
        execution = pipeline.start()
        try:
            execution.wait(delay=2, max_attempts=300)
        finally:
            steps = execution.list_steps()
            print("STEPS", [(s["StepName"], s["StepStatus"], s.get("FailureReason")) for s in steps])
        training_job_name = steps[0]["Metadata"]["TrainingJob"]["Arn"].split("/")[-1]
        described = pipeline_session.sagemaker_client.describe_training_job(TrainingJobName=training_job_name)
        print("TRAINED", described["TrainingJobStatus"], described["ModelArtifacts"]["S3ModelArtifacts"])
    """, env, tmp_path, timeout=900)
    # The SDK's wait prints progress dots without a newline before our lines.
    processed = next(line.split("PROCESSED", 1)[1].split() for line in out.splitlines() if "PROCESSED" in line)
    assert processed[0] == "Completed" and processed[1].startswith("s3://sagemaker-us-east-1-000000000000/")
    trained = next(line.split("TRAINED", 1)[1].split() for line in out.splitlines() if "TRAINED" in line)
    assert trained[0] == "Completed"
    bucket, key = trained[1][5:].split("/", 1)
    import io
    import tarfile
    body = server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert tar.extractfile("rows.txt").read().decode().startswith("4 1.2.")
