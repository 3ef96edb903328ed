"""The SageMaker Python SDK's experiments and model-registry code, unchanged, against a live emulator
(reference/sdk_and_local_mode.md §3.5)."""

from __future__ import annotations

import json
import sys
import types

import boto3
import numpy as np
import pytest
import sagemaker
from sagemaker.analytics import ExperimentAnalytics
from sagemaker.experiments import Experiment, list_runs, load_run
from sagemaker.experiments.run import Run
from sagemaker.model_metrics import MetricsSource, ModelMetrics

from emulator.testing.sdk import sdk_environment

pytestmark = pytest.mark.own_emulator  # the tests reset it and list what the SDK created

BUCKET = "sdk-experiments-bucket"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"


@pytest.fixture
def session(server, tmp_path, monkeypatch):
    server.reset()
    sdk_environment(monkeypatch, server, tmp_path)
    boto_session = boto3.Session(region_name=server.region, aws_access_key_id="test", aws_secret_access_key="test")
    return sagemaker.Session(
        boto_session=boto_session,
        default_bucket=BUCKET,
        sagemaker_client=server.client("sagemaker"),
        sagemaker_metrics_client=server.client("sagemaker-metrics"),
    )


def test_run_logs_parameters_and_metrics(session):
    sm = session.sagemaker_client
    with Run(experiment_name="my-exp", run_name="run-1", sagemaker_session=session) as run:
        run.log_parameter("lr", 0.1)
        run.log_parameters({"optimizer": "adam", "epochs": 3})
        for step, (loss, acc) in enumerate([(0.9, 0.5), (0.5, 0.7), (0.3, 0.8)]):
            run.log_metric(name="loss", value=loss, step=step)
            run.log_metric(name="accuracy", value=acc, step=step)
        assert sm.describe_trial_component(TrialComponentName="my-exp-run-1")["Status"] == {
            "PrimaryStatus": "InProgress",
            "Message": "Within a run context",
        }

    tc = sm.describe_trial_component(TrialComponentName="my-exp-run-1")
    assert tc["Status"]["PrimaryStatus"] == "Completed" and tc["EndTime"] >= tc["StartTime"]
    assert tc["Parameters"] == {
        "lr": {"NumberValue": 0.1},
        "optimizer": {"StringValue": "adam"},
        "epochs": {"NumberValue": 3.0},
    }
    summary = {m["MetricName"]: m for m in tc["Metrics"]}
    assert (summary["loss"]["Min"], summary["loss"]["Max"], summary["loss"]["Last"]) == (0.3, 0.9, 0.3)
    assert summary["accuracy"]["Count"] == 3 and summary["accuracy"]["Avg"] == pytest.approx(2.0 / 3)
    trials = sm.list_trials(ExperimentName="my-exp")["TrialSummaries"]
    assert [t["TrialName"] for t in trials] == ["Default-Run-Group-my-exp"]
    assert sm.list_tags(ResourceArn=tc["TrialComponentArn"])["Tags"] == [
        {"Key": "sagemaker:trial-component-source", "Value": "run"}
    ]


def test_load_run_and_list_runs(session):
    with Run(experiment_name="exp-load", run_name="first", sagemaker_session=session) as run:
        run.log_metric(name="score", value=1.0, step=0)
    with Run(experiment_name="exp-load", run_name="second", sagemaker_session=session):
        pass
    # Entering the same run again re-uses the component (create -> "already exists" -> load) and
    # must not associate it twice.
    with load_run(experiment_name="exp-load", run_name="first", sagemaker_session=session) as run:
        run.log_metric(name="score", value=3.0, step=1)
        run.log_parameter("phase", "fine-tune")
    tc = session.sagemaker_client.describe_trial_component(TrialComponentName="exp-load-first")
    [score] = tc["Metrics"]
    assert (score["Count"], score["Max"], score["Last"]) == (2, 3.0, 3.0)
    assert tc["Parameters"]["phase"] == {"StringValue": "fine-tune"}
    runs = list_runs(experiment_name="exp-load", sagemaker_session=session)
    assert sorted(r.run_name for r in runs) == ["first", "second"]


def test_experiment_create_load_list_trials_and_delete_all(session):
    experiment = Experiment.create(experiment_name="exp-crud", description="d", sagemaker_session=session)
    assert Experiment.load(experiment_name="exp-crud", sagemaker_session=session).description == "d"
    with Run(experiment_name="exp-crud", run_name="r", sagemaker_session=session):
        pass
    assert [t.trial_name for t in experiment.list_trials()] == ["Default-Run-Group-exp-crud"]
    experiment._delete_all(action="--force")
    sm = session.sagemaker_client
    for call, kwargs in (
        (sm.describe_experiment, {"ExperimentName": "exp-crud"}),
        (sm.describe_trial, {"TrialName": "Default-Run-Group-exp-crud"}),
        (sm.describe_trial_component, {"TrialComponentName": "exp-crud-r"}),
    ):
        with pytest.raises(sm.exceptions.ResourceNotFound):
            call(**kwargs)


def test_analytics_and_search_sort_runs_by_metric(session):
    for name, acc in (("a", 0.7), ("b", 0.9), ("c", 0.8)):
        with Run(experiment_name="exp-rank", run_name=name, sagemaker_session=session) as run:
            run.log_parameter("seed", ord(name))
            run.log_metric(name="accuracy", value=acc - 0.1, step=0)
            run.log_metric(name="accuracy", value=acc, step=1)
    frame = ExperimentAnalytics(
        experiment_name="exp-rank",
        sagemaker_session=session,
        sort_by="Metrics.accuracy.Max",
        sort_order="Descending",
    ).dataframe()
    assert list(frame["TrialComponentName"]) == ["exp-rank-b", "exp-rank-c", "exp-rank-a"]
    assert list(frame["accuracy - Max"]) == [0.9, 0.8, 0.7]
    assert list(frame["seed"]) == [98.0, 99.0, 97.0]
    assert all(trials == ["Default-Run-Group-exp-rank"] for trials in frame["Trials"])
    found = session.sagemaker_client.search(
        Resource="ExperimentTrialComponent",
        SortBy="Metrics.accuracy.Last",
        SortOrder="Ascending",
        SearchExpression={
            "Filters": [{"Name": "Parents.ExperimentName", "Operator": "Equals", "Value": "exp-rank"}]
        },
    )
    assert [r["TrialComponent"]["TrialComponentName"] for r in found["Results"]] == [
        "exp-rank-a",
        "exp-rank-c",
        "exp-rank-b",
    ]


def test_log_file_and_log_artifact_land_in_the_emulator_s3(session, tmp_path):
    report = tmp_path / "report.json"
    report.write_text(json.dumps({"rmse": 0.25}))
    with Run(experiment_name="exp-files", run_name="r", sagemaker_session=session) as run:
        run.log_file(str(report), name="report")
        run.log_file(str(report), name="input-report", is_output=False)
        run.log_artifact(name="dataset", value="s3://data/train.csv", media_type="text/csv", is_output=False)
    tc = session.sagemaker_client.describe_trial_component(TrialComponentName="exp-files-r")
    uri = tc["OutputArtifacts"]["report"]["Value"]
    assert uri == f"s3://{BUCKET}/trial-component-artifacts/exp-files-r/report.json"
    assert tc["OutputArtifacts"]["report"]["MediaType"] == "application/json"
    assert tc["InputArtifacts"]["input-report"]["Value"] == uri
    assert tc["InputArtifacts"]["dataset"] == {"Value": "s3://data/train.csv", "MediaType": "text/csv"}
    s3 = session.boto_session.client("s3")
    body = s3.get_object(Bucket=BUCKET, Key=uri.split(f"{BUCKET}/", 1)[1])["Body"].read()
    assert json.loads(body) == {"rmse": 0.25}


def _sklearn_stand_in() -> types.ModuleType:
    """The three graph loggers import sklearn.metrics; the emulator does not care how the numbers
    are computed, so when scikit-learn is absent a numpy stand-in supplies them."""

    def confusion_matrix(y_true, y_pred):
        labels = sorted(set(y_true) | set(y_pred))
        out = np.zeros((len(labels), len(labels)), dtype=int)
        for t, p in zip(y_true, y_pred):
            out[labels.index(t), labels.index(p)] += 1
        return out

    def roc_curve(y_true, y_score):
        thresholds = np.array(sorted(set(y_score), reverse=True))
        y = np.array(y_true)
        s = np.array(y_score)
        tpr = np.array([((s >= t) & (y == 1)).sum() / max((y == 1).sum(), 1) for t in thresholds])
        fpr = np.array([((s >= t) & (y == 0)).sum() / max((y == 0).sum(), 1) for t in thresholds])
        return fpr, tpr, thresholds

    def precision_recall_curve(y_true, probas, pos_label=None):
        _, tpr, thresholds = roc_curve(y_true, probas)
        y, s = np.array(y_true), np.array(probas)
        precision = np.array([((s >= t) & (y == 1)).sum() / max((s >= t).sum(), 1) for t in thresholds])
        return precision, tpr, thresholds

    metrics = types.ModuleType("sklearn.metrics")
    metrics.confusion_matrix = confusion_matrix
    metrics.roc_curve = roc_curve
    metrics.auc = lambda x, y: float(np.trapezoid(y, x))
    metrics.precision_recall_curve = precision_recall_curve
    metrics.average_precision_score = lambda y_true, probas, **_: float(np.mean(probas))
    package = types.ModuleType("sklearn")
    package.metrics = metrics
    return package


def test_graph_artifacts_upload_and_create_lineage(session, monkeypatch):
    try:
        import sklearn.metrics  # noqa: F401
    except ImportError:
        stand_in = _sklearn_stand_in()
        monkeypatch.setitem(sys.modules, "sklearn", stand_in)
        monkeypatch.setitem(sys.modules, "sklearn.metrics", stand_in.metrics)
    y_true, y_score = [0, 1, 1, 0, 1], [0.1, 0.8, 0.6, 0.4, 0.9]
    with Run(experiment_name="exp-graphs", run_name="r", sagemaker_session=session) as run:
        run.log_confusion_matrix(y_true, [0, 1, 0, 0, 1], title="confusion")
        run.log_roc_curve(y_true, y_score, title="roc")
        run.log_precision_recall(y_true, y_score, title="pr")
        tc_arn = run._trial_component.trial_component_arn
    s3 = session.boto_session.client("s3")
    keys = sorted(
        o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix="trial-component-artifacts/")["Contents"]
    )
    assert keys == [f"trial-component-artifacts/exp-graphs-r/{n}.json" for n in ("confusion", "pr", "roc")]
    matrix = json.loads(s3.get_object(Bucket=BUCKET, Key=keys[0])["Body"].read())
    assert matrix["type"] == "ConfusionMatrix" and matrix["confusionMatrix"] == [[2, 0], [1, 2]]
    # Each graph became a lineage artifact "Produced" by the run's trial component.
    sm = session.sagemaker_client
    produced = sm.list_associations(SourceArn=tc_arn)["AssociationSummaries"]
    assert [a["AssociationType"] for a in produced] == ["Produced"] * 3
    artifacts = [sm.describe_artifact(ArtifactArn=a["DestinationArn"]) for a in produced]
    assert sorted(a["ArtifactType"] for a in artifacts) == [
        "ConfusionMatrix",
        "PrecisionRecallCurve",
        "ROCCurve",
    ]
    assert {a["Source"]["SourceUri"] for a in artifacts} == {f"s3://{BUCKET}/{k}" for k in keys}


def test_model_register_approve_and_list_versions(session):
    model = sagemaker.model.Model(
        image_uri=IMAGE, model_data=f"s3://{BUCKET}/model.tar.gz", role=ROLE, sagemaker_session=session
    )
    metrics = ModelMetrics(
        model_statistics=MetricsSource(
            content_type="application/json", s3_uri=f"s3://{BUCKET}/evaluation.json"
        )
    )
    packages = [
        model.register(
            content_types=["text/csv"],
            response_types=["text/csv"],
            inference_instances=["ml.m5.large"],
            transform_instances=["ml.m5.large"],
            model_package_group_name="churn-models",
            model_metrics=metrics,
            approval_status="PendingManualApproval",
            description=f"v{i}",
        )
        for i in (1, 2)
    ]
    arns = [p.model_package_arn for p in packages]
    assert [a.rsplit("/", 2)[1:] for a in arns] == [["churn-models", "1"], ["churn-models", "2"]]
    sm = session.sagemaker_client
    desc = sm.describe_model_package(ModelPackageName=arns[0])
    assert desc["InferenceSpecification"]["Containers"][0]["Image"] == IMAGE
    assert desc["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == f"s3://{BUCKET}/evaluation.json"
    assert desc["ModelApprovalStatus"] == "PendingManualApproval"

    packages[1].update_approval_status("Approved", approval_description="passed review")
    packages[0].update_approval_status("Rejected")
    packages[1].update_customer_metadata({"git": "abc123"})
    desc = sm.describe_model_package(ModelPackageName=arns[1])
    assert (desc["ModelApprovalStatus"], desc["ApprovalDescription"]) == ("Approved", "passed review")
    assert desc["CustomerMetadataProperties"] == {"git": "abc123"}
    versions = sm.list_model_packages(
        ModelPackageGroupName="churn-models", SortBy="CreationTime", SortOrder="Ascending"
    )["ModelPackageSummaryList"]
    assert [(v["ModelPackageVersion"], v["ModelApprovalStatus"]) for v in versions] == [
        (1, "Rejected"),
        (2, "Approved"),
    ]
    latest = session.get_most_recently_created_approved_model_package("churn-models")
    assert latest.model_package_arn == arns[1]
