"""Experiments, trials, trial components, their links, sagemaker-metrics, and the trial components
that jobs created with an ExperimentConfig get (unit level, on a real Services object)."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from emulator.config import Settings
from emulator.core import experiments, metrics
from emulator.core.services import Services

pytestmark = pytest.mark.own_emulator  # the tests reset it and count what they list


@pytest.fixture(autouse=True)
def clean(server):
    server.reset()


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as info:
        call(**kwargs)
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return response["Error"]


def test_experiment_lifecycle_and_duplicate_is_validation_already_exists(sagemaker):
    arn = sagemaker.create_experiment(
        ExperimentName="exp-a", Description="first", Tags=[{"Key": "team", "Value": "ml"}]
    )["ExperimentArn"]
    assert arn == "arn:aws:sagemaker:us-east-1:000000000000:experiment/exp-a"
    desc = sagemaker.describe_experiment(ExperimentName="exp-a")
    assert desc["DisplayName"] == "exp-a" and desc["Description"] == "first"
    assert desc["CreationTime"] <= desc["LastModifiedTime"]
    err = error_of(sagemaker.create_experiment, ExperimentName="exp-a")
    assert err["Code"] == "ValidationException" and "already exists" in err["Message"]
    # Names are case-insensitive, as the lower-cased ARN implies.
    assert "already exists" in error_of(sagemaker.create_experiment, ExperimentName="EXP-A")["Message"]
    sagemaker.update_experiment(ExperimentName="exp-a", DisplayName="Shown", Description="second")
    desc = sagemaker.describe_experiment(ExperimentName="EXP-A")
    assert (desc["DisplayName"], desc["Description"]) == ("Shown", "second")
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    assert sagemaker.delete_experiment(ExperimentName="exp-a")["ExperimentArn"] == arn
    assert error_of(sagemaker.describe_experiment, ExperimentName="exp-a")["Code"] == "ResourceNotFound"


def test_missing_resources_are_resource_not_found(sagemaker):
    for call, kwargs in (
        (sagemaker.describe_trial, {"TrialName": "nope"}),
        (sagemaker.describe_trial_component, {"TrialComponentName": "nope"}),
        (sagemaker.delete_experiment, {"ExperimentName": "nope"}),
        (sagemaker.update_trial_component, {"TrialComponentName": "nope"}),
        (sagemaker.create_trial, {"TrialName": "t", "ExperimentName": "nope"}),
        (sagemaker.list_trials, {"ExperimentName": "nope"}),
    ):
        assert error_of(call, **kwargs)["Code"] == "ResourceNotFound"


def test_delete_guards_follow_aws_order(sagemaker):
    sagemaker.create_experiment(ExperimentName="exp")
    sagemaker.create_trial(TrialName="trial", ExperimentName="exp")
    sagemaker.create_trial_component(TrialComponentName="tc")
    sagemaker.associate_trial_component(TrialComponentName="tc", TrialName="trial")
    err = error_of(sagemaker.delete_experiment, ExperimentName="exp")
    assert err["Code"] == "ValidationException" and "trial" in err["Message"]
    assert "cannot be deleted" in error_of(sagemaker.delete_trial, TrialName="trial")["Message"]
    assert (
        "is linked to 1 or more trials and cannot be deleted"
        in error_of(sagemaker.delete_trial_component, TrialComponentName="tc")["Message"]
    )
    sagemaker.disassociate_trial_component(TrialComponentName="tc", TrialName="trial")
    assert (
        error_of(sagemaker.disassociate_trial_component, TrialComponentName="tc", TrialName="trial")["Code"]
        == "ResourceNotFound"
    )
    sagemaker.delete_trial_component(TrialComponentName="tc")
    sagemaker.delete_trial(TrialName="trial")
    sagemaker.delete_experiment(ExperimentName="exp")
    assert sagemaker.list_experiments()["ExperimentSummaries"] == []


def test_lists_filter_by_parent_and_page(sagemaker):
    sagemaker.create_experiment(ExperimentName="exp")
    sagemaker.create_experiment(ExperimentName="other")
    for i in range(3):
        sagemaker.create_trial(TrialName=f"t{i}", ExperimentName="exp")
        sagemaker.create_trial_component(TrialComponentName=f"c{i}")
        sagemaker.associate_trial_component(TrialComponentName=f"c{i}", TrialName=f"t{i}")
    sagemaker.create_trial(TrialName="x", ExperimentName="other")
    sagemaker.create_trial_component(TrialComponentName="loose")
    sagemaker.associate_trial_component(TrialComponentName="c0", TrialName="x")  # one component, two trials

    first = sagemaker.list_trials(ExperimentName="exp", MaxResults=2, SortBy="Name", SortOrder="Ascending")
    assert [t["TrialName"] for t in first["TrialSummaries"]] == ["t0", "t1"]
    rest = sagemaker.list_trials(
        ExperimentName="exp", MaxResults=2, SortBy="Name", SortOrder="Ascending", NextToken=first["NextToken"]
    )
    assert [t["TrialName"] for t in rest["TrialSummaries"]] == ["t2"] and "NextToken" not in rest
    assert sorted(
        t["TrialName"] for t in sagemaker.list_trials(TrialComponentName="c0")["TrialSummaries"]
    ) == ["t0", "x"]
    names = lambda **kw: sorted(
        c["TrialComponentName"] for c in sagemaker.list_trial_components(**kw)["TrialComponentSummaries"]
    )
    assert names(ExperimentName="exp") == ["c0", "c1", "c2"]
    assert names(TrialName="x") == ["c0"]
    assert names(MaxResults=100) == ["c0", "c1", "c2", "loose"]
    assert (
        error_of(sagemaker.list_trial_components, ExperimentName="exp", TrialName="x")["Code"]
        == "ValidationException"
    )


def test_update_trial_component_merges_and_removes(sagemaker):
    sagemaker.create_trial_component(
        TrialComponentName="tc",
        Parameters={"lr": {"NumberValue": 0.1}},
        InputArtifacts={"data": {"Value": "s3://b/k"}},
    )
    start = time.time()
    sagemaker.update_trial_component(
        TrialComponentName="tc",
        Parameters={"opt": {"StringValue": "adam"}},
        ParametersToRemove=["lr"],
        OutputArtifacts={"model": {"Value": "s3://b/m", "MediaType": "application/x-tar"}},
        Status={"PrimaryStatus": "Completed"},
        StartTime=start,
        EndTime=start + 5,
    )
    desc = sagemaker.describe_trial_component(TrialComponentName="tc")
    assert desc["Parameters"] == {"opt": {"StringValue": "adam"}}
    assert desc["InputArtifacts"] == {"data": {"Value": "s3://b/k"}}
    assert desc["OutputArtifacts"]["model"]["MediaType"] == "application/x-tar"
    assert desc["Status"] == {"PrimaryStatus": "Completed"}
    assert desc["EndTime"].timestamp() == pytest.approx(start + 5, abs=0.01)
    # A key both set and removed is removed, as on AWS (the SDK's TrialComponent.save() sends both).
    sagemaker.update_trial_component(TrialComponentName="tc", Parameters={"a": {"NumberValue": 1}},
                                     ParametersToRemove=["a", "opt"])
    assert "a" not in sagemaker.describe_trial_component(TrialComponentName="tc").get("Parameters", {})


def test_batch_put_metrics_summaries_and_series(server, sagemaker):
    metrics_client = server.client("sagemaker-metrics")
    arn = sagemaker.create_trial_component(TrialComponentName="Run-TC")["TrialComponentArn"]
    base = time.time() - 600
    data = [
        {"MetricName": "loss", "Value": v, "Timestamp": base + i * 61, "Step": i}
        for i, v in enumerate([4.0, 2.0, 3.0, 1.0])
    ]
    # The SDK sends the component's name lower-cased.
    assert metrics_client.batch_put_metrics(TrialComponentName="run-tc", MetricData=data)["Errors"] == []
    assert (
        metrics_client.batch_put_metrics(
            TrialComponentName="run-tc", MetricData=[{"MetricName": "acc", "Value": 0.5, "Timestamp": base}]
        )["Errors"]
        == []
    )
    summary = {
        m["MetricName"]: m for m in sagemaker.describe_trial_component(TrialComponentName="Run-TC")["Metrics"]
    }
    loss = summary["loss"]
    assert (loss["Min"], loss["Max"], loss["Last"], loss["Count"], loss["Avg"]) == (1.0, 4.0, 1.0, 4, 2.5)
    assert loss["StdDev"] == pytest.approx(1.2909944, rel=1e-6)  # sample standard deviation
    assert summary["acc"]["Count"] == 1 and summary["acc"]["StdDev"] == 0.0

    result = metrics_client.batch_get_metrics(
        MetricQueries=[
            {
                "MetricName": "loss",
                "ResourceArn": arn,
                "MetricStat": "Max",
                "Period": "IterationNumber",
                "XAxisType": "IterationNumber",
            },
            {
                "MetricName": "loss",
                "ResourceArn": arn,
                "MetricStat": "Avg",
                "Period": "OneHour",
                "XAxisType": "Timestamp",
            },
            {
                "MetricName": "loss",
                "ResourceArn": arn,
                "MetricStat": "Last",
                "Period": "IterationNumber",
                "XAxisType": "IterationNumber",
                "Start": 1,
                "End": 2,
            },
            {
                "MetricName": "loss",
                "ResourceArn": arn + "-missing",
                "MetricStat": "Max",
                "Period": "OneMinute",
                "XAxisType": "Timestamp",
            },
        ]
    )["MetricQueryResults"]
    assert result[0] == {
        "Status": "Complete",
        "XAxisValues": [0, 1, 2, 3],
        "MetricValues": [4.0, 2.0, 3.0, 1.0],
    }
    assert len(result[1]["XAxisValues"]) in (1, 2)  # four points a minute apart: one or two hours
    assert all(x % 3600 == 0 for x in result[1]["XAxisValues"])
    assert result[2]["XAxisValues"] == [1, 2] and result[2]["MetricValues"] == [2.0, 3.0]
    assert result[3]["Status"] == "ValidationError"
    err = error_of(metrics_client.batch_put_metrics, TrialComponentName="ghost", MetricData=data)
    assert err["Code"] == "ResourceNotFound"


def test_metrics_survive_restart(tmp_path):
    services = Services(Settings(data_dir=tmp_path / "data"))
    services.records.insert("TrialComponent", "tc", "arn:tc", {"TrialComponentName": "tc"}, Exception)
    metrics.put(services, "tc", [{"MetricName": "m", "Value": 1.0, "Timestamp": 1.0, "Step": 0}])
    # Non-finite values cannot be stored: reported per index, as BatchPutMetrics' Errors.
    assert metrics.put(
        services,
        "tc",
        [
            {"MetricName": "m", "Value": 2.0, "Timestamp": 2.0},
            {"MetricName": "m", "Value": float("inf"), "Timestamp": 3.0},
        ],
    ) == [{"Code": "VALIDATION_ERROR", "MetricIndex": 1}]
    services.shutdown()
    again = Services(Settings(data_dir=tmp_path / "data"))
    assert metrics.summaries(again, "TC")[0]["Count"] == 2
    again.shutdown()


# --- jobs with an ExperimentConfig (called by the job code) -------------------------------------

REGION = "us-east-1"


def _training_job(name: str, config: dict | None) -> dict:
    now = time.time()
    job = {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:{REGION}:000000000000:training-job/{name}",
        "TrainingJobStatus": "InProgress",
        "CreationTime": now,
        "LastModifiedTime": now,
        "HyperParameters": {"num_round": "50", "objective": "reg:squarederror"},
        "AlgorithmSpecification": {"TrainingImage": "img:1", "TrainingInputMode": "File"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 5},
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {"S3Uri": "s3://b/train/", "S3DataType": "S3Prefix"}},
            }
        ],
    }
    if config:
        job["ExperimentConfig"] = config
    return job


def test_training_job_with_experiment_config_gets_its_trial_component(services):
    experiments.create_experiment(services, REGION, {"ExperimentName": "exp"})
    experiments.create_trial(services, REGION, {"TrialName": "trial", "ExperimentName": "exp"})
    job = _training_job("Job-1", {"ExperimentName": "exp", "TrialName": "trial"})
    experiments.on_job_created(services, REGION, "TrainingJob", job)

    tc = experiments.describe_trial_component(services, REGION, "Job-1-aws-training-job")
    assert tc["TrialComponentArn"].endswith(":experiment-trial-component/job-1-aws-training-job")
    assert tc["Source"] == {"SourceArn": job["TrainingJobArn"], "SourceType": "SageMakerTrainingJob"}
    assert tc["Status"] == {"PrimaryStatus": "InProgress"}
    assert tc["Parameters"]["num_round"] == {"NumberValue": 50.0}
    assert tc["Parameters"]["objective"] == {"StringValue": "reg:squarederror"}
    assert tc["Parameters"]["SageMaker.InstanceType"] == {"StringValue": "ml.m5.large"}
    assert tc["InputArtifacts"]["train"] == {"Value": "s3://b/train/", "MediaType": "text/csv"}
    assert [t["TrialName"] for t in experiments.trials_of(services, "Job-1-aws-training-job", REGION)] == [
        "trial"
    ]

    finished = {
        **job,
        "TrainingJobStatus": "Completed",
        "TrainingStartTime": job["CreationTime"] + 1,
        "TrainingEndTime": job["CreationTime"] + 30,
        "LastModifiedTime": job["CreationTime"] + 31,
        "ModelArtifacts": {"S3ModelArtifacts": "s3://b/out/Job-1/output/model.tar.gz"},
        "FinalMetricDataList": [
            {"MetricName": "validation:rmse", "Value": 0.25, "Timestamp": job["CreationTime"] + 29}
        ],
    }
    experiments.on_job_finished(services, REGION, "TrainingJob", finished)
    experiments.on_job_finished(services, REGION, "TrainingJob", finished)  # idempotent
    tc = experiments.describe_trial_component(services, REGION, "job-1-aws-training-job")
    assert tc["Status"] == {"PrimaryStatus": "Completed"}
    assert (tc["StartTime"], tc["EndTime"]) == (finished["TrainingStartTime"], finished["TrainingEndTime"])
    assert tc["OutputArtifacts"]["SageMaker.ModelArtifact"]["Value"].endswith("model.tar.gz")
    [metric] = tc["Metrics"]
    assert (metric["MetricName"], metric["Last"], metric["Count"]) == ("validation:rmse", 0.25, 1)
    assert metric["SourceArn"] == job["TrainingJobArn"]


def test_failed_processing_job_without_trial_creates_one_and_records_reason(services):
    experiments.create_experiment(services, REGION, {"ExperimentName": "exp"})
    now = time.time()
    job = {
        "ProcessingJobName": "prep",
        "ProcessingJobArn": f"arn:aws:sagemaker:{REGION}:000000000000:processing-job/prep",
        "ProcessingJobStatus": "InProgress",
        "CreationTime": now,
        "LastModifiedTime": now,
        "ExperimentConfig": {"ExperimentName": "exp", "TrialComponentDisplayName": "Prep"},
        "AppSpecification": {"ImageUri": "sk:1"},
        "ProcessingResources": {
            "ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 2, "VolumeSizeInGB": 5}
        },
        "ProcessingInputs": [{"InputName": "code", "S3Input": {"S3Uri": "s3://b/code.py"}}],
        "ProcessingOutputConfig": {"Outputs": [{"OutputName": "train", "S3Output": {"S3Uri": "s3://b/o"}}]},
    }
    experiments.on_job_created(services, REGION, "ProcessingJob", job)
    tc = experiments.describe_trial_component(services, REGION, "prep-aws-processing-job")
    assert tc["DisplayName"] == "Prep"
    assert tc["Source"]["SourceType"] == "SageMakerProcessingJob"
    assert tc["OutputArtifacts"] == {"train": {"Value": "s3://b/o"}}
    assert tc["Parameters"]["SageMaker.InstanceCount"] == {"NumberValue": 2.0}
    [trial] = experiments.trials_of(services, "prep-aws-processing-job", REGION)
    assert trial["ExperimentName"] == "exp"  # "If not specified, a new trial is created."

    experiments.on_job_finished(
        services,
        REGION,
        "ProcessingJob",
        {
            **job,
            "ProcessingJobStatus": "Failed",
            "FailureReason": "AlgorithmError: boom",
            "ProcessingEndTime": now + 9,
        },
    )
    tc = experiments.describe_trial_component(services, REGION, "prep-aws-processing-job")
    assert tc["Status"] == {"PrimaryStatus": "Failed", "Message": "AlgorithmError: boom"}
    assert tc["EndTime"] == now + 9


def test_job_with_run_name_is_listed_among_the_run_sources(services):
    experiments.create_experiment(services, REGION, {"ExperimentName": "exp"})
    experiments.create_trial(
        services, REGION, {"TrialName": "Default-Run-Group-exp", "ExperimentName": "exp"}
    )
    experiments.create_trial_component(services, REGION, {"TrialComponentName": "exp-run-1"})
    job = _training_job(
        "fit-1", {"ExperimentName": "exp", "TrialName": "Default-Run-Group-exp", "RunName": "exp-run-1"}
    )
    experiments.on_job_created(services, REGION, "TrainingJob", job)
    run = experiments.describe_trial_component(services, REGION, "exp-run-1")
    assert run["Sources"] == [{"SourceArn": job["TrainingJobArn"], "SourceType": "SageMakerTrainingJob"}]
    names = [
        c["TrialComponentName"] for c in experiments.components_of(services, "Default-Run-Group-exp", REGION)
    ]
    assert names == ["fit-1-aws-training-job"]


def test_jobs_without_experiment_config_get_no_trial_component(services):
    experiments.on_job_created(services, REGION, "TrainingJob", _training_job("plain", None))
    experiments.on_job_finished(
        services, REGION, "TrainingJob", {**_training_job("plain", None), "TrainingJobStatus": "Completed"}
    )
    assert services.records.list("TrialComponent") == []


def test_job_metrics_time_series_is_not_doubled_by_final_values(services):
    experiments.create_experiment(services, REGION, {"ExperimentName": "exp"})
    job = _training_job("j", {"ExperimentName": "exp"})
    experiments.on_job_created(services, REGION, "TrainingJob", job)
    experiments.record_job_metrics(
        services,
        "TrainingJob",
        "j",
        [
            {"MetricName": "train:loss", "Value": v, "Timestamp": job["CreationTime"] + i, "Step": i}
            for i, v in enumerate([0.9, 0.5, 0.3])
        ],
    )
    experiments.on_job_finished(
        services,
        REGION,
        "TrainingJob",
        {
            **job,
            "TrainingJobStatus": "Completed",
            "FinalMetricDataList": [
                {"MetricName": "train:loss", "Value": 0.3, "Timestamp": job["CreationTime"] + 2}
            ],
        },
    )
    [metric] = experiments.describe_trial_component(services, REGION, "j-aws-training-job")["Metrics"]
    assert (metric["Count"], metric["Min"], metric["Max"], metric["Last"]) == (3, 0.3, 0.9, 0.3)
