"""The SageMaker SDK's own local mode (the user guide's LocalPipelineSession, instance_type="local")
runs offline on the emulator's images, tagged with the ECR URIs it asks for by `sagemaker-emulator
images tag-ecr`, with the emulator's S3 as its S3. The SDK runs the containers itself (docker-compose);
the emulator only serves S3, STS and IAM."""

from __future__ import annotations

import io
import shutil
import tarfile

import pytest

from tests.jobhelpers import unique
from tests.test_sdk_setup import run_user_code, user_environment, write_guide_scripts

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def ecr_tagged_images():
    """Tag the framework images for us-east-1, and take the tags (and what local mode leaves) away again:
    the Docker engine is shared, and other checkouts must not find these tags."""
    import docker

    from emulator.runtime.ecr_tags import tag_ecr
    if not shutil.which("docker-compose"):
        pytest.fail("the SDK's local mode needs docker-compose: scripts/ensure-docker.sh installs it")
    client = docker.from_env()
    before = {c.id for c in client.containers.list(all=True)}
    uris = tag_ecr(["us-east-1"], say=print)
    yield uris
    for uri in uris:
        client.images.remove(uri, noprune=True)
    for container in client.containers.list(all=True, filters={"label": "com.docker.compose.project"}):
        if container.id not in before:
            container.remove(force=True)


def test_local_pipeline_session_with_processing_and_training_steps(server, tmp_path, ecr_tagged_images):
    env = user_environment(server, tmp_path, "--local-mode")
    assert env["AWS_ENDPOINT_URL_S3"] != env["AWS_ENDPOINT_URL"]
    bucket = unique("localmode")
    server.client("s3").create_bucket(Bucket=bucket)
    server.client("s3").put_object(Bucket=bucket, Key="raw/raw.csv", Body=b"x\n1\n2\n3\n")
    write_guide_scripts(tmp_path)
    out = run_user_code(f"""
        import sagemaker
        from sagemaker.inputs import TrainingInput
        from sagemaker.processing import ProcessingInput, ProcessingOutput
        from sagemaker.sklearn.estimator import SKLearn
        from sagemaker.sklearn.processing import SKLearnProcessor
        from sagemaker.workflow.pipeline import Pipeline
        from sagemaker.workflow.pipeline_context import LocalPipelineSession
        from sagemaker.workflow.steps import ProcessingStep, TrainingStep

        local_pipeline_session = LocalPipelineSession(default_bucket="{bucket}")
        processor = SKLearnProcessor(framework_version="1.2-1", role=sagemaker.get_execution_role(),
                                     instance_type="local", instance_count=1,
                                     sagemaker_session=local_pipeline_session)
        prepare = ProcessingStep(name="Prepare", step_args=processor.run(
            code="preprocess.py",
            inputs=[ProcessingInput(source="s3://{bucket}/raw", destination="/opt/ml/processing/input")],
            outputs=[ProcessingOutput(output_name="clean", source="/opt/ml/processing/output")]))
        estimator = SKLearn(sagemaker_session=local_pipeline_session, role=sagemaker.get_execution_role(),
                            instance_type="local", instance_count=1, framework_version="1.2-1", py_version="py3",
                            entry_point="train.py", output_path="s3://{bucket}/models")
        clean = prepare.properties.ProcessingOutputConfig.Outputs["clean"].S3Output.S3Uri
        train = TrainingStep(name="Train", step_args=estimator.fit(inputs=TrainingInput(s3_data=clean)))
        pipeline = Pipeline(name="LocalGuidePipeline", steps=[prepare, train],
                            sagemaker_session=local_pipeline_session)
        pipeline.create(role_arn=sagemaker.get_execution_role(), description="local")
        execution = pipeline.start()
        print("STATUS", execution.describe()["PipelineExecutionStatus"])
        steps = execution.list_steps()
        print("STEPS", ",".join(s["StepName"] + ":" + s["StepStatus"] for s in steps["PipelineExecutionSteps"]))
        job = next(s for s in steps["PipelineExecutionSteps"] if s["StepName"] == "Train")["Metadata"]["TrainingJob"]["Arn"]
        print("MODEL", local_pipeline_session.sagemaker_client.describe_training_job(
            TrainingJobName=job)["ModelArtifacts"]["S3ModelArtifacts"])
    """, env, tmp_path, timeout=900)
    lines = {line.split(" ", 1)[0]: line.split(" ", 1)[1] for line in out.splitlines()
             if line.startswith(("STATUS ", "STEPS ", "MODEL "))}
    assert lines["STATUS"] == "Succeeded", out[-3000:]
    assert sorted(lines["STEPS"].split(",")) == ["Prepare:Succeeded", "Train:Succeeded"]
    # The model came back to the emulator's S3, trained by scikit-learn 1.2 (framework version 1.2-1).
    key = lines["MODEL"].split(f"s3://{bucket}/", 1)[1]
    body = server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert tar.extractfile("rows.txt").read().decode().startswith("4 1.2.")
