"""A pipeline that trains (built-in XGBoost), creates a model and batch-transforms, built with the SageMaker
SDK's TransformStep, runs end to end; later steps read the Transform step's properties (its status in a
Condition, its output path as a Processing input)."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest

from tests.jobhelpers import ROLE, ensure_byo_image, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]

COUNT = """
    import pathlib
    rows = sum(len(p.read_text().split()) for p in pathlib.Path("/opt/ml/processing/input").rglob("*.out"))
    out = pathlib.Path("/opt/ml/processing/count"); out.mkdir(parents=True, exist_ok=True)
    (out / "count.txt").write_text(str(rows))
"""


def test_train_model_transform_pipeline(pipeline_session, tmp_path, server):
    from sagemaker import image_uris
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.transformer import Transformer
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionEquals
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.steps import ProcessingStep, TrainingStep, TransformStep

    session = pipeline_session
    bucket = session.default_bucket()
    s3 = session.boto_session.client("s3")
    rng = np.random.default_rng(3)
    features = rng.normal(size=(200, 3))
    labels = (features[:, 0] > 0).astype(int)
    train_rows = (f"{y}," + ",".join(f"{v:.5f}" for v in row) for y, row in zip(labels, features))
    s3.put_object(Bucket=bucket, Key="train/train.csv", Body="\n".join(train_rows).encode())
    s3.put_object(Bucket=bucket, Key="score/a.csv",
                  Body="\n".join(",".join(f"{v:.5f}" for v in row) for row in features[:25]).encode())
    image = image_uris.retrieve("xgboost", "us-east-1", "1.7-1")

    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{bucket}/models", sagemaker_session=session,
                          hyperparameters={"objective": "binary:logistic", "num_round": 10})
    train = TrainingStep(name="Train", step_args=estimator.fit(
        {"train": TrainingInput(f"s3://{bucket}/train", content_type="text/csv")}))
    model = Model(image_uri=image, model_data=train.properties.ModelArtifacts.S3ModelArtifacts, role=ROLE,
                  sagemaker_session=session)
    create = ModelStep(name="CreateModel", step_args=model.create(instance_type="ml.m5.large"))
    transformer = Transformer(model_name=create.properties.ModelName, instance_count=1, instance_type="ml.m5.large",
                              output_path=f"s3://{bucket}/scored", accept="text/csv", assemble_with="Line",
                              sagemaker_session=session)
    transform = TransformStep(name="Score", step_args=transformer.transform(
        f"s3://{bucket}/score/", content_type="text/csv", split_type="Line"))
    script = tmp_path / "count.py"
    script.write_text(textwrap.dedent(COUNT))
    processor = ScriptProcessor(image_uri=ensure_byo_image(), command=["python3"], role=ROLE,
                                instance_type="ml.m5.large", instance_count=1, sagemaker_session=session)
    count = ProcessingStep(name="Count", step_args=processor.run(
        code=str(script),
        inputs=[ProcessingInput(transform.properties.TransformOutput.S3OutputPath, "/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="count", source="/opt/ml/processing/count",
                                  destination=f"s3://{bucket}/count")]))
    check = ConditionStep(name="Scored", conditions=[ConditionEquals(left=transform.properties.TransformJobStatus,
                                                                     right="Completed")],
                          if_steps=[count], else_steps=[FailStep(name="NotScored", error_message="no scores")])
    pipeline = Pipeline(name=unique("TransformPipe"), steps=[train, create, transform, check],
                        sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    execution.wait(delay=1, max_attempts=600)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert {s: steps[s]["StepStatus"] for s in ("Train", "CreateModel-CreateModel", "Score", "Scored", "Count")} == \
        dict.fromkeys(("Train", "CreateModel-CreateModel", "Score", "Scored", "Count"), "Succeeded")
    job_name = steps["Score"]["Metadata"]["TransformJob"]["Arn"].split("/")[-1]
    job = server.client("sagemaker").describe_transform_job(TransformJobName=job_name)
    assert job["TransformJobStatus"] == "Completed" and job["ModelName"].startswith("pipelines-")
    scores = s3.get_object(Bucket=bucket, Key="scored/a.csv.out")["Body"].read().decode().split()
    assert len(scores) == 25
    assert s3.get_object(Bucket=bucket, Key="count/count.txt")["Body"].read() == b"25"
