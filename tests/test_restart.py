"""State survives a restart, and jobs running across one finish normally."""

from __future__ import annotations

import time

import pytest

from tests.emulator_process import EmulatorProcess
from tests.jobhelpers import ensure_byo_image, shell_training_job, unique, wait_for


@pytest.fixture
def own_server(tmp_path):
    proc = EmulatorProcess(data_dir=tmp_path / "data").start()
    yield proc
    proc.stop()


def test_records_logs_and_objects_survive_restart(own_server):
    sm = own_server.client("sagemaker")
    s3 = own_server.client("s3")
    logs = own_server.client("logs")
    s3.create_bucket(Bucket="persist")
    s3.put_object(Bucket="persist", Key="a/b.txt", Body=b"kept", Metadata={"k": "v"})
    logs.create_log_group(logGroupName="/persist")
    logs.create_log_stream(logGroupName="/persist", logStreamName="s")
    logs.put_log_events(logGroupName="/persist", logStreamName="s", logEvents=[{"timestamp": 5, "message": "m"}])
    sm.create_processing_job(
        ProcessingJobName="persisted", RoleArn="arn:aws:iam::000000000000:role/R",
        AppSpecification={"ImageUri": "no-such-image:1"},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 1}})
    job = wait_for(lambda: sm.describe_processing_job(ProcessingJobName="persisted"), "ProcessingJobStatus")
    before = (job, s3.get_object(Bucket="persist", Key="a/b.txt"), logs.get_log_events(
        logGroupName="/persist", logStreamName="s", startFromHead=True)["events"])

    own_server.restart()
    sm, s3, logs = (own_server.client(n) for n in ("sagemaker", "s3", "logs"))
    assert sm.describe_processing_job(ProcessingJobName="persisted") | {"ResponseMetadata": None} == \
        before[0] | {"ResponseMetadata": None}
    obj = s3.get_object(Bucket="persist", Key="a/b.txt")
    assert obj["Body"].read() == b"kept" and obj["Metadata"] == {"k": "v"} and obj["ETag"] == before[1]["ETag"]
    assert logs.get_log_events(logGroupName="/persist", logStreamName="s", startFromHead=True)["events"] == before[2]


@pytest.mark.docker
def test_job_running_across_a_restart_finishes_normally(own_server):
    ensure_byo_image()
    sm = own_server.client("sagemaker")
    own_server.client("s3").create_bucket(Bucket="restart")
    name = unique("across")
    script = "echo before; sleep 4; echo after; echo done > /opt/ml/model/result"
    sm.create_training_job(**shell_training_job(name, script, "restart"))
    deadline = time.time() + 60
    while sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.time() < deadline
        time.sleep(0.2)
    own_server.restart()
    sm = own_server.client("sagemaker")
    job = wait_for(lambda: sm.describe_training_job(TrainingJobName=name), "TrainingJobStatus", timeout=120)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    logs = own_server.client("logs")
    stream = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                       logStreamNamePrefix=f"{name}/")["logStreams"][0]["logStreamName"]
    messages = [e["message"] for e in logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                           logStreamName=stream, startFromHead=True)["events"]]
    assert messages == ["before", "after"]


@pytest.mark.docker
def test_job_whose_containers_vanished_is_marked_failed(own_server):
    ensure_byo_image()
    import docker
    sm = own_server.client("sagemaker")
    own_server.client("s3").create_bucket(Bucket="vanish")
    name = unique("vanish")
    sm.create_training_job(**shell_training_job(name, "sleep 60", "vanish"))
    deadline = time.time() + 60
    while sm.describe_training_job(TrainingJobName=name)["SecondaryStatus"] != "Training":
        assert time.time() < deadline
        time.sleep(0.2)
    own_server.stop()
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": f"sagemaker-emulator.job={name}"}):
        c.remove(force=True)
    own_server.start()
    sm = own_server.client("sagemaker")
    job = wait_for(lambda: sm.describe_training_job(TrainingJobName=name), "TrainingJobStatus", timeout=60)
    assert job["TrainingJobStatus"] == "Failed"
    assert "containers no longer exist" in job["FailureReason"]


@pytest.mark.docker
def test_pipeline_execution_resumes_after_restart(own_server):
    from tests.pipelinehelpers import definition, processing_step, steps_by_name, wait_execution
    ensure_byo_image()
    sm = own_server.client("sagemaker")
    steps = [processing_step("Slow", "sleep 4; echo slow"), processing_step("Next", "echo next", depends_on=["Slow"])]
    sm.create_pipeline(PipelineName="resume", RoleArn="arn:aws:iam::000000000000:role/R",
                       PipelineDefinition=definition(steps))
    arn = sm.start_pipeline_execution(PipelineName="resume")["PipelineExecutionArn"]
    deadline = time.time() + 60
    while steps_by_name(sm, arn).get("Slow", {}).get("StepStatus") != "Executing":
        assert time.time() < deadline
        time.sleep(0.2)
    time.sleep(1)
    own_server.restart()
    sm = own_server.client("sagemaker")
    desc = wait_execution(sm, arn, timeout=120)
    found = steps_by_name(sm, arn)
    assert desc["PipelineExecutionStatus"] == "Succeeded", found
    assert [found["Slow"]["StepStatus"], found["Next"]["StepStatus"]] == ["Succeeded", "Succeeded"]
    # The step kept its original job: no second job was started for it.
    jobs = sm.list_processing_jobs(NameContains=f"pipelines-{arn.rsplit('/', 1)[-1]}-Slow")
    assert len(jobs["ProcessingJobSummaries"]) == 1
