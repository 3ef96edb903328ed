"""State survives a restart, and jobs running across one finish normally."""

from __future__ import annotations

import docker
import pytest

from emulator.testing.waiting import wait_until
from tests.jobhelpers import BARRIER_ENV, barrier, shell_training_job, training, unique, wait_for, wait_until_training
from tests.pipelinehelpers import definition, processing_step, steps_by_name, wait_execution


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
def test_job_running_across_a_restart_finishes_normally(own_server, byo_image):
    sm = own_server.client("sagemaker")
    own_server.client("s3").create_bucket(Bucket="restart")
    name = unique("across")
    # The job holds on until the test has restarted the emulator (a marker object), whatever the timing.
    script = f"echo before; {barrier('wait', 'restart/go')}; echo after; echo done > /opt/ml/model/result"
    sm.create_training_job(**shell_training_job(name, script, "restart", Environment=BARRIER_ENV))
    wait_until_training(sm, name)
    own_server.restart()
    own_server.client("s3").put_object(Bucket="restart", Key="go", Body=b"")
    job = training(sm, name, timeout=120)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    logs = own_server.client("logs")
    stream = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs",
                                       logStreamNamePrefix=f"{name}/")["logStreams"][0]["logStreamName"]
    messages = [e["message"] for e in logs.get_log_events(logGroupName="/aws/sagemaker/TrainingJobs",
                                                           logStreamName=stream, startFromHead=True)["events"]]
    assert messages == ["before", "after"]


@pytest.mark.docker
def test_job_whose_containers_vanished_is_marked_failed(own_server, byo_image):
    sm = own_server.client("sagemaker")
    own_server.client("s3").create_bucket(Bucket="vanish")
    name = unique("vanish")
    sm.create_training_job(**shell_training_job(name, "sleep 60", "vanish"))
    wait_until_training(sm, name)
    own_server.stop()
    client = docker.from_env()
    for c in client.containers.list(all=True, filters={"label": f"sagemaker-emulator.job={name}"}):
        c.remove(force=True)
    own_server.start()
    job = training(sm, name, timeout=60)
    assert job["TrainingJobStatus"] == "Failed"
    assert "containers no longer exist" in job["FailureReason"]


@pytest.mark.docker
def test_pipeline_execution_resumes_after_restart(own_server, byo_image):
    sm = own_server.client("sagemaker")
    own_server.client("s3").create_bucket(Bucket="resume")
    slow = f"echo slow; {barrier('wait', 'resume/go')}"
    steps = [processing_step("Slow", 'eval "$SCRIPT"', environment={"SCRIPT": slow, **BARRIER_ENV}),
             processing_step("Next", "echo next", depends_on=["Slow"])]
    sm.create_pipeline(PipelineName="resume", RoleArn="arn:aws:iam::000000000000:role/R",
                       PipelineDefinition=definition(steps))
    arn = sm.start_pipeline_execution(PipelineName="resume")["PipelineExecutionArn"]
    job_arn = wait_until(lambda: steps_by_name(sm, arn).get("Slow", {}).get("Metadata", {}).get("ProcessingJob"),
                         what="the Slow step's job")["Arn"]
    job_name = job_arn.rsplit("/", 1)[-1]
    wait_until(lambda: sm.describe_processing_job(ProcessingJobName=job_name).get("ProcessingStartTime"),
               what="the Slow step's container running")
    own_server.restart()
    own_server.client("s3").put_object(Bucket="resume", Key="go", Body=b"")
    desc = wait_execution(sm, arn, timeout=120)
    found = steps_by_name(sm, arn)
    assert desc["PipelineExecutionStatus"] == "Succeeded", found
    assert [found["Slow"]["StepStatus"], found["Next"]["StepStatus"]] == ["Succeeded", "Succeeded"]
    # The step kept its original job: no second job was started for it.
    jobs = sm.list_processing_jobs(NameContains=f"pipelines-{arn.rsplit('/', 1)[-1]}-Slow")
    assert [j["ProcessingJobName"].lower() for j in jobs["ProcessingJobSummaries"]] == [job_name]  # ARNs: lower
