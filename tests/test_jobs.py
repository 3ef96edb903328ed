"""Processing and training jobs in real Docker containers, driven through boto3."""

from __future__ import annotations

import io
import json
import tarfile
import time

import pytest

from tests.jobhelpers import (ensure_byo_image, log_messages, shell_processing_job, shell_training_job, unique,
                              wait_for)

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def byo_image():
    return ensure_byo_image()


@pytest.fixture(scope="module")
def bucket(server):
    s3 = server.client("s3")
    name = unique("jobs")
    s3.create_bucket(Bucket=name)
    return name


def training(sagemaker, name):
    return wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus")


def processing(sagemaker, name):
    return wait_for(lambda: sagemaker.describe_processing_job(ProcessingJobName=name), "ProcessingJobStatus")


def read_tar(s3, bucket, key) -> dict[str, bytes]:
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


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
    model = read_tar(s3, bucket, key)
    assert json.loads(model["hyperparameters.json"]) == {"eta": "0.1", "depth": "3"}
    assert json.loads(model["inputdataconfig.json"]) == {"train": {
        "ContentType": "text/csv", "TrainingInputMode": "File", "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None"}}
    resource = json.loads(model["resourceconfig.json"])
    assert resource["current_host"] == "algo-1" and resource["hosts"] == ["algo-1"]
    assert b"a.csv" in model["files"] and b"b.csv" in model["files"]
    assert model["env"].decode().strip() == f"{name} us-east-1"
    assert read_tar(s3, bucket, f"output/{name}/output/output.tar.gz") == {"o.txt": b"out\n"}
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


def test_failing_processing_job_without_message_uses_exit_code(sagemaker, byo_image):
    name = unique("pfail")
    sagemaker.create_processing_job(**shell_processing_job(name, "echo oops > /opt/ml/output/message; exit 2"))
    job = processing(sagemaker, name)
    assert job["ProcessingJobStatus"] == "Failed"
    assert job["ExitMessage"] == "oops"
    assert job["FailureReason"].startswith("AlgorithmError")


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
    # Like SageMaker's toolkit, a host waits until its peers resolve (they start one after another).
    script = ("set -e; h=$(cat /etc/hostname); for p in algo-1 algo-2; do n=0; until getent hosts $p; do "
              "n=$((n+1)); [ $n -lt 100 ] || exit 9; sleep 0.1; done; done > /opt/ml/model/hosts-$h; "
              "ls /opt/ml/input/data/train > /opt/ml/model/files-$h; sleep 2")  # stay resolvable for the peer
    sagemaker.create_training_job(**shell_training_job(name, script, bucket, count=2, InputDataConfig=[
        {"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": f"s3://{bucket}/shards/",
            "S3DataDistributionType": "ShardedByS3Key"}}}]))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    model = read_tar(s3, bucket, f"output/{name}/output/model.tar.gz")
    first = set(model["files-algo-1"].split())
    second = set(model["files-algo-2"].split())
    assert first and second and not first & second
    assert first | second == {f"part-{i}.csv".encode() for i in range(6)}
    assert b"algo-2" in model["hosts-algo-1"]


def test_stop_training_job(sagemaker, bucket, byo_image):
    name = unique("stop")
    sagemaker.create_training_job(**shell_training_job(
        name, "trap 'echo saving; echo m > /opt/ml/model/m; exit 0' TERM; sleep 300 & wait", bucket))
    wait_until_training(sagemaker, name)
    sagemaker.stop_training_job(TrainingJobName=name)
    assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] in ("Stopping", "Stopped")
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "Stopped"


def wait_until_training(sagemaker, name, timeout=120):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if sagemaker.describe_training_job(TrainingJobName=name)["SecondaryStatus"] == "Training":
            return
        time.sleep(0.2)
    raise AssertionError("job never reached Training")


def test_max_runtime_stops_the_job(sagemaker, bucket, byo_image):
    name = unique("maxrt")
    sagemaker.create_training_job(**shell_training_job(
        name, "trap 'exit 0' TERM; sleep 300 & wait", bucket, max_runtime=2))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Stopped"
    assert job["SecondaryStatus"] == "MaxRuntimeExceeded"


def test_network_isolation_has_no_network(sagemaker, bucket, byo_image):
    name = unique("iso")
    script = ("python3 -c \"import os,urllib.request; u=os.environ.get('AWS_ENDPOINT_URL','http://172.17.0.1:1');"
              "urllib.request.urlopen(u, timeout=3)\" && echo reachable > /opt/ml/model/r || "
              "echo isolated > /opt/ml/model/r")
    sagemaker.create_training_job(**shell_training_job(name, script, bucket, EnableNetworkIsolation=True))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")


def test_boto3_inside_the_container_reaches_the_emulator(server, sagemaker, bucket, byo_image):
    name = unique("inner")
    script = ("python3 -c \"import os,urllib.request; print(urllib.request.urlopen("
              "os.environ['AWS_ENDPOINT_URL'] + '/_emulator/health').read().decode())\" "
              "> /opt/ml/model/health")
    sagemaker.create_training_job(**shell_training_job(name, script, bucket))
    job = training(sagemaker, name)
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    health = read_tar(server.client("s3"), bucket, f"output/{name}/output/model.tar.gz")["health"]
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
    req = shell_processing_job(name, "echo early > /opt/ml/processing/out/early.txt; sleep 6",
                               outputs=[(f"s3://{bucket}/cont/{name}", "/opt/ml/processing/out")])
    req["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3UploadMode"] = "Continuous"
    sagemaker.create_processing_job(**req)
    deadline = time.time() + 30
    while True:
        listed = s3.list_objects_v2(Bucket=bucket, Prefix=f"cont/{name}/").get("Contents", [])
        status = sagemaker.describe_processing_job(ProcessingJobName=name)["ProcessingJobStatus"]
        if listed:
            break
        assert time.time() < deadline and status == "InProgress", status
        time.sleep(0.3)
    assert status == "InProgress"  # uploaded before the job ended
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
