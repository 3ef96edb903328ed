"""Search: every filter operator, NestedFilters, SubExpressions, SortBy on any property (metric
summaries and parameters included), pagination; over experiments through boto3, and over job and
pipeline records (written by other parts of the emulator) on a Services object."""

from __future__ import annotations

import time

import pytest
from botocore.exceptions import ClientError

from emulator.core import experiments, search

pytestmark = pytest.mark.own_emulator  # it resets it and searches everything in it


@pytest.fixture(scope="module")
def runs(server):
    """Four runs in one experiment: lr, optimizer, accuracy series, status and tags differ."""
    server.reset()
    sm, metrics_client = server.client("sagemaker"), server.client("sagemaker-metrics")
    sm.create_experiment(ExperimentName="exp", Tags=[{"Key": "project", "Value": "churn"}])
    sm.create_trial(TrialName="group", ExperimentName="exp")
    sm.create_trial(TrialName="other", ExperimentName="exp")
    spec = [
        ("run-a", 0.1, "adam", [0.5, 0.7, 0.9], "Completed"),
        ("run-b", 0.01, "sgd", [0.6, 0.95, 0.8], "Completed"),
        ("run-c", 0.3, "adam", [0.2, 0.4], "Failed"),
        ("run-d", 0.05, "sgd", [], "InProgress"),
    ]
    now = time.time()
    for name, lr, opt, accuracy, status in spec:
        sm.create_trial_component(
            TrialComponentName=name,
            DisplayName=name.upper(),
            Status={"PrimaryStatus": status},
            Parameters={"lr": {"NumberValue": lr}, "optimizer": {"StringValue": opt}},
            InputArtifacts={"data": {"Value": f"s3://bucket/{opt}/train.csv", "MediaType": "text/csv"}},
            Tags=[{"Key": "sagemaker:trial-component-source", "Value": "run"}] if name != "run-d" else [],
        )
        sm.associate_trial_component(TrialComponentName=name, TrialName="group")
        if accuracy:
            metrics_client.batch_put_metrics(
                TrialComponentName=name,
                MetricData=[
                    {"MetricName": "accuracy", "Value": v, "Timestamp": now + i, "Step": i}
                    for i, v in enumerate(accuracy)
                ],
            )
    sm.associate_trial_component(TrialComponentName="run-a", TrialName="other")
    return sm


def names(response: dict, member: str = "TrialComponent", field: str = "TrialComponentName") -> list[str]:
    return [r[member][field] for r in response["Results"]]


def find(sm, *filters, **kwargs) -> list[str]:
    expr = kwargs.pop("expr", None) or {"Filters": list(filters)}
    response = sm.search(Resource="ExperimentTrialComponent", SearchExpression=expr, MaxResults=100, **kwargs)
    return sorted(names(response)) if "SortBy" not in kwargs else names(response)


def f(name: str, op: str, value: str | None = None) -> dict:
    return {"Name": name, "Operator": op, **({"Value": value} if value is not None else {})}


def test_the_sdk_run_lookup_matches_name_and_parent_trial(runs):
    assert find(
        runs, f("TrialComponentName", "Equals", "run-a"), f("Parents.TrialName", "Equals", "other")
    ) == ["run-a"]
    assert (
        find(runs, f("TrialComponentName", "Equals", "run-b"), f("Parents.TrialName", "Equals", "other"))
        == []
    )
    record = runs.search(
        Resource="ExperimentTrialComponent",
        SearchExpression={"Filters": [f("TrialComponentName", "Equals", "run-a")]},
    )["Results"][0]
    tc = record["TrialComponent"]
    assert sorted(p["TrialName"] for p in tc["Parents"]) == ["group", "other"]
    assert {p["ExperimentName"] for p in tc["Parents"]} == {"exp"}
    assert tc["Tags"] == [{"Key": "sagemaker:trial-component-source", "Value": "run"}]
    [accuracy] = tc["Metrics"]
    assert (accuracy["MetricName"], accuracy["Max"], accuracy["Last"], accuracy["Count"]) == (
        "accuracy",
        0.9,
        0.9,
        3,
    )


def test_every_filter_operator(runs):
    assert find(runs, f("Metrics.accuracy.Max", "Equals", "0.95")) == ["run-b"]
    assert find(runs, f("Parameters.optimizer", "NotEquals", "adam")) == ["run-b", "run-d"]
    assert find(runs, f("Metrics.accuracy.Max", "GreaterThan", "0.9")) == ["run-b"]
    assert find(runs, f("Metrics.accuracy.Max", "GreaterThanOrEqualTo", "0.9")) == ["run-a", "run-b"]
    assert find(runs, f("Parameters.lr", "LessThan", "0.05")) == ["run-b"]
    assert find(runs, f("Parameters.lr", "LessThanOrEqualTo", "0.05")) == ["run-b", "run-d"]
    assert find(runs, f("DisplayName", "Contains", "RUN-C")) == ["run-c"]
    assert find(runs, f("InputArtifacts.data.Value", "Contains", "sgd/")) == ["run-b", "run-d"]
    assert find(runs, f("Metrics.accuracy", "Exists")) == ["run-a", "run-b", "run-c"]
    assert find(runs, f("Tags.sagemaker:trial-component-source", "NotExists")) == ["run-d"]
    assert find(runs, f("Status.PrimaryStatus", "In", "Failed,InProgress")) == ["run-c", "run-d"]
    # A Filter without an Operator is Equals (API_Filter).
    assert find(runs, {"Name": "Parameters.optimizer", "Value": "sgd"}) == ["run-b", "run-d"]


def test_timestamps_compare_with_iso_values(runs):
    assert len(find(runs, f("CreationTime", "GreaterThan", "2000-01-01T00:00:00"))) == 4
    assert find(runs, f("CreationTime", "LessThan", "2000-01-01T00:00:00")) == []


def test_sub_expressions_combine_with_and_or(runs):
    either = {
        "Operator": "Or",
        "Filters": [f("Parameters.lr", "GreaterThan", "0.2"), f("Metrics.accuracy.Last", "LessThan", "0.85")],
    }
    assert find(runs, expr=either) == ["run-b", "run-c"]
    both = {
        "Filters": [f("Parameters.optimizer", "Equals", "adam")],
        "SubExpressions": [either, {"Filters": [f("Status.PrimaryStatus", "Equals", "Failed")]}],
    }
    assert find(runs, expr=both) == ["run-c"]
    nested_or = {
        "Operator": "Or",
        "SubExpressions": [
            {"Filters": [f("TrialComponentName", "Equals", "run-a")]},
            {"Filters": [f("Parameters.optimizer", "Equals", "sgd"), f("Metrics.accuracy", "NotExists")]},
        ],
    }
    assert find(runs, expr=nested_or) == ["run-a", "run-d"]


def test_sort_by_metric_summary_and_parameter_with_pagination(runs):
    by_max = find(
        runs,
        f("Parents.ExperimentName", "Equals", "exp"),
        SortBy="Metrics.accuracy.Max",
        SortOrder="Descending",
    )
    assert by_max == ["run-b", "run-a", "run-c", "run-d"]  # no metric: last either way
    assert find(
        runs,
        f("Parents.ExperimentName", "Equals", "exp"),
        SortBy="Metrics.accuracy.Max",
        SortOrder="Ascending",
    ) == ["run-c", "run-a", "run-b", "run-d"]
    assert find(
        runs, f("Parents.ExperimentName", "Equals", "exp"), SortBy="Parameters.lr", SortOrder="Ascending"
    ) == ["run-b", "run-d", "run-a", "run-c"]

    pages, token = [], None
    while True:
        kwargs = {"NextToken": token} if token else {}
        response = runs.search(
            Resource="ExperimentTrialComponent",
            SortBy="TrialComponentName",
            SortOrder="Ascending",
            MaxResults=3,
            **kwargs,
        )
        assert response["TotalHits"] == {"Value": 4, "Relation": "EqualTo"}
        pages.append(names(response))
        token = response.get("NextToken")
        if not token:
            break
    assert pages == [["run-a", "run-b", "run-c"], ["run-d"]]


def test_experiment_and_trial_records(runs):
    experiments_found = runs.search(
        Resource="Experiment", SearchExpression={"Filters": [f("Tags.project", "Equals", "churn")]}
    )
    assert names(experiments_found, "Experiment", "ExperimentName") == ["exp"]
    trial = runs.search(
        Resource="ExperimentTrial", SearchExpression={"Filters": [f("TrialName", "Equals", "group")]}
    )["Results"][0]["Trial"]
    assert sorted(c["TrialComponentName"] for c in trial["TrialComponentSummaries"]) == [
        "run-a",
        "run-b",
        "run-c",
        "run-d",
    ]
    in_both = runs.search(
        Resource="ExperimentTrial",
        SearchExpression={"Filters": [f("TrialComponentSummaries.TrialComponentName", "Equals", "run-a")]},
        SortBy="TrialName",
        SortOrder="Ascending",
    )
    assert names(in_both, "Trial", "TrialName") == ["group", "other"]


def test_invalid_expressions_are_validation_errors(runs):
    def code_of(**kwargs) -> str:
        with pytest.raises(ClientError) as info:
            runs.search(Resource="ExperimentTrialComponent", **kwargs)
        return info.value.response["Error"]["Code"]

    assert code_of(SearchExpression={}) == "ValidationException"
    with pytest.raises(ClientError) as info:
        runs.search(
            Resource="TrainingJob",
            SearchExpression={
                "Filters": [f("TrainingJobName", "Contains", "a"), f("RoleArn", "Contains", "b")]
            },
        )
    assert "'CONTAINS' operator usage limit of 1 exceeded" in info.value.response["Error"]["Message"]
    assert (
        code_of(SearchExpression={"Filters": [f("TrialComponentName", "GreaterThan", "run-a")]})
        == "ValidationException"
    )
    assert (
        code_of(
            SearchExpression={
                "NestedFilters": [
                    {"NestedPropertyName": "Parents", "Filters": [f("TrialName", "Equals", "x")]}
                ]
            }
        )
        == "ValidationException"
    )


def test_model_registry_resources(server):
    sm = server.client("sagemaker")
    sm.create_model_package_group(ModelPackageGroupName="search-group")
    spec = {
        "Containers": [{"Image": "img"}],
        "SupportedContentTypes": ["text/csv"],
        "SupportedResponseMIMETypes": ["text/csv"],
    }
    for status in ("Approved", "Rejected", "Approved"):
        sm.create_model_package(
            ModelPackageGroupName="search-group", InferenceSpecification=spec, ModelApprovalStatus=status
        )
    groups = sm.search(
        Resource="ModelPackageGroup",
        SearchExpression={"Filters": [f("ModelPackageGroupName", "Equals", "search-group")]},
    )
    assert names(groups, "ModelPackageGroup", "ModelPackageGroupName") == ["search-group"]
    approved = sm.search(
        Resource="ModelPackage",
        SortBy="ModelPackageVersion",
        SortOrder="Descending",
        SearchExpression={
            "Filters": [
                f("ModelPackageGroupName", "Equals", "search-group"),
                f("ModelApprovalStatus", "Equals", "Approved"),
            ]
        },
    )
    assert [r["ModelPackage"]["ModelPackageVersion"] for r in approved["Results"]] == [3, 1]
    assert approved["Results"][0]["ModelPackage"]["InferenceSpecification"] == spec


# --- job and pipeline records, written by the jobs and pipelines code ----------------------------


def _job(name: str, lr: str, rmse: float, channels: list[tuple[str, str]], status: str = "Completed") -> dict:
    return {
        "TrainingJobName": name,
        "TrainingJobArn": f"arn:aws:sagemaker:us-east-1:000000000000:training-job/{name}",
        "TrainingJobStatus": status,
        "CreationTime": time.time(),
        "LastModifiedTime": time.time(),
        "HyperParameters": {"learning_rate": lr, "objective": "reg:squarederror"},
        "InputDataConfig": [
            {"ChannelName": c, "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
            for c, uri in channels
        ],
        "FinalMetricDataList": [{"MetricName": "validation:rmse", "Value": rmse, "Timestamp": time.time()}],
    }


def test_training_jobs_nested_filters_hyperparameters_and_final_metrics(services):
    jobs = [
        _job("cat-1", "0.1", 0.30, [("train", "s3://mybucket/catdata/train"), ("validation", "s3://v")]),
        _job("cat-2", "0.7", 0.20, [("train", "s3://mybucket/dogdata/train")]),
        _job("dog-1", "0.05", 0.25, [("validation", "s3://mybucket/catdata/v")], status="Failed"),
    ]
    for job in jobs:
        services.records.put("TrainingJob", job["TrainingJobName"], job["TrainingJobArn"], job)
    services.records.add_tags(jobs[0]["TrainingJobArn"], [{"Key": "team", "Value": "a"}])

    def run(expr: dict | None = None, **kwargs) -> list[str]:
        req = {"Resource": "TrainingJob", **({"SearchExpression": expr} if expr else {}), **kwargs}
        return [
            r["TrainingJob"]["TrainingJobName"] for r in search.search(services, "us-east-1", req)["Results"]
        ]

    # The API_NestedFilters example: one channel must satisfy both conditions.
    nested = {
        "NestedFilters": [
            {
                "NestedPropertyName": "InputDataConfig",
                "Filters": [
                    f("InputDataConfig.ChannelName", "Equals", "train"),
                    f("InputDataConfig.DataSource.S3DataSource.S3Uri", "Contains", "mybucket/catdata"),
                ],
            }
        ]
    }
    assert run(nested) == ["cat-1"]
    assert run(
        {"Filters": [f("HyperParameters.learning_rate", "LessThan", "0.5")]},
        SortBy="TrainingJobName",
        SortOrder="Ascending",
    ) == ["cat-1", "dog-1"]
    assert run(
        {"Filters": [f("Metrics.validation:rmse", "LessThanOrEqualTo", "0.25")]},
        SortBy="Metrics.validation:rmse",
        SortOrder="Ascending",
    ) == ["cat-2", "dog-1"]
    assert run(
        {"Filters": [f("TrainingJobStatus", "Equals", "Completed"), f("Tags.team", "Equals", "a")]}
    ) == ["cat-1"]
    assert run(SortBy="HyperParameters.learning_rate", SortOrder="Descending") == ["cat-2", "cat-1", "dog-1"]
    record = search.search(
        services,
        "us-east-1",
        {
            "Resource": "TrainingJob",
            "SearchExpression": {"Filters": [f("TrainingJobName", "Equals", "cat-1")]},
        },
    )["Results"][0]["TrainingJob"]
    assert record["Tags"] == [{"Key": "team", "Value": "a"}]


def test_job_trial_components_carry_their_source_detail(services):
    job = _job("fit", "0.1", 0.3, [("train", "s3://b/t")])
    job["ExperimentConfig"] = {"ExperimentName": "exp"}
    services.records.put("TrainingJob", "fit", job["TrainingJobArn"], job)
    experiments.on_job_created(services, "us-east-1", "TrainingJob", job)
    result = search.search(
        services,
        "us-east-1",
        {
            "Resource": "ExperimentTrialComponent",
            "SearchExpression": {
                "Filters": [
                    f("Source.SourceType", "Equals", "SageMakerTrainingJob"),
                    f("SourceDetail.TrainingJob.HyperParameters.learning_rate", "Equals", "0.1"),
                ]
            },
        },
    )
    [record] = result["Results"]
    detail = record["TrialComponent"]["SourceDetail"]
    assert detail["SourceArn"] == job["TrainingJobArn"]
    assert detail["TrainingJob"]["TrainingJobName"] == "fit"


def test_pipeline_records_are_searchable(services):
    arn = "arn:aws:sagemaker:us-east-1:000000000000:pipeline/MyPipe"
    services.records.put(
        "Pipeline",
        "MyPipe",
        arn,
        {
            "PipelineName": "MyPipe",
            "PipelineArn": arn,
            "PipelineStatus": "Active",
            "CreationTime": 1.0,
            "LastModifiedTime": 2.0,
        },
    )
    for i, status in enumerate(["Succeeded", "Failed"]):
        exec_arn = f"{arn}/execution/e{i}"
        services.records.put(
            "PipelineExecution",
            f"MyPipe/e{i}",
            exec_arn,
            {
                "PipelineArn": arn,
                "PipelineExecutionArn": exec_arn,
                "PipelineExecutionStatus": status,
                "CreationTime": 10.0 + i,
                "LastModifiedTime": 20.0 + i,
                "PipelineParameters": [{"Name": "NumRound", "Value": str(10 * (i + 1))}],
            },
        )
    pipelines = search.search(
        services,
        "us-east-1",
        {"Resource": "Pipeline", "SearchExpression": {"Filters": [f("PipelineName", "Contains", "pipe")]}},
    )
    assert [r["Pipeline"]["PipelineName"] for r in pipelines["Results"]] == ["MyPipe"]
    executions = search.search(
        services,
        "us-east-1",
        {
            "Resource": "PipelineExecution",
            "SearchExpression": {
                "NestedFilters": [
                    {
                        "NestedPropertyName": "PipelineParameters",
                        "Filters": [
                            f("PipelineParameters.Name", "Equals", "NumRound"),
                            f("PipelineParameters.Value", "GreaterThan", "15"),
                        ],
                    }
                ]
            },
        },
    )
    assert [r["PipelineExecution"]["PipelineExecutionStatus"] for r in executions["Results"]] == ["Failed"]
    # Default order: LastModifiedTime, newest first.
    everything = search.search(services, "us-east-1", {"Resource": "PipelineExecution"})
    assert [r["PipelineExecution"]["PipelineExecutionStatus"] for r in everything["Results"]] == [
        "Failed",
        "Succeeded",
    ]
