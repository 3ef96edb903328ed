"""Processing and training jobs in real Docker containers, driven through boto3."""

from __future__ import annotations

import json

import docker
import pytest

from emulator.testing.waiting import wait_until
from tests.jobhelpers import (
    BARRIER_ENV,
    barrier,
    log_messages,
    processing,
    read_tar,
    shell_processing_job,
    shell_training_job,
    training,
    unique,
    wait_until_training,
)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def bucket(server):
    s3 = server.client("s3")
    name = unique("jobs")
    s3.create_bucket(Bucket=name)
    return name


def model_files(s3, bucket: str, name: str) -> dict[str, bytes]:
    return read_tar(s3, f"s3://{bucket}/output/{name}/output/model.tar.gz")


def job_containers(name: str) -> list:
    client = docker.from_env()
    try:
        return client.containers.list(all=True, filters={"label": f"sagemaker-emulator.job={name}"})
    finally:
        client.close()


def test_processing_job_reads_input_writes_output_and_logs(server, sagemaker, logs, bucket, byo_image):
    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="proc/in/data.txt", Body=b"hello from s3\n")
    name = unique("proc")
    script = ("cat /opt/ml/processing/input/data.txt > /opt/ml/processing/output/copy.txt; "
              "cat /opt/ml/config/resourceconfig.json > /opt/ml/processing/output/resource.json; "
              "echo processed; printf 'a\\tb\\n'")
    sagemaker.create_processing_job(**shell_processing_job(
        name, script, inputs=[(f"s3://{bucket}/proc/in", "/opt/ml/processing/input", {})],
        outputs=[(f"s3://{bucket}/proc/out", "/opt/ml/processing/output")]))
    sagemaker.get_waiter("processing_job_completed_or_stopped").wait(
        ProcessingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    job = sagemaker.describe_processing_job(ProcessingJobName=name)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["ProcessingJobArn"].endswith(f":processing-job/{name}")
    assert s3.get_object(Bucket=bucket, Key="proc/out/copy.txt")["Body"].read() == b"hello from s3\n"
    resource = json.loads(s3.get_object(Bucket=bucket, Key="proc/out/resource.json")["Body"].read())
    assert resource["current_host"] == "algo-1" and resource["hosts"] == ["algo-1"]
    messages = log_messages(logs, "/aws/sagemaker/ProcessingJobs", name)
    assert "processed" in messages
    assert "a#011b" in messages  # tabs are syslog-escaped as on AWS


def test_training_job_contract_artifacts_metrics_and_transitions(server, sagemaker, logs, bucket, byo_image):
    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="train/a.csv", Body=b"1,2\n")
    s3.put_object(Bucket=bucket, Key="train/sub/b.csv", Body=b"3,4\n")
    name = unique("train")
    script = ("set -e; cp /opt/ml/input/config/*.json /opt/ml/model/; ls -R /opt/ml/input/data > /opt/ml/model/files;"
              "echo \"$TRAINING_JOB_NAME $AWS_REGION\" > /opt/ml/model/env; echo out > /opt/ml/output/data/o.txt;"
              "echo 'epoch 1 loss=0.75'; echo 'epoch 2 loss=0.25'")
    req = shell_training_job(name, script, bucket, algorithm={"MetricDefinitions": [
        {"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}]},
        HyperParameters={"eta": "0.1", "depth": "3"},
        InputDataConfig=[{"ChannelName": "train", "ContentType": "text/csv", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/train"}}}])
    sagemaker.create_training_job(**req)
    sagemaker.get_waiter("training_job_completed_or_stopped").wait(
        TrainingJobName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 300})
    job = sagemaker.describe_training_job(TrainingJobName=name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert job["SecondaryStatus"] == "Completed"
    assert [t["Status"] for t in job["SecondaryStatusTransitions"]] == [
        "Starting", "Downloading", "Training", "Uploading", "Completed"]
    assert job["SecondaryStatusTransitions"][2]["StatusMessage"] == \
        "Training image download completed. Training in progress."
    assert job["TrainingTimeInSeconds"] >= 1 and job["BillableTimeInSeconds"] >= 1
    assert job["FinalMetricDataList"][0]["MetricName"] == "train:loss"
    assert job["FinalMetricDataList"][0]["Value"] == 0.25
    key = f"output/{name}/output/model.tar.gz"
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{bucket}/{key}"
    model = read_tar(s3, job["ModelArtifacts"]["S3ModelArtifacts"])
    assert json.loads(model["hyperparameters.json"]) == {"eta": "0.1", "depth": "3"}
    assert json.loads(model["inputdataconfig.json"]) == {"train": {
        "ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None"}}
    resource = json.loads(model["resourceconfig.json"])
    assert resource["current_host"] == "algo-1" and resource["hosts"] == ["algo-1"]
    assert b"a.csv" in model["files"] and b"b.csv" in model["files"]
    assert model["env"].decode().strip() == f"{name} us-east-1"
    assert read_tar(s3, f"s3://{bucket}/output/{name}/output/output.tar.gz") == {"o.txt": b"out\n"}
    streams = logs.describe_log_streams(logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/")
    assert streams["logStreams"][0]["logStreamName"].startswith(f"{name}/algo-1-")
    assert "epoch 2 loss=0.25" in log_messages(logs, "/aws/sagemaker/TrainingJobs", name)


def test_failing_training_job_reports_failure_file(sagemaker, bucket, byo_image):
    name = unique("fail")
    sagemaker.create_training_job(**shell_training_job(
        name, "echo 'ValueError: bad input' > /opt/ml/output/failure; exit 3", bucket))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: ValueError: bad input"
    # Required members of DescribeTrainingJobResponse, present whatever the status.
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{bucket}/output/{name}/output/model.tar.gz"


def test_failing_training_job_without_a_failure_file_reports_the_exit_code(sagemaker, bucket, byo_image):
    name = unique("exit")
    sagemaker.create_training_job(**shell_training_job(name, "echo about to fail; exit 3", bucket))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert job["FailureReason"] == "AlgorithmError: , exit code: 3"  # AWS's wording, empty message included


def test_failing_processing_job_reports_its_exit_message(sagemaker, byo_image):
    name = unique("pfail")
    sagemaker.create_processing_job(**shell_processing_job(name, "echo oops > /opt/ml/output/message; exit 2"))
    job = processing(sagemaker, name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["ExitMessage"] == "oops"
    assert job["FailureReason"] == "AlgorithmError: See job logs for more information"


def test_unknown_image_fails_with_a_clear_reason(sagemaker, bucket):
    name = unique("noimg")
    sagemaker.create_training_job(**shell_training_job(name, "true", bucket, image="no-such-image:1.0"))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Failed"
    assert "no-such-image:1.0" in job["FailureReason"] and "bring your own container" in job["FailureReason"]


def test_multi_instance_sharded_input(server, sagemaker, bucket, byo_image):
    s3 = server.client("s3")
    for i in range(6):
        s3.put_object(Bucket=bucket, Key=f"shards/part-{i}.csv", Body=f"{i}\n".encode())
    name = unique("multi")
    # Like SageMaker's toolkit, a host waits until its peers resolve (they start one after another);
    # then it stays up until every host has resolved its peers (markers in S3), so none leaves early.
    marks = f"{bucket}/barrier/{name}"
    script = ("set -e; h=$(cat /etc/hostname); for p in algo-1 algo-2; do n=0; until getent hosts $p; do "
              "n=$((n+1)); [ $n -lt 600 ] || exit 9; sleep 0.1; done; done > /opt/ml/model/hosts-$h; "
              "ls /opt/ml/input/data/train > /opt/ml/model/files-$h; "
              f"{barrier('put', marks + '/$h')}; {barrier('wait', marks + '/algo-1', marks + '/algo-2')}")
    sagemaker.create_training_job(**shell_training_job(name, 'eval "$SCRIPT"', bucket, count=2, InputDataConfig=[
        {"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/shards/",
            "S3DataDistributionType": "ShardedByS3Key"}}}], Environment={"SCRIPT": script, **BARRIER_ENV}))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model = model_files(s3, bucket, name)
    first = set(model["files-algo-1"].split())
    second = set(model["files-algo-2"].split())
    assert first and second and not first & second
    assert first | second == {f"part-{i}.csv".encode() for i in range(6)}
    assert b"algo-2" in model["hosts-algo-1"] and b"algo-1" in model["hosts-algo-2"]


def test_stop_training_job_uploads_what_the_sigterm_handler_saved(server, sagemaker, bucket, byo_image):
    name = unique("stop")
    sagemaker.create_training_job(**shell_training_job(
        name, "trap 'echo saving; echo saved-on-stop > /opt/ml/model/m; exit 0' TERM; sleep 300 & wait", bucket))
    wait_until_training(sagemaker, name)
    sagemaker.stop_training_job(TrainingJobName=name)
    assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "Stopped"
    # AWS gives the algorithm its SIGTERM grace period and uploads the model it saved.
    assert job["ModelArtifacts"]["S3ModelArtifacts"] == f"s3://{bucket}/output/{name}/output/model.tar.gz"
    assert model_files(server.client("s3"), bucket, name) == {"m": b"saved-on-stop\n"}
    wait_until(lambda: not job_containers(name), timeout=60, what="the job's containers removed")


def test_max_runtime_stops_the_job(sagemaker, bucket, byo_image):
    name = unique("maxrt")
    sagemaker.create_training_job(**shell_training_job(
        name, "trap 'exit 0' TERM; sleep 300 & wait", bucket, max_runtime=2))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"


PROBE = """import os,urllib.request as u
try:u.urlopen(os.environ['PROBE_URL']+'/_emulator/health',timeout=5);r='reachable'
except OSError:r='isolated'
open('/opt/ml/model/r','w').write(r)
"""


def test_network_isolation_cuts_off_the_emulator_a_normal_job_reaches(server, sagemaker, bucket, byo_image):
    s3 = server.client("s3")
    control, isolated = unique("net"), unique("iso")
    # The control job learns the emulator's address as every job sees it, and must reach it.
    sagemaker.create_training_job(**shell_training_job(
        control, 'PROBE_URL=$AWS_ENDPOINT_URL python3 -c "$PROBE"; echo $AWS_ENDPOINT_URL > /opt/ml/model/url',
        bucket, Environment={"PROBE": PROBE}))
    assert training(sagemaker, control)["TrainingJobStatus"] == "Completed"
    reached = model_files(s3, bucket, control)
    assert reached["r"] == b"reachable", reached
    # The isolated job probes that same address, and must not get through.
    sagemaker.create_training_job(**shell_training_job(
        isolated, 'python3 -c "$PROBE"', bucket, EnableNetworkIsolation=True,
        Environment={"PROBE": PROBE, "PROBE_URL": reached["url"].decode().strip()}))
    job = training(sagemaker, isolated)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    assert model_files(s3, bucket, isolated)["r"] == b"isolated"


def test_boto3_inside_the_container_reaches_the_emulator(server, sagemaker, bucket, byo_image):
    name = unique("inner")
    script = ("python3 -c \"import os,urllib.request; print(urllib.request.urlopen("
              "os.environ['AWS_ENDPOINT_URL'] + '/_emulator/health').read().decode())\" "
              "> /opt/ml/model/health")
    sagemaker.create_training_job(**shell_training_job(name, script, bucket))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    health = model_files(server.client("s3"), bucket, name)["health"]
    assert json.loads(health)["status"] == "running"


def test_duplicate_name_list_filters_and_tags(sagemaker, bucket, byo_image):
    name = unique("dup")
    req = shell_training_job(name, "true", bucket, Tags=[{"Key": "team", "Value": "ml"}])
    arn = sagemaker.create_training_job(**req)["TrainingJobArn"]
    with pytest.raises(sagemaker.exceptions.ResourceInUse):
        sagemaker.create_training_job(**req)
    training(sagemaker, name)
    listed = sagemaker.list_training_jobs(NameContains=name, StatusEquals="Completed")["TrainingJobSummaries"]
    assert [j["TrainingJobName"] for j in listed] == [name]
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]
    sagemaker.add_tags(ResourceArn=arn, Tags=[{"Key": "x", "Value": "1"}])
    sagemaker.delete_tags(ResourceArn=arn, TagKeys=["team"])
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "x", "Value": "1"}]
    page = sagemaker.list_training_jobs(MaxResults=1, SortBy="CreationTime", SortOrder="Descending")
    assert len(page["TrainingJobSummaries"]) == 1 and "NextToken" in page
    with pytest.raises(sagemaker.exceptions.ClientError) as info:
        sagemaker.describe_training_job(TrainingJobName="does-not-exist")
    assert info.value.response["Error"]["Code"] == "ValidationException"


def test_continuous_output_is_uploaded_while_the_job_runs(server, sagemaker, bucket, byo_image):
    s3 = server.client("s3")
    name = unique("cont")
    # The job writes its output, then waits for the test to say it saw the upload: it cannot end first.
    script = f"echo early > /opt/ml/processing/out/early.txt; {barrier('wait', f'{bucket}/go/{name}')}"
    req = shell_processing_job(name, script, outputs=[(f"s3://{bucket}/cont/{name}", "/opt/ml/processing/out")],
                               Environment=BARRIER_ENV)
    req["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3UploadMode"] = "Continuous"
    sagemaker.create_processing_job(**req)
    wait_until(lambda: s3.list_objects_v2(Bucket=bucket, Prefix=f"cont/{name}/").get("Contents"),
               timeout=120, what="the continuous upload")
    assert sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"] == "InProgress"
    assert s3.get_object(Bucket=bucket, Key=f"cont/{name}/early.txt")["Body"].read() == b"early\n"
    s3.put_object(Bucket=bucket, Key=f"go/{name}", Body=b"go")
    assert processing(sagemaker, name)["ProcessingJobStatus"] == "Completed"


def test_experiment_config_keeps_the_metric_time_series(sagemaker, bucket, byo_image):
    name = unique("series")
    sagemaker.create_experiment(ExperimentName=f"{name}-exp")
    sagemaker.create_trial(TrialName=f"{name}-trial", ExperimentName=f"{name}-exp")
    sagemaker.create_training_job(**shell_training_job(
        name, "for l in 0.9 0.5 0.25; do echo loss=$l; done", bucket,
        algorithm={"MetricDefinitions": [{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"}]},
        ExperimentConfig={"ExperimentName": f"{name}-exp", "TrialName": f"{name}-trial"}))
    assert training(sagemaker, name)["TrainingJobStatus"] == "Completed"
    component = sagemaker.describe_trial_component(TrialComponentName=f"{name}-aws-training-job")
    loss = next(m for m in component["Metrics"] if m["MetricName"] == "train:loss")
    assert (loss["Count"], loss["Min"], loss["Max"], loss["Last"]) == (3, 0.25, 0.9, 0.25)
