"""A pipeline built with the SageMaker SDK v2 under a PipelineSession runs unchanged on the emulator:
upsert, start(parameters), wait, list_steps, with Processing, Training, PropertyFiles + JsonGet,
Condition, ModelStep (create and register), Fail and caching."""

from __future__ import annotations

import json
import textwrap

import pytest

from tests.jobhelpers import ROLE, ensure_byo_image, unique

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EVALUATE = """
    import json, pathlib, sys
    mse = float(open("/opt/ml/processing/input/mse.txt").read())
    out = pathlib.Path("/opt/ml/processing/evaluation"); out.mkdir(parents=True, exist_ok=True)
    (out / "evaluation.json").write_text(json.dumps({"regression_metrics": {"mse": {"value": mse}}}))
    print("mse", mse)
"""


def build(session, tmp_path, name: str):
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    from sagemaker.model import Model
    from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionLessThanOrEqualTo
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join, JsonGet
    from sagemaker.workflow.model_step import ModelStep
    from sagemaker.workflow.parameters import ParameterFloat, ParameterString
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.properties import PropertyFile
    from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep

    image = ensure_byo_image()
    bucket = session.default_bucket()
    mse_file = tmp_path / "mse.txt"
    mse_file.write_text("2.0")
    session.boto_session.client("s3").put_object(Bucket=bucket, Key="data/mse.txt", Body=b"2.0")
    threshold = ParameterFloat(name="MseThreshold", default_value=3.0)
    approval = ParameterString(name="ModelApprovalStatus", default_value="PendingManualApproval")
    script = tmp_path / "evaluate.py"
    script.write_text(textwrap.dedent(EVALUATE))

    processor = ScriptProcessor(image_uri=image, command=["python3"], role=ROLE, instance_type="ml.m5.large",
                                instance_count=1, sagemaker_session=session)
    report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    evaluate = ProcessingStep(
        name="Evaluate", step_args=processor.run(
            code=str(script), inputs=[ProcessingInput(f"s3://{bucket}/data", "/opt/ml/processing/input")],
            outputs=[ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")]),
        property_files=[report], cache_config=CacheConfig(enable_caching=True, expire_after="P1D"))

    estimator = Estimator(image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{bucket}/models", sagemaker_session=session,
                          container_entry_point=["sh", "-c", "echo weights > /opt/ml/model/w.txt"])
    train = TrainingStep(name="Train", step_args=estimator.fit(
        {"train": TrainingInput(f"s3://{bucket}/data", content_type="text/csv")}), depends_on=[evaluate])

    model = Model(image_uri=image, model_data=train.properties.ModelArtifacts.S3ModelArtifacts, role=ROLE,
                  sagemaker_session=session)
    register = ModelStep(name="Register", step_args=model.register(
        content_types=["text/csv"], response_types=["text/csv"], inference_instances=["ml.m5.large"],
        transform_instances=["ml.m5.large"], model_package_group_name=f"{name}-group",
        approval_status=approval))
    create_model = ModelStep(name="CreateModel", step_args=model.create(instance_type="ml.m5.large"))
    fail = FailStep(name="TooHigh", error_message=Join(on=" ", values=["MSE above", threshold]))
    condition = ConditionStep(
        name="CheckMse", conditions=[ConditionLessThanOrEqualTo(
            left=JsonGet(step_name=evaluate.name, property_file=report, json_path="regression_metrics.mse.value"),
            right=threshold)],
        if_steps=[register, create_model], else_steps=[fail])
    return Pipeline(name=name, parameters=[threshold, approval], steps=[evaluate, train, condition],
                    sagemaker_session=session)


def test_sdk_pipeline_both_branches_and_cache(pipeline_session, tmp_path, server):
    name = unique("SdkPipe")
    pipeline = build(pipeline_session, tmp_path, name)
    assert pipeline.upsert(role_arn=ROLE)["PipelineArn"].endswith(f"pipeline/{name}")
    assert pipeline.upsert(role_arn=ROLE)["PipelineArn"]  # second upsert: "already exists" -> update
    definition = json.loads(pipeline.describe()["PipelineDefinition"])
    assert {s["Name"] for s in definition["Steps"]} == {"Evaluate", "Train", "CheckMse"}

    execution = pipeline.start()
    execution.wait(delay=1, max_attempts=300)
    steps = {s["StepName"]: s for s in execution.list_steps()}
    assert set(steps) == {"Evaluate", "Train", "CheckMse", "Register-RegisterModel", "CreateModel-CreateModel"}
    assert steps["CheckMse"]["Metadata"]["Condition"]["Outcome"] == "True"
    package_arn = steps["Register-RegisterModel"]["Metadata"]["RegisterModel"]["Arn"]
    assert package_arn.endswith(f"model-package/{name.lower()}-group/1")
    sagemaker = server.client("sagemaker")
    package = sagemaker.describe_model_package(ModelPackageName=package_arn)
    assert package["ModelApprovalStatus"] == "PendingManualApproval"
    job = sagemaker.describe_training_job(TrainingJobName=steps["Train"]["Metadata"]["TrainingJob"]["Arn"]
                                          .split("/")[-1])
    assert package["InferenceSpecification"]["Containers"][0]["ModelDataUrl"] == \
        job["ModelArtifacts"]["S3ModelArtifacts"]
    trial = sagemaker.describe_trial(TrialName=execution.arn.split("/")[-1])
    assert trial["ExperimentName"] == name

    failing = pipeline.start(parameters={"MseThreshold": 1.0})
    with pytest.raises(Exception, match="Failed"):
        failing.wait(delay=1, max_attempts=300)
    steps = {s["StepName"]: s for s in failing.list_steps()}
    assert set(steps) == {"Evaluate", "Train", "CheckMse", "TooHigh"}
    assert steps["TooHigh"]["FailureReason"] == "MSE above 1.0"
    assert steps["Evaluate"]["CacheHitResult"]["SourcePipelineExecutionArn"] == execution.arn
    assert failing.describe()["FailureReason"] == "Step failure: One or multiple steps failed."
