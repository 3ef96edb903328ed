"""SageMaker's abalone pipeline -- the user guide's step-by-step CI/CD pipeline -- on the emulator:
pipeline parameters, SKLearnProcessor preprocessing, built-in XGBoost training, an evaluation step
whose PropertyFile feeds a Condition on the test MSE, RegisterModel when the model is good enough and
a Fail step when it is not. SageMaker SDK code as written for AWS; only the environment differs:

    export AWS_ENDPOINT_URL=http://127.0.0.1:7070 AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
    export AWS_DEFAULT_REGION=us-east-1
    python examples/abalone_pipeline/pipeline.py                      # registers the model
    python examples/abalone_pipeline/pipeline.py --mse-threshold 0    # ends in the Fail step

The second run finds the processing, training and evaluation steps in the pipeline's cache.
"""

import argparse
import pathlib
import sys

import numpy as np
import sagemaker
from botocore.exceptions import WaiterError
from sagemaker.estimator import Estimator
from sagemaker.inputs import TrainingInput
from sagemaker.model_metrics import MetricsSource, ModelMetrics
from sagemaker.processing import ProcessingInput, ProcessingOutput, ScriptProcessor
from sagemaker.s3 import S3Uploader
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.workflow.condition_step import ConditionStep
from sagemaker.workflow.conditions import ConditionLessThanOrEqualTo
from sagemaker.workflow.fail_step import FailStep
from sagemaker.workflow.functions import Join, JsonGet
from sagemaker.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
from sagemaker.workflow.pipeline import Pipeline
from sagemaker.workflow.pipeline_context import PipelineSession
from sagemaker.workflow.properties import PropertyFile
from sagemaker.workflow.step_collections import RegisterModel
from sagemaker.workflow.steps import CacheConfig, ProcessingStep, TrainingStep

HERE = pathlib.Path(__file__).resolve().parent
MODEL_PACKAGE_GROUP = "AbaloneModelPackageGroupName"

# With the emulator's STS set up for the SDK (`sagemaker-emulator sdk-setup`) these two lines are the
# usual `pipeline_session = PipelineSession()` and `role = sagemaker.get_execution_role()`.
pipeline_session = PipelineSession(default_bucket="sagemaker-example-abalone")
role = "arn:aws:iam::000000000000:role/SageMakerRole"

region = pipeline_session.boto_region_name
bucket = pipeline_session.default_bucket()


def abalone_csv(rows: int = 600, seed: int = 0) -> str:
    """An abalone-like table (UCI's columns; rings grow with size and weight), so the example needs no
    download: sex, length, diameter, height, whole, shucked, viscera and shell weight, rings."""
    rng = np.random.default_rng(seed)
    sex = rng.choice(["M", "F", "I"], rows)
    length = rng.uniform(0.1, 0.8, rows)
    diameter = 0.8 * length + rng.normal(0, 0.02, rows)
    height = 0.25 * length + rng.normal(0, 0.01, rows)
    whole = 2.0 * length ** 3 + rng.normal(0, 0.02, rows)
    shucked, viscera, shell = 0.45 * whole, 0.22 * whole, 0.3 * whole + rng.normal(0, 0.01, rows)
    rings = np.clip(np.round(3 + 20 * shell + 5 * length + rng.normal(0, 1.2, rows) + (sex == "I") * -1.5), 1, 29)
    lines = [f"{s},{a:.3f},{b:.3f},{c:.3f},{d:.4f},{e:.4f},{f:.4f},{g:.4f},{int(r)}"
             for s, a, b, c, d, e, f, g, r in zip(sex, length, diameter, height, whole, shucked, viscera, shell, rings)]
    return "\n".join(lines) + "\n"


def build(mse_threshold_default: float) -> Pipeline:
    input_data_uri = S3Uploader.upload_string_as_file_body(
        abalone_csv(), f"s3://{bucket}/abalone/abalone-dataset.csv", sagemaker_session=pipeline_session)

    processing_instance_count = ParameterInteger(name="ProcessingInstanceCount", default_value=1)
    instance_type = ParameterString(name="TrainingInstanceType", default_value="ml.m5.xlarge")
    model_approval_status = ParameterString(name="ModelApprovalStatus", default_value="PendingManualApproval")
    input_data = ParameterString(name="InputData", default_value=input_data_uri)
    mse_threshold = ParameterFloat(name="MseThreshold", default_value=mse_threshold_default)
    cache_config = CacheConfig(enable_caching=True, expire_after="PT1H")

    sklearn_processor = SKLearnProcessor(
        framework_version="1.2-1", instance_type="ml.m5.xlarge", instance_count=processing_instance_count,
        base_job_name="sklearn-abalone-process", role=role, sagemaker_session=pipeline_session)
    step_process = ProcessingStep(
        name="AbaloneProcess", cache_config=cache_config,
        step_args=sklearn_processor.run(
            inputs=[ProcessingInput(source=input_data, destination="/opt/ml/processing/input")],
            outputs=[ProcessingOutput(output_name="train", source="/opt/ml/processing/train"),
                     ProcessingOutput(output_name="validation", source="/opt/ml/processing/validation"),
                     ProcessingOutput(output_name="test", source="/opt/ml/processing/test")],
            code=str(HERE / "preprocessing.py")))
    outputs = step_process.properties.ProcessingOutputConfig.Outputs

    image_uri = sagemaker.image_uris.retrieve(framework="xgboost", region=region, version="1.7-1",
                                              py_version="py3", instance_type="ml.m5.xlarge")
    xgb_train = Estimator(image_uri=image_uri, instance_type=instance_type, instance_count=1,
                          output_path=f"s3://{bucket}/AbaloneTrain", role=role, sagemaker_session=pipeline_session)
    xgb_train.set_hyperparameters(objective="reg:squarederror", num_round=50, max_depth=5, eta=0.2, gamma=4,
                                  min_child_weight=6, subsample=0.7)
    step_train = TrainingStep(
        name="AbaloneTrain", cache_config=cache_config,
        step_args=xgb_train.fit(inputs={
            "train": TrainingInput(s3_data=outputs["train"].S3Output.S3Uri, content_type="text/csv"),
            "validation": TrainingInput(s3_data=outputs["validation"].S3Output.S3Uri, content_type="text/csv")}))

    script_eval = ScriptProcessor(image_uri=image_uri, command=["python3"], instance_type="ml.m5.xlarge",
                                  instance_count=1, base_job_name="script-abalone-eval", role=role,
                                  sagemaker_session=pipeline_session)
    evaluation_report = PropertyFile(name="EvaluationReport", output_name="evaluation", path="evaluation.json")
    step_eval = ProcessingStep(
        name="AbaloneEval", cache_config=cache_config, property_files=[evaluation_report],
        step_args=script_eval.run(
            inputs=[ProcessingInput(source=step_train.properties.ModelArtifacts.S3ModelArtifacts,
                                    destination="/opt/ml/processing/model"),
                    ProcessingInput(source=outputs["test"].S3Output.S3Uri, destination="/opt/ml/processing/test")],
            outputs=[ProcessingOutput(output_name="evaluation", source="/opt/ml/processing/evaluation")],
            code=str(HERE / "evaluation.py")))

    evaluation_uri = step_eval.arguments["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    step_register = RegisterModel(
        name="AbaloneRegisterModel", estimator=xgb_train,
        model_data=step_train.properties.ModelArtifacts.S3ModelArtifacts,
        content_types=["text/csv"], response_types=["text/csv"],
        inference_instances=["ml.t2.medium", "ml.m5.large"], transform_instances=["ml.m5.large"],
        model_package_group_name=MODEL_PACKAGE_GROUP, approval_status=model_approval_status,
        model_metrics=ModelMetrics(model_statistics=MetricsSource(
            s3_uri=f"{evaluation_uri}/evaluation.json", content_type="application/json")))
    step_fail = FailStep(name="AbaloneMSEFail",
                         error_message=Join(on=" ", values=["Execution failed due to MSE >", mse_threshold]))
    step_cond = ConditionStep(
        name="AbaloneMSECond",
        conditions=[ConditionLessThanOrEqualTo(
            left=JsonGet(step_name=step_eval.name, property_file=evaluation_report,
                         json_path="regression_metrics.mse.value"),
            right=mse_threshold)],
        if_steps=[step_register], else_steps=[step_fail])

    return Pipeline(name="AbalonePipeline",
                    parameters=[processing_instance_count, instance_type, model_approval_status, input_data,
                                mse_threshold],
                    steps=[step_process, step_train, step_eval, step_cond], sagemaker_session=pipeline_session)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mse-threshold", type=float, default=6.0, help="register the model if its MSE is at most this")
    args = parser.parse_args()

    pipeline = build(6.0)
    pipeline.upsert(role_arn=role)
    execution = pipeline.start(parameters={"MseThreshold": args.mse_threshold})
    print(f"started {execution.arn}")
    try:
        execution.wait(delay=5, max_attempts=180)
    except WaiterError:
        pass  # the Fail step, or a failed job: the description says which
    description = execution.describe()
    for step in reversed(execution.list_steps()):
        cached = " (cache hit)" if step.get("CacheHitResult") else ""
        print(f"  {step['StepName']:<36} {step['StepStatus']:<10}{cached} {step.get('FailureReason', '')}")
    print(f"PipelineExecutionStatus: {description['PipelineExecutionStatus']}"
          + (f" ({description['FailureReason']})" if description.get("FailureReason") else ""))
    if description["PipelineExecutionStatus"] == "Succeeded":
        packages = pipeline_session.sagemaker_client.list_model_packages(ModelPackageGroupName=MODEL_PACKAGE_GROUP,
                                                                         SortBy="CreationTime", SortOrder="Descending")
        print(f"registered {packages['ModelPackageSummaryList'][0]['ModelPackageArn']}")
    return 0 if description["PipelineExecutionStatus"] == "Succeeded" else 1


if __name__ == "__main__":
    sys.exit(main())
