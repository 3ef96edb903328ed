"""The controllers' guarantees with the real controllers: one resource whose sync keeps crashing does
not hold up the others (it is retried, then ended with a reason), and an emulator killed with SIGKILL
at any moment and started again converges every job, tuning job and pipeline execution -- nothing
left unfinished, nothing run twice."""

from __future__ import annotations

import io
import time

import pytest

from emulator.config import Settings
from emulator.core import jobs, tuning
from emulator.core.jobs import TRAINING
from emulator.core.services import Services
from emulator.runtime.controllers import ControllerManager
from emulator.runtime.controllers.tuning import TuningController
from emulator.testing.emulator import SubprocessEmulator
from tests.jobhelpers import ROLE, ensure_byo_image, shell_processing_job, shell_training_job, unique


def eventually(predicate, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, f"{what} not reached in {timeout} s"
        time.sleep(0.05)


# --- a crash on one resource ------------------------------------------------------------------------

def tuning_request(name: str) -> dict:
    return {"HyperParameterTuningJobName": name, "HyperParameterTuningJobConfig": {
        "Strategy": "Random", "RandomSeed": 1,
        "ResourceLimits": {"MaxNumberOfTrainingJobs": 3, "MaxParallelTrainingJobs": 3},
        "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "score"},
        "ParameterRanges": {"IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "5"}]}},
        "TrainingJobDefinition": {
            "AlgorithmSpecification": {"TrainingImage": "tuning-test:1", "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "score", "Regex": "score=(\\S+)"}]},
            "RoleArn": ROLE, "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600}}}


def test_a_tuning_job_whose_sync_crashes_is_failed_while_the_others_complete(tmp_path):
    services = Services(Settings(data_dir=tmp_path / "data", run_jobs=False))
    manager = ControllerManager(services, base_delay=0.02, max_delay=0.1)
    manager.add(TuningController(services))
    manager.start()
    try:
        tuning.create_tuning_job(services, "us-east-1", tuning_request("healthy"))
        # A record the controller cannot read: every sync of it raises.
        services.records.insert(tuning.KIND, "broken", "arn:broken", {**tuning_request("broken"),
                                tuning.ARN: "arn:broken", tuning.STATUS: "InProgress", "CreationTime": time.time(),
                                "_trials": "not a list of trials"}, lambda: AssertionError())
        broken = eventually(lambda: (b := services.records.get(tuning.KIND, "broken"))[tuning.STATUS] == "Failed"
                            and b, what="the broken tuning job failed")
        assert broken["FailureReason"].startswith("InternalServerError: the emulator could not run the tuning job")
        # Meanwhile (and after) the healthy one is served: its training jobs run and it completes.
        mine = eventually(lambda: len(t := [j for j in services.records.list("TrainingJob")
                                            if j.get("TuningJobArn", "").endswith("/healthy")]) == 3 and t)
        for job in mine:
            jobs.finish_job(services, TRAINING, job["TrainingJobName"], "Completed", final_metrics=[
                {"MetricName": "score", "Value": float(job["HyperParameters"]["n"]), "Timestamp": time.time()}])
        eventually(lambda: tuning.describe_tuning_job(services, "healthy")[tuning.STATUS] == "Completed")
    finally:
        services.shutdown()


# --- kill -9 at any moment ----------------------------------------------------------------------------

TUNING_IMAGE = "smemu-test-convergence-tuning:latest"


def tuning_image() -> str:
    """The bring-your-own image plus a `train` that runs $TRAIN_SCRIPT (tuning jobs have no entrypoint)."""
    import docker
    base = ensure_byo_image()
    dockerfile = (f"FROM {base}\nRUN printf '#!/bin/sh\\nexec sh -c \"$TRAIN_SCRIPT\"\\n' > /usr/local/bin/train "
                  "&& chmod +x /usr/local/bin/train\n")
    docker.from_env().images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=TUNING_IMAGE, rm=True)
    return TUNING_IMAGE


def kill_and_restart(proc: SubprocessEmulator) -> None:
    proc.restart(kill=True)  # SIGKILL: no shutdown hook runs


def log_streams(logs, group: str, name: str) -> dict[str, list[str]]:
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{name}/")["logStreams"]
    return {s["logStreamName"]: [e["message"] for e in logs.get_log_events(
        logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)["events"]] for s in streams}


def ran_once(logs, group: str, name: str) -> None:
    """One launch makes one log stream per host; its `begin` line is printed once per container run."""
    streams = log_streams(logs, group, name)
    assert len(streams) == 1, f"{name} ran more than once: {list(streams)}"
    assert next(iter(streams.values())).count("begin") == 1, streams


# Seconds between kills: the first right after the requests were recorded, then as the work moves on
# (launching, running, uploading, the pipeline's next step).
KILL_PAUSES = (0.0, 1.5, 2.5, 3.0)


@pytest.mark.docker
def test_killed_at_any_moment_a_restarted_emulator_converges_everything_running_nothing_twice(tmp_path):
    converges_after_kills(tmp_path, KILL_PAUSES)


def converges_after_kills(tmp_path, pauses) -> None:
    image = tuning_image()
    proc = SubprocessEmulator(data_dir=tmp_path / "data").start()
    try:
        sm, s3 = proc.client("sagemaker"), proc.client("s3")
        s3.create_bucket(Bucket="converge")
        training, processing, tuner = unique("train"), unique("proc"), unique("tune")
        sm.create_training_job(**shell_training_job(training, "echo begin; sleep 3; echo end > /opt/ml/model/m",
                                                    "converge"))
        sm.create_processing_job(**shell_processing_job(processing, "echo begin; sleep 3"))
        score = ("echo begin; sleep 2; python3 -c \"import json; h = json.load(open("
                 "'/opt/ml/input/config/hyperparameters.json')); print('score=' + h['n'])\"")
        sm.create_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuner, HyperParameterTuningJobConfig=tuning_request(tuner)[
                "HyperParameterTuningJobConfig"] | {"ResourceLimits": {"MaxNumberOfTrainingJobs": 3,
                                                                       "MaxParallelTrainingJobs": 2}},
            TrainingJobDefinition={**tuning_request(tuner)["TrainingJobDefinition"],
                                   "AlgorithmSpecification": {
                                       "TrainingImage": image, "TrainingInputMode": "File",
                                       "MetricDefinitions": [{"Name": "score", "Regex": "score=(\\S+)"}]},
                                   "OutputDataConfig": {"S3OutputPath": "s3://converge/tuning"},
                                   "Environment": {"TRAIN_SCRIPT": score}})
        from tests.pipelinehelpers import definition, processing_step
        steps = [processing_step("First", "echo begin; sleep 2"),
                 {"Name": "Approve", "Type": "Callback", "Arguments": {}, "DependsOn": ["First"],
                  "SqsQueueUrl": "https://sqs.us-east-1.amazonaws.com/000000000000/q",
                  "OutputParameters": [{"OutputName": "ok", "OutputType": "Boolean"}]},
                 processing_step("Last", "echo begin; sleep 1", depends_on=["Approve"])]
        sm.create_pipeline(PipelineName="converge", RoleArn=ROLE, PipelineDefinition=definition(steps))
        execution = sm.start_pipeline_execution(PipelineName="converge")["PipelineExecutionArn"]

        def callback_token():
            steps = sm.list_pipeline_execution_steps(PipelineExecutionArn=execution)["PipelineExecutionSteps"]
            step = next((s for s in steps if s["StepName"] == "Approve"), {})
            return step.get("Metadata", {}).get("Callback", {}).get("CallbackToken")

        for pause in pauses:
            time.sleep(pause)
            kill_and_restart(proc)
            sm = proc.client("sagemaker")
        token = eventually(callback_token, 120, "the callback step waiting")
        sm.send_pipeline_execution_step_success(CallbackToken=token, OutputParameters=[{"Name": "ok",
                                                                                        "Value": "true"}])
        kill_and_restart(proc)  # the callback's outcome was recorded: it survives
        sm, logs = proc.client("sagemaker"), proc.client("logs")

        def finished(describe, key, terminal=("Completed", "Failed", "Stopped")):
            return eventually(lambda: (d := describe())[key] in terminal and d, 180, f"{key} terminal")
        job = finished(lambda: sm.describe_training_job(TrainingJobName=training), "TrainingJobStatus")
        assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
        job = finished(lambda: sm.describe_processing_job(ProcessingJobName=processing), "ProcessingJobStatus")
        assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
        desc = finished(lambda: sm.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuner),
                        "HyperParameterTuningJobStatus")
        assert desc["HyperParameterTuningJobStatus"] == "Completed", desc.get("FailureReason")
        assert desc["TrainingJobStatusCounters"]["Completed"] == 3
        desc = finished(lambda: sm.describe_pipeline_execution(PipelineExecutionArn=execution),
                        "PipelineExecutionStatus", ("Succeeded", "Failed", "Stopped"))
        assert desc["PipelineExecutionStatus"] == "Succeeded", desc.get("FailureReason")

        ran_once(logs, "/aws/sagemaker/TrainingJobs", training)
        ran_once(logs, "/aws/sagemaker/ProcessingJobs", processing)
        trials = sm.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuner)["TrainingJobSummaries"]
        assert sorted(t["TrainingJobName"].split("-")[-2] for t in trials) == ["001", "002", "003"]
        for trial in trials:
            ran_once(logs, "/aws/sagemaker/TrainingJobs", trial["TrainingJobName"])
        execution_id = execution.rsplit("/", 1)[-1]
        for step in ("First", "Last"):
            step_jobs = sm.list_processing_jobs(NameContains=f"pipelines-{execution_id}-{step}")
            assert len(step_jobs["ProcessingJobSummaries"]) == 1, step
            ran_once(logs, "/aws/sagemaker/ProcessingJobs", step_jobs["ProcessingJobSummaries"][0]["ProcessingJobName"])
        model = proc.client("s3").get_object(Bucket="converge", Key=f"output/{training}/output/model.tar.gz")
        assert model["ContentLength"] > 0
        # Nothing is left behind: the containers of finished jobs are removed.
        import docker
        assert not [c.name for c in docker.from_env().containers.list(all=True, filters={
            "label": f"sagemaker-emulator.job={training}"})]
    finally:
        proc.stop()
