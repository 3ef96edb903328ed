"""The attacks of docs/security.md, each tried as an attacker would: a request, a job container or a
web page must not reach the host outside the data dir, the Docker socket, or the emulator's state."""

from __future__ import annotations

import io
import os
import socket
import tarfile
import uuid
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pytest
import requests
from botocore import UNSIGNED
from botocore.config import Config
from botocore.exceptions import ClientError

from emulator.testing.emulator import REGION
from tests.jobhelpers import ROLE, shell_processing_job, shell_training_job, unique, wait_for
from tests.signing import signed

NO_JOBS = {"SAGEMAKER_EMULATOR_RUN_JOBS": "0"}


def error_of(call, **kwargs) -> dict:
    with pytest.raises(ClientError) as err:
        call(**kwargs)
    return err.value.response["Error"] | {"Status": err.value.response["ResponseMetadata"]["HTTPStatusCode"]}


@pytest.fixture(scope="module")
def bucket(server):
    name = unique("sec")
    server.client("s3").create_bucket(Bucket=name)
    return name


def processing_request(name: str, inputs=(), outputs=(), image: str = "no-such-image:1") -> dict:
    req = {"ProcessingJobName": name, "RoleArn": ROLE, "AppSpecification": {"ImageUri": image},
           "ProcessingResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.large",
                                                     "VolumeSizeInGB": 1}}}
    if inputs:
        req["ProcessingInputs"] = [{"InputName": f"in{i}", "S3Input": {
            "S3Uri": uri, "LocalPath": path, "S3DataType": "S3Prefix", "S3InputMode": "File"}}
            for i, (uri, path) in enumerate(inputs)]
    if outputs:
        req["ProcessingOutputConfig"] = {"Outputs": [{"OutputName": f"out{i}", "S3Output": {
            "S3Uri": uri, "LocalPath": path, "S3UploadMode": "EndOfJob"}} for i, (uri, path) in enumerate(outputs)]}
    return req


def training_request(name: str, bucket: str, **extra) -> dict:
    return {"TrainingJobName": name, "RoleArn": ROLE,
            "AlgorithmSpecification": {"TrainingImage": "no-such-image:1", "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}, **extra}


# ------------------------------------------------------------------ paths in requests
@pytest.mark.parametrize("local_path", ["/opt/ml/processing/../../../../tmp/escaped",
                                        "/opt/ml/processing/input/../../../../../etc", "/opt/ml/processing/..",
                                        "/opt/ml/processing"])
def test_processing_local_paths_that_leave_the_job_scratch_are_refused_at_create(sagemaker, bucket, local_path):
    for req, field in (
            (processing_request(unique("esc"), inputs=[(f"s3://{bucket}/in", local_path)]),
             "processingInputs.1.member.s3Input.localPath"),
            (processing_request(unique("esc"), outputs=[(f"s3://{bucket}/out", local_path)]),
             "processingOutputConfig.outputs.1.member.s3Output.localPath")):
        err = error_of(sagemaker.create_processing_job, **req)
        assert err["Code"] == "ValidationException" and err["Status"] == 400
        assert f"Value '{local_path}' at '{field}'" in err["Message"]
        assert not sagemaker.list_processing_jobs(NameContains=req["ProcessingJobName"])["ProcessingJobSummaries"]


def test_checkpoint_dirs_and_channel_names_that_leave_the_scratch_are_refused(sagemaker, bucket):
    err = error_of(sagemaker.create_training_job, **training_request(
        unique("ckpt"), bucket, CheckpointConfig={"S3Uri": f"s3://{bucket}/ckpt", "LocalPath": "/opt/ml/../../root"}))
    assert err["Code"] == "ValidationException" and "at 'checkpointConfig.localPath'" in err["Message"]
    err = error_of(sagemaker.create_training_job, **training_request(unique("chan"), bucket, InputDataConfig=[
        {"ChannelName": "..", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix",
                                                              "S3Uri": f"s3://{bucket}/in"}}}]))
    assert err["Code"] == "ValidationException" and "at 'inputDataConfig.1.member.channelName'" in err["Message"]


# ------------------------------------------------------------------ links planted by a job container
@pytest.fixture
def host_secret(tmp_path):
    folder = tmp_path / "host-folder"
    folder.mkdir()
    (folder / "secret.txt").write_text("host secret")
    return folder


def keys(s3, bucket: str, prefix: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])]


@pytest.mark.docker
def test_processing_output_replaced_by_a_link_fails_the_job_and_moves_no_host_file(server, sagemaker, bucket,
                                                                                   host_secret, byo_image):
    name = unique("linkout")
    script = f"rm -rf /opt/ml/processing/output && ln -s {host_secret} /opt/ml/processing/output"
    sagemaker.create_processing_job(**shell_processing_job(
        name, script, outputs=[(f"s3://{bucket}/{name}", "/opt/ml/processing/output")]))
    job = wait_for(lambda: sagemaker.describe_processing_job(ProcessingJobName=name), "ProcessingJobStatus")
    assert job["ProcessingJobStatus"] == "Failed"
    assert "/opt/ml/processing/output with a symbolic link" in job["FailureReason"]
    assert (host_secret / "secret.txt").read_text() == "host secret"
    assert keys(server.client("s3"), bucket, name) == []


@pytest.mark.docker
def test_model_dir_and_failure_file_links_are_not_followed(server, sagemaker, bucket, host_secret, byo_image):
    s3 = server.client("s3")
    name = unique("linkmodel")
    sagemaker.create_training_job(**shell_training_job(
        name, f"rm -rf /opt/ml/model && ln -s {host_secret} /opt/ml/model", bucket))
    job = wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus")
    assert job["TrainingJobStatus"] == "Failed"
    assert "/opt/ml/model with a symbolic link" in job["FailureReason"]
    assert keys(s3, bucket, f"output/{name}/") == []
    assert (host_secret / "secret.txt").read_text() == "host secret"

    name = unique("linkfail")
    sagemaker.create_training_job(**shell_training_job(
        name, f"ln -s {host_secret / 'secret.txt'} /opt/ml/output/failure; ln -s {host_secret / 'secret.txt'} "
              "/opt/ml/model/copied.txt; exit 3", bucket))
    job = wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus")
    assert job["TrainingJobStatus"] == "Failed"
    assert "host secret" not in job["FailureReason"]
    assert job["FailureReason"] == "AlgorithmError: , exit code: 3"

    name = unique("linkinside")
    sagemaker.create_training_job(**shell_training_job(
        name, f"echo mine > /opt/ml/model/own.txt; ln -s {host_secret / 'secret.txt'} /opt/ml/model/copied.txt",
        bucket))
    job = wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    body = s3.get_object(Bucket=bucket, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        assert tar.getnames() == ["own.txt"]  # the link inside the model dir is skipped, not followed


# ------------------------------------------------------------------ file:// inputs
@pytest.mark.own_server(env={"SAGEMAKER_EMULATOR_FILE_ROOTS": "{tmp_path}/allowed", **NO_JOBS})
def test_file_inputs_must_stay_under_the_configured_roots(own_server, tmp_path):
    allowed = tmp_path / "allowed"
    (allowed / "data").mkdir(parents=True)
    (allowed / "data" / "train.csv").write_text("1,2\n")
    with_socket = allowed / "with-socket"
    with_socket.mkdir()
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(with_socket / "daemon.sock"))
    (allowed / "link-out").symlink_to("/var/run")
    sm = own_server.client("sagemaker")
    try:
        def channel(uri: str) -> dict:
            return {"ChannelName": "train", "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": uri}}}
        for uri in ("file:///var/run", "file:///var/run/docker.sock", "file:///", "file:///etc",
                    f"file://{allowed}/../", f"file://{allowed}/link-out"):
            err = error_of(sm.create_training_job, **training_request(unique("fr"), "b", InputDataConfig=[channel(uri)]))
            assert err["Code"] == "ValidationException", uri
            assert "SAGEMAKER_EMULATOR_FILE_ROOTS" in err["Message"], err
        err = error_of(sm.create_training_job, **training_request(unique("fr"), "b", InputDataConfig=[
            channel(f"file://{with_socket}")]))
        assert "socket" in err["Message"] and "SAGEMAKER_EMULATOR_FILE_ROOTS" in err["Message"]
        err = error_of(sm.create_processing_job, **processing_request(
            unique("fr"), inputs=[("file:///etc", "/opt/ml/processing/input")]))
        assert err["Code"] == "ValidationException"
        sm.create_training_job(**training_request(unique("fr"), "b", InputDataConfig=[channel(f"file://{allowed}/data")]))
    finally:
        listener.close()


@pytest.mark.own_server(env=NO_JOBS)
def test_file_roots_default_to_the_server_directory_and_never_root(own_server):
    sm = own_server.client("sagemaker")
    here = Path.cwd()  # the server process inherits it
    assert here != Path("/")
    sm.create_processing_job(**processing_request(unique("here"), inputs=[(f"file://{here}",
                                                                           "/opt/ml/processing/input")]))
    err = error_of(sm.create_processing_job, **processing_request(unique("root"), inputs=[
        ("file:///", "/opt/ml/processing/input")]))
    assert err["Code"] == "ValidationException" and str(here) in err["Message"]


# ------------------------------------------------------------------ who can talk to the server
def test_a_foreign_host_header_is_refused(server):
    port = urlparse(server.endpoint).port
    health = f"{server.endpoint}/_emulator/health"
    for host in (f"attacker.example:{port}", "attacker.example", f"localhost.attacker.example:{port}"):
        resp = requests.get(health, headers={"Host": host})
        assert resp.status_code == 403 and "SAGEMAKER_EMULATOR_ALLOWED_HOSTS" in resp.json()["message"], host
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", f"[::1]:{port}", f"bucket.localhost:{port}",
                 f"172.17.0.1:{port}"):
        assert requests.get(health, headers={"Host": host}).status_code == 200, host


def test_cross_site_pages_change_nothing(server, bucket):
    """A page on another site can send a form POST (text/plain, no preflight) or a fetch with an Origin;
    neither may delete objects or wipe the emulator."""
    s3 = server.client("s3")
    s3.put_object(Bucket=bucket, Key="keep/a", Body=b"a")
    delete = b"<Delete><Object><Key>keep/a</Key></Object></Delete>"
    form_post = requests.post(f"{server.endpoint}/{bucket}?delete", data=delete,
                              headers={"Content-Type": "text/plain", "Origin": "http://attacker.example"})
    assert form_post.status_code == 403
    # A browser that sent no Origin (older ones, or a no-referrer policy): the request is unsigned.
    no_origin = requests.post(f"{server.endpoint}/{bucket}?delete", data=delete, headers={"Content-Type": "text/plain"})
    assert no_origin.status_code == 403 and "<Code>AccessDenied</Code>" in no_origin.text
    # Even a correctly signed request is refused when a browser says another site sent it.
    for headers in ({"Origin": "http://attacker.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        assert signed("POST", f"{server.endpoint}/{bucket}?delete", delete, headers).status_code == 403, headers
    assert keys(s3, bucket, "keep/") == ["keep/a"]

    for headers in ({"Content-Type": "text/plain"}, {"Content-Type": "application/x-www-form-urlencoded"},
                    {"Content-Type": "application/json", "Origin": "http://attacker.example"},
                    {"X-Requested-With": "x", "Sec-Fetch-Site": "cross-site"}, {}):
        resp = requests.post(f"{server.endpoint}/_emulator/reset", data="{}", headers=headers)
        assert resp.status_code == 403, headers
    assert keys(s3, bucket, "keep/") == ["keep/a"]


def test_same_origin_console_requests_pass(server):
    origin = f"http://127.0.0.1:{urlparse(server.endpoint).port}"
    resp = requests.get(f"{server.endpoint}/_emulator/health",
                        headers={"Origin": origin, "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"})
    assert resp.status_code == 200
    # A console POST: same-origin, form-encoded, carrying its CSRF header: past the guard (no such page: 404).
    resp = requests.post(f"{server.endpoint}/_emulator/no-such-page", data="a=b", headers={
        "Origin": origin, "Sec-Fetch-Site": "same-origin", "X-CSRF-Token": "t",
        "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 404
    # A link followed from another site opens a page (a navigation), it cannot post.
    resp = requests.get(f"{server.endpoint}/_emulator/health",
                        headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
    assert resp.status_code == 200


@pytest.mark.own_server(env=NO_JOBS)
def test_console_downloads_answer_only_the_console_itself(server, bucket):
    """The console reads objects without a signature (/_emulator/ui/s3/...): only for requests that pass
    the Host and Origin checks, so another site's page can neither read them nor rebind a name to them."""
    server.client("s3").put_object(Bucket=bucket, Key="console/secret.txt", Body=b"console only")
    url = f"{server.endpoint}/_emulator/ui/s3/{bucket}/console/secret.txt"
    port = urlparse(server.endpoint).port
    same_origin = {"Origin": f"http://127.0.0.1:{port}", "Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors"}
    assert requests.get(url, headers=same_origin).content == b"console only"
    assert requests.get(url).content == b"console only"  # a user opening the link
    for headers in ({"Host": f"attacker.example:{port}"}, {"Origin": "http://attacker.example"},
                    {"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors"}):
        resp = requests.get(url, headers=headers)
        assert resp.status_code == 403 and b"console only" not in resp.content, headers


def test_the_reset_endpoint_takes_json_or_a_custom_header(own_server):
    s3 = own_server.client("s3")
    s3.create_bucket(Bucket="wiped")
    assert requests.post(f"{own_server.endpoint}/_emulator/reset", headers={"X-Emulator-Client": "tests"}).ok
    assert "wiped" not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_unsigned_aws_calls_are_refused(server, bucket):
    resp = requests.post(server.endpoint + "/", data="{}", headers={
        "X-Amz-Target": "SageMaker.ListTrainingJobs", "Content-Type": "application/x-amz-json-1.1"})
    assert resp.status_code == 403 and resp.json()["__type"] == "MissingAuthenticationTokenException"
    resp = requests.post(server.endpoint + "/", data="Action=GetCallerIdentity&Version=2011-06-15",
                         headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status_code == 403 and "<Code>MissingAuthenticationToken</Code>" in resp.text
    anonymous = boto3.client("s3", endpoint_url=server.endpoint, region_name=REGION,
                             config=Config(signature_version=UNSIGNED))
    assert error_of(anonymous.list_objects_v2, Bucket=bucket)["Code"] == "AccessDenied"
    resp = requests.post(server.endpoint + "/", data="{}", headers={
        "X-Amz-Target": "SageMaker.ListTrainingJobs", "Content-Type": "application/x-amz-json-1.1",
        "Authorization": "AWS4-HMAC-SHA256 Credential=nonsense"})
    assert resp.status_code == 400 and resp.json()["__type"] == "IncompleteSignatureException"


@pytest.mark.own_server(env={"SAGEMAKER_EMULATOR_CREDENTIALS": "AKIDLOCAL:local-secret,AKIDOTHER:other-secret",
                              **NO_JOBS})
def test_strict_mode_verifies_signatures_against_the_configured_credentials(own_server):
    def client(service: str, key: str, secret: str, **config):
        return boto3.session.Session(region_name=REGION, aws_access_key_id=key, aws_secret_access_key=secret).client(
            service, endpoint_url=own_server.endpoint, config=Config(retries={"max_attempts": 0}, **config))

    s3 = client("s3", "AKIDLOCAL", "local-secret")
    s3.create_bucket(Bucket="strict")
    s3.put_object(Bucket="strict", Key="dir/a b+c.txt", Body=b"signed", Metadata={"k": "v"})
    assert s3.get_object(Bucket="strict", Key="dir/a b+c.txt")["Body"].read() == b"signed"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="strict", Prefix="dir/")["Contents"]] == ["dir/a b+c.txt"]
    s3.delete_objects(Bucket="strict", Delete={"Objects": [{"Key": "nothing"}]})
    for signature_version in ("s3", "s3v4"):
        url = client("s3", "AKIDOTHER", "other-secret", signature_version=signature_version).generate_presigned_url(
            "get_object", Params={"Bucket": "strict", "Key": "dir/a b+c.txt"})
        assert requests.get(url).content == b"signed", signature_version
        forged = url.replace("AKIDOTHER", "AKIDLOCAL")
        assert requests.get(forged).status_code == 403
    assert client("sagemaker", "AKIDLOCAL", "local-secret").list_training_jobs()["TrainingJobSummaries"] == []
    assert client("sts", "AKIDOTHER", "other-secret").get_caller_identity()["Account"] == "000000000000"
    client("logs", "AKIDLOCAL", "local-secret").create_log_group(logGroupName="/strict")

    wrong = {"s3": "SignatureDoesNotMatch", "sagemaker": "InvalidSignatureException", "sts": "SignatureDoesNotMatch"}
    unknown = {"s3": "InvalidAccessKeyId", "sagemaker": "UnrecognizedClientException", "sts": "InvalidClientTokenId"}
    calls = {"s3": lambda c: c.list_objects_v2(Bucket="strict"), "sagemaker": lambda c: c.list_training_jobs(),
             "sts": lambda c: c.get_caller_identity()}
    for service, call in calls.items():
        for key, secret, code in (("AKIDLOCAL", "wrong", wrong[service]), ("AKIDNOBODY", "x", unknown[service]),
                                  ("test", "test", unknown[service])):
            with pytest.raises(ClientError) as err:
                call(client(service, key, secret))
            assert err.value.response["Error"]["Code"] == code, (service, key)
            assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


@pytest.mark.own_server(tls=True, env={"SAGEMAKER_EMULATOR_CREDENTIALS": "AKIDLOCAL:local-secret", **NO_JOBS})
def test_strict_mode_accepts_streamed_uploads_over_https(own_server, tmp_path):
    s3 = boto3.session.Session(region_name=REGION, aws_access_key_id="AKIDLOCAL",
                               aws_secret_access_key="local-secret").client(
        "s3", endpoint_url=own_server.endpoint, verify=False)
    s3.create_bucket(Bucket="streamed")
    source = tmp_path / "big.bin"
    source.write_bytes(os.urandom(12 * 1024 * 1024))
    s3.upload_file(str(source), "streamed", "big.bin")  # multipart, aws-chunked with trailing checksums
    assert s3.head_object(Bucket="streamed", Key="big.bin")["ContentLength"] == source.stat().st_size


# ------------------------------------------------------------------ what a job container can reach
def _job_file(server, sagemaker, bucket, script: str, name: str) -> str:
    sagemaker.create_training_job(**shell_training_job(name, script, bucket))
    job = wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
    body = server.client("s3").get_object(Bucket=bucket, Key=f"output/{name}/output/model.tar.gz")["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return tar.extractfile("out.txt").read().decode()


@pytest.mark.docker
def test_job_containers_run_without_spare_capabilities_and_with_a_pids_limit(server, sagemaker, bucket, byo_image):
    script = ("grep -E '^(CapEff|NoNewPrivs):' /proc/self/status > /opt/ml/model/out.txt; "
              "cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/pids/pids.max 2>/dev/null | head -1 >> /opt/ml/model/out.txt")
    lines = dict(line.split(":", 1) if ":" in line else ("pids.max", line)
                 for line in _job_file(server, sagemaker, bucket, script, unique("caps")).split("\n") if line)
    capabilities = int(lines["CapEff"].strip(), 16)
    for dropped in (8, 12, 13, 18, 21, 27, 29, 31):  # SETPCAP NET_ADMIN NET_RAW SYS_CHROOT SYS_ADMIN MKNOD AUDIT_WRITE SETFCAP
        assert not capabilities & (1 << dropped), dropped
    for kept in (0, 1, 3, 5, 6, 7):  # CHOWN DAC_OVERRIDE FOWNER KILL SETGID SETUID
        assert capabilities & (1 << kept), kept
    assert lines["NoNewPrivs"].strip() == "1"
    assert lines["pids.max"].strip() == "4096"


@pytest.mark.docker
def test_the_job_endpoint_is_only_reachable_from_the_jobs_network(server, sagemaker, bucket, byo_image):
    import docker
    endpoint = _job_file(server, sagemaker, bucket, 'echo "$AWS_ENDPOINT_URL" > /opt/ml/model/out.txt; '
                         "python3 -c \"import os,urllib.request; urllib.request.urlopen("
                         "os.environ['AWS_ENDPOINT_URL'] + '/_emulator/health')\"", unique("endpoint")).strip()
    assert endpoint.startswith("http://")
    probe = (f"import urllib.request\ntry:\n urllib.request.urlopen('{endpoint}/_emulator/health', timeout=5)\n"
             " print('reached')\nexcept Exception as e:\n print('refused', type(e).__name__)")
    client = docker.from_env()
    name = f"smemu-test-probe-{uuid.uuid4().hex[:8]}"
    try:
        output = client.containers.run(byo_image, ["python3", "-c", probe], name=name, network="bridge",
                                       remove=False).decode()
    finally:
        try:
            client.containers.get(name).remove(force=True)
        except docker.errors.NotFound:
            pass
    assert output.startswith("refused"), output
    # The hosts of a multi-host job, on a private network of their own, reach it too.
    name = unique("endpoint2")
    sagemaker.create_training_job(**shell_training_job(
        name, "python3 -c \"import os,urllib.request; urllib.request.urlopen(os.environ['AWS_ENDPOINT_URL'] + "
              "'/_emulator/health')\"", bucket, count=2))
    job = wait_for(lambda: sagemaker.describe_training_job(TrainingJobName=name), "TrainingJobStatus")
    assert job["TrainingJobStatus"] == "Completed", job.get("FailureReason")
