"""Response details the SageMaker SDK's helpers read, checked through those helpers (SDK v2):
Estimator.attach, the model card and registry helpers, trial component save, ProcessingJob,
pipeline validation wording, and built-in algorithms the emulator does not provide (named as such)."""

from __future__ import annotations

import json

import pytest

from emulator.testing.sdk import sdk_environment, sdk_session
from tests.jobhelpers import ROLE, ensure_byo_image, shell_processing_job, shell_training_job, unique, wait_for

INFERENCE = {"Containers": [{"Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1",
                             "ModelDataUrl": "s3://bucket/model.tar.gz"}],
             "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]}


@pytest.fixture
def session(server, monkeypatch, tmp_path):
    sdk_environment(monkeypatch, server, tmp_path)
    bucket = unique("sdkresp")
    server.client("s3").create_bucket(Bucket=bucket)
    return sdk_session(server, bucket)


def test_update_model_card_keeps_what_it_does_not_send(session, sagemaker):
    from sagemaker.model import ModelPackage
    from sagemaker.model_card.model_card import ModelPackageModelCard
    group = unique("cards")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arn = sagemaker.create_model_package(
        ModelPackageGroupName=group, InferenceSpecification=INFERENCE,
        ModelCard={"ModelCardContent": json.dumps({"model_overview": {"model_description": "first"}}),
                   "ModelCardStatus": "Draft"})["ModelPackageArn"]
    package = ModelPackage(role=ROLE, model_package_arn=arn, sagemaker_session=session)
    # Same status, new content: the SDK sends only ModelCardContent.
    package.update_model_card(ModelPackageModelCard(
        model_card_content={"model_overview": {"model_description": "second"}}, model_card_status="Draft"))
    card = sagemaker.describe_model_package(ModelPackageName=arn)["ModelCard"]
    assert card["ModelCardStatus"] == "Draft"
    assert json.loads(card["ModelCardContent"]) == {"model_overview": {"model_description": "second"}}
    # New status: the SDK sends only ModelCardStatus, and the content stays.
    package.update_model_card(ModelPackageModelCard(
        model_card_content={"model_overview": {"model_description": "second"}}, model_card_status="PendingReview"))
    card = sagemaker.describe_model_package(ModelPackageName=arn)["ModelCard"]
    assert card["ModelCardStatus"] == "PendingReview"
    assert json.loads(card["ModelCardContent"]) == {"model_overview": {"model_description": "second"}}


def test_most_recent_approved_package_helper_and_versioned_packages_have_no_name(session, sagemaker):
    assert session.get_most_recently_created_approved_model_package(unique("no-such-group")) is None
    group = unique("approved")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arns = [sagemaker.create_model_package(ModelPackageGroupName=group, InferenceSpecification=INFERENCE,
                                           ModelApprovalStatus=status)["ModelPackageArn"]
            for status in ("Approved", "Approved", "PendingManualApproval")]
    latest = session.get_most_recently_created_approved_model_package(group)
    assert latest.model_package_arn == arns[1]
    # Versioned packages carry no ModelPackageName, in Describe and in List (as on AWS).
    assert "ModelPackageName" not in sagemaker.describe_model_package(ModelPackageName=arns[0])
    listed = sagemaker.list_model_packages(ModelPackageGroupName=group)["ModelPackageSummaryList"]
    assert len(listed) == 3 and all("ModelPackageName" not in p for p in listed)
    assert sagemaker.list_model_packages(ModelPackageGroupName="nope")["ModelPackageSummaryList"] == []
    unversioned = unique("plain")
    sagemaker.create_model_package(ModelPackageName=unversioned, InferenceSpecification=INFERENCE)
    assert sagemaker.describe_model_package(ModelPackageName=unversioned)["ModelPackageName"] == unversioned


def test_trial_component_save_with_a_removed_parameter(session):
    from sagemaker.experiments.trial_component import _TrialComponent
    name = unique("tc")
    component = _TrialComponent.create(trial_component_name=name, sagemaker_session=session)
    component.parameters = {"lr": 0.1, "optimizer": "adam"}
    component.save()
    loaded = _TrialComponent.load(trial_component_name=name, sagemaker_session=session)
    assert loaded.parameters == {"lr": 0.1, "optimizer": "adam"}
    # save() sends every loaded parameter plus the ones to remove: the removal wins.
    loaded.parameters_to_remove = ["lr"]
    loaded.save()
    assert _TrialComponent.load(trial_component_name=name, sagemaker_session=session).parameters == \
        {"optimizer": "adam"}


def test_fail_step_dependency_is_refused_in_aws_words(session):
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionEquals
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.pipeline import Pipeline
    fail = FailStep(name="FailStep", error_message="stop")
    cond = ConditionStep(name="CondStep", conditions=[ConditionEquals(left=1, right=1)], if_steps=[], else_steps=[],
                         depends_on=[fail])
    pipeline = Pipeline(name=unique("FailDep"), steps=[fail, cond], sagemaker_session=session)
    with pytest.raises(session.sagemaker_client.exceptions.ClientError) as info:
        pipeline.create(role_arn=ROLE)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert info.value.response["Error"]["Message"] == "CondStep can not depends on FailStep"


@pytest.mark.docker
def test_estimator_attach_and_processing_job_defaults(server, session, sagemaker):
    from sagemaker.estimator import Estimator
    from sagemaker.processing import ProcessingJob
    image = ensure_byo_image()
    bucket = session.default_bucket()
    name = unique("attach")
    sagemaker.create_training_job(**shell_training_job(name, "echo hi > /opt/ml/model/m.txt", bucket, image=image))
    attached = Estimator.attach(name, sagemaker_session=session)  # waits for the job, then reads Describe
    assert attached.output_kms_key == "" and attached.output_path == f"s3://{bucket}/output"
    assert attached.model_data == f"s3://{bucket}/output/{name}/output/model.tar.gz"

    proc = unique("proc-defaults")
    request = shell_processing_job(proc, "true", inputs=[(f"s3://{bucket}/output", "/opt/ml/processing/in", {})],
                                   image=image)
    request.pop("StoppingCondition")
    sagemaker.create_processing_job(**request)
    described = ProcessingJob.from_processing_name(session, proc).describe()
    assert described["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert "S3CompressionType" not in described["ProcessingInputs"][0]["S3Input"]
    wait_for(lambda: sagemaker.describe_processing_job(ProcessingJobName=proc), "ProcessingJobStatus")


@pytest.mark.docker
def test_algorithms_not_provided_are_named_in_training_and_tuning(server, session):
    import numpy as np
    from sagemaker import KMeans
    from sagemaker.exceptions import UnexpectedStatusException
    from sagemaker.tuner import HyperparameterTuner, IntegerParameter
    kmeans = KMeans(role=ROLE, instance_count=1, instance_type="ml.m5.large", sagemaker_session=session, k=2)
    records = kmeans.record_set(np.random.default_rng(0).random((50, 2)).astype("float32"))
    with pytest.raises(UnexpectedStatusException) as failed:
        kmeans.fit(records, wait=True, logs=False)
    reason = session.describe_training_job(kmeans.latest_training_job.name)["FailureReason"]
    assert "K-Means" in reason and "not provided by the SageMaker Emulator" in reason, failed.value
    tuner = HyperparameterTuner(kmeans, objective_metric_name="test:msd", objective_type="Minimize",
                                hyperparameter_ranges={"extra_center_factor": IntegerParameter(1, 4)},
                                max_jobs=2, max_parallel_jobs=1)
    with pytest.raises(session.sagemaker_client.exceptions.ClientError) as refused:
        tuner.fit(records, wait=False)
    message = refused.value.response["Error"]["Message"]
    assert "K-Means" in message and "not provided" in message and "objective metric" not in message
