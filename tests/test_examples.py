"""The examples in examples/ run unchanged against a running emulator, one command each, and leave
what they say they leave: a registered model or a Fail step, compared experiment runs with their
confusion matrices, a completed training job per built-in tabular algorithm."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from emulator.testing.sdk import TELEMETRY_OFF

pytestmark = [pytest.mark.docker, pytest.mark.slow]

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.fixture(scope="module")
def run_example(server, tmp_path_factory):
    config = tmp_path_factory.mktemp("sdk") / "sagemaker-config.yaml"
    config.write_text(TELEMETRY_OFF)
    env = {**server.client_env(), "SAGEMAKER_USER_CONFIG_OVERRIDE": str(config)}

    def run(script: str, *args: str, timeout: float = 1200) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, str(EXAMPLES / script), *args], env=env, capture_output=True,
                                text=True, timeout=timeout, check=False, cwd=tmp_path_factory.mktemp("cwd"))
        print(result.stdout[-3000:])
        return result
    return run


def test_abalone_pipeline_registers_the_model_then_takes_the_fail_branch(run_example, server):
    sagemaker = server.client("sagemaker")
    first = run_example("abalone_pipeline/pipeline.py")
    assert first.returncode == 0, first.stdout[-3000:] + first.stderr[-3000:]
    assert "PipelineExecutionStatus: Succeeded" in first.stdout
    package = sagemaker.list_model_packages(ModelPackageGroupName="AbaloneModelPackageGroupName", SortBy="CreationTime",
                                           SortOrder="Descending")["ModelPackageSummaryList"][0]
    described = sagemaker.describe_model_package(ModelPackageName=package["ModelPackageArn"])
    assert described["ModelApprovalStatus"] == "PendingManualApproval"
    metrics_uri = described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"]
    bucket, key = metrics_uri[5:].split("/", 1)
    report = json.loads(server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
    assert 0 < report["regression_metrics"]["mse"]["value"] <= 6.0

    second = run_example("abalone_pipeline/pipeline.py", "--mse-threshold", "0")
    assert second.returncode == 1, second.stderr[-3000:]
    execution = sagemaker.list_pipeline_executions(PipelineName="AbalonePipeline", SortBy="CreationTime",
                                                   SortOrder="Descending")["PipelineExecutionSummaries"][0]
    assert execution["PipelineExecutionStatus"] == "Failed"
    steps = {s["StepName"]: s for s in sagemaker.list_pipeline_execution_steps(
        PipelineExecutionArn=execution["PipelineExecutionArn"])["PipelineExecutionSteps"]}
    assert steps["AbaloneMSEFail"]["FailureReason"] == "Execution failed due to MSE > 0.0"
    assert all("CacheHitResult" in steps[name] for name in ("AbaloneProcess", "AbaloneTrain", "AbaloneEval"))
    assert not [name for name in steps if "Register" in name]


def test_experiment_runs_are_logged_and_compared(run_example, server):
    result = run_example("experiments/run_experiment.py")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "best run: breast-cancer-sgd-alpha-" in result.stdout
    sagemaker = server.client("sagemaker")
    summaries = sagemaker.list_trial_components(ExperimentName="breast-cancer-sgd")["TrialComponentSummaries"]
    assert len(summaries) == 2
    for summary in summaries:
        component = sagemaker.describe_trial_component(TrialComponentName=summary["TrialComponentName"])
        assert {"alpha", "epochs", "loss"} <= set(component["Parameters"])
        assert {m["MetricName"] for m in component["Metrics"]} >= {"train:loss", "test:accuracy"}
        assert next(m for m in component["Metrics"] if m["MetricName"] == "test:accuracy")["Count"] == 10
        # The confusion matrix is a lineage artifact the run "Produced", its JSON in S3.
        (produced,) = sagemaker.list_associations(SourceArn=component["TrialComponentArn"])["AssociationSummaries"]
        artifact = sagemaker.describe_artifact(ArtifactArn=produced["DestinationArn"])
        assert artifact["ArtifactType"] == "ConfusionMatrix"
        bucket, key = artifact["Source"]["SourceUri"][5:].split("/", 1)
        matrix = json.loads(server.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read())
        assert matrix["title"] == "test-confusion-matrix" and sum(map(sum, matrix["confusionMatrix"])) == 143


def test_every_builtin_tabular_algorithm_trains(run_example):
    result = run_example("builtin_algorithms/train_all.py")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    algorithms = {"xgboost", "linear-learner", "knn", "factorization-machines", "lightgbm", "catboost", "autogluon",
                  "tabtransformer"}
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.split()[:1] and
             line.split()[0] in algorithms}
    assert set(lines) == algorithms and all(line.split()[1] == "Completed" for line in lines.values())
    assert "validation:error=" in lines["xgboost"] and "test:accuracy=" in lines["knn"]


def test_data_capture_example_reads_the_captured_records_back(run_example):
    result = run_example("model_monitoring/capture.py")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert ": 10 captured records under s3://sagemaker-example-monitoring/capture-demo-" in result.stdout
    lines = [line for line in result.stdout.splitlines() if line.strip().startswith("inferenceId ")]
    assert [line.split()[1] for line in lines] == [str(i) for i in range(10)]
    returned = result.stdout.split("scores returned to the caller: ")[1].split()[0].rstrip(",")
    assert float(lines[0].rsplit("-> ", 1)[1]) == pytest.approx(float(returned), abs=1e-4)


def test_model_monitoring_example_closes_the_decay_loop(run_example, server):
    result = run_example("model_monitoring/monitor_and_retrain.py")
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    out = result.stdout
    assert "data quality: CompletedWithViolations: Job completed successfully with" in out
    assert "x0: baseline_drift_check" in out
    assert "model quality: confusion matrix" in out
    assert "-- Threshold Crossed: 1 datapoint [" in out
    assert "'Reason': 'churn-monitor-" in out and "PipelineExecutionStatus: Succeeded" in out
