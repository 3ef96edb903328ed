"""The `sagemaker_emulator` pytest plugin as a user meets it: test files run by an inner pytest
(pytester), the plugin found through its `pytest11` entry point, real emulators behind it; and the
`sagemaker-emulator wait` command."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from emulator.testing.emulator import EmulatorStartError, SubprocessEmulator

pytest_plugins = ["pytester"]
pytestmark = pytest.mark.emulator  # every test here starts emulators, directly or in an inner run

USER_TESTS = '''
import boto3

def mine(s3):
    return sorted(b["Name"] for b in s3.list_buckets()["Buckets"] if not b["Name"].startswith("jumpstart-"))

def test_a_creates_a_bucket(s3_client, sagemaker_client):
    s3_client.create_bucket(Bucket="bucket-from-a")
    assert sagemaker_client.list_training_jobs()["TrainingJobSummaries"] == []

def test_b_sees_a_fresh_emulator_unless_reset_is_off(s3_client, request):
    expected = [] if request.config.getini("sagemaker_emulator_reset") == "test" else ["bucket-from-a"]
    assert mine(s3_client) == expected

def test_c_environment_for_unchanged_boto3_and_sdk_code(sagemaker_emulator_env, sagemaker_emulator):
    assert sagemaker_emulator_env["AWS_ENDPOINT_URL"] == sagemaker_emulator.endpoint_url
    assert boto3.client("sts").get_caller_identity()["Account"] == "000000000000"
    import sagemaker  # its STS client has a hard-wired endpoint: the plugin applied sdk-setup's override
    assert sagemaker.get_execution_role() == "arn:aws:iam::000000000000:role/SageMakerRole"
'''


def run_user_tests(pytester: pytest.Pytester, *args: str, ini: str = "", tests: str = USER_TESTS):
    pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_user=tests)
    # A subprocess: a fresh interpreter, as a user's run would be, with the plugin loaded from its entry point.
    return pytester.runpytest_subprocess("-p", "no:randomly", "-p", "no:cacheprovider", *args)


def test_a_user_test_taking_sagemaker_client_passes_with_no_other_set_up(pytester):
    result = run_user_tests(pytester, "-v")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["sagemaker-emulator: subprocess mode, reset: test"])


def test_reset_never_keeps_state_between_tests(pytester):
    run_user_tests(pytester, ini="sagemaker_emulator_reset = never").assert_outcomes(passed=3)


def test_thread_mode(pytester):
    result = run_user_tests(pytester, "--sagemaker-emulator-mode", "thread")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["sagemaker-emulator: thread mode, reset: test"])


def test_external_mode_uses_the_given_emulator_and_resets_it(pytester, own_server):
    own_server.client("s3").create_bucket(Bucket="there-before")
    tests = USER_TESTS + f'''
def test_d_it_is_the_external_one(sagemaker_emulator):
    assert sagemaker_emulator.endpoint_url == "{own_server.endpoint_url}"
'''
    result = run_user_tests(pytester, "--sagemaker-emulator-url", own_server.endpoint_url, tests=tests)
    result.assert_outcomes(passed=4)
    result.stdout.fnmatch_lines([f"sagemaker-emulator: external at {own_server.endpoint_url}, reset: test"])
    names = [b["Name"] for b in own_server.client("s3").list_buckets()["Buckets"]]
    assert "there-before" not in names  # reset policy `test` reset it


def test_the_plugin_can_be_switched_off(pytester):
    result = run_user_tests(pytester, "-p", "no:sagemaker_emulator")
    result.assert_outcomes(errors=3)
    result.stdout.fnmatch_lines(["*fixture 's3_client' not found*"])


def test_a_bad_reset_policy_is_a_usage_error(pytester):
    result = run_user_tests(pytester, ini="sagemaker_emulator_reset = sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*sagemaker_emulator_reset must be one of test, session, never*"])


def test_xdist_workers_get_an_emulator_and_a_data_dir_each(pytester):
    records = pytester.path / "records"
    records.mkdir()
    tests = f'''
import json, os, pytest

@pytest.mark.parametrize("n", range(4))
def test_where(sagemaker_emulator, n):
    worker = os.environ["PYTEST_XDIST_WORKER"]
    record = {{"url": sagemaker_emulator.endpoint_url, "data": str(sagemaker_emulator.data_dir)}}
    open(os.path.join({str(records)!r}, worker + "-" + str(n)), "w").write(json.dumps(record))
'''
    run_user_tests(pytester, "-n", "2", tests=tests).assert_outcomes(passed=4)
    seen: dict[str, set[str]] = {}
    for path in records.iterdir():
        seen.setdefault(path.name.split("-")[0], set()).add(path.read_text())
    assert set(seen) == {"gw0", "gw1"}
    assert all(len(places) == 1 for places in seen.values())  # one emulator for all of a worker's tests
    (gw0,), (gw1,) = seen["gw0"], seen["gw1"]
    assert json.loads(gw0)["url"] != json.loads(gw1)["url"] and json.loads(gw0)["data"] != json.loads(gw1)["data"]


def test_the_server_binds_port_0_and_records_the_port_it_got(tmp_path):
    emulator = SubprocessEmulator(tmp_path / "data", env={"SAGEMAKER_EMULATOR_RUN_JOBS": "0"}).start()
    try:
        recorded = json.loads(emulator.port_file.read_text())
        assert recorded["port"] == emulator.port != 0
        assert recorded["url"] == emulator.endpoint_url == f"http://127.0.0.1:{emulator.port}"
        # The SDK's https listener on a free port too, recorded and announced in /_emulator/health.
        assert recorded["sdkHttpsPort"] == emulator.sdk_https_port == emulator.health()["sdkHttpsPort"] != 0
        assert emulator.health()["dataDir"] == str((tmp_path / "data").resolve())
        assert f"listening on {emulator.endpoint_url}" in emulator.log_tail()
    finally:
        emulator.stop()


def test_an_emulator_that_does_not_start_fails_with_its_log(tmp_path):
    blocked = tmp_path / "not-a-directory"
    blocked.write_text("a file where the data dir should be")
    with pytest.raises(EmulatorStartError) as info:
        SubprocessEmulator(blocked, start_timeout=60).start()
    message = str(info.value)
    assert "exited" in message and "the end of its log" in message
    assert "Traceback" in message  # the server's own error, not just "it did not start"


def test_plugin_import_stays_light():
    """pytest imports every installed plugin in every run: nothing heavy until a fixture is used."""
    heavy = ("boto3", "botocore", "fastapi", "uvicorn", "docker", "requests", "sagemaker", "emulator.server")
    code = f"import emulator.testing.plugin, sys; print([m for m in {heavy!r} if m in sys.modules])"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip() == "[]"


# --- sagemaker-emulator wait --------------------------------------------------------------------

def wait_command(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "emulator.cli", "wait", *args], capture_output=True, text=True,
                          timeout=120)


def test_wait_returns_once_the_emulator_answers(server):
    done = wait_command("--url", server.endpoint_url, "--timeout", "30")
    assert done.returncode == 0, done.stderr
    assert f"is ready at {server.endpoint_url}" in done.stdout


def test_wait_fails_clearly_when_nothing_answers(tmp_path):
    import socket
    with socket.socket() as sock:  # a port that is bound but never answers HTTP
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        done = wait_command("--url", url, "--timeout", "1")
    assert done.returncode == 1
    assert done.stderr.strip() == (f"sagemaker-emulator wait: no SageMaker Emulator answered {url}/_emulator/health "
                                   "within 1 s")


def test_wait_reads_the_url_from_the_environment(server):
    import os
    done = subprocess.run([sys.executable, "-m", "emulator.cli", "wait", "--timeout", "10"], capture_output=True,
                          text=True, timeout=60, env={**os.environ, "SAGEMAKER_EMULATOR_URL": server.endpoint_url})
    assert done.returncode == 0, done.stderr


@pytest.mark.docker
def test_job_containers_carry_the_xdist_worker_id(sagemaker_emulator_factory, byo_image, monkeypatch):
    import docker

    from tests.jobhelpers import BARRIER_ENV, barrier, shell_training_job, training, unique, wait_until_training
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw7")  # what xdist sets in a worker
    emulator = sagemaker_emulator_factory(name="worker-tag")
    sagemaker, s3 = emulator.client("sagemaker"), emulator.client("s3")
    s3.create_bucket(Bucket="tagged")
    name = unique("tagged")
    sagemaker.create_training_job(**shell_training_job(
        name, barrier("wait", "tagged/go"), "tagged", Environment=BARRIER_ENV))
    wait_until_training(sagemaker, name)
    client = docker.from_env()
    try:
        containers = client.containers.list(filters={"label": f"sagemaker-emulator.job={name}"})
    finally:
        client.close()
    assert [c.name.split("-")[:2] for c in containers] == [["smemu", "gw7"]]
    s3.put_object(Bucket="tagged", Key="go", Body=b"")
    assert training(sagemaker, name)["TrainingJobStatus"] == "Completed"
    emulator.discard()
