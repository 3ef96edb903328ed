"""Crash safety: the server killed with SIGKILL in the middle of S3 uploads and of running jobs
loses no acknowledged object or record, and leaves no job InProgress after it restarts."""

from __future__ import annotations

import hashlib
import random
import threading

import pytest

from emulator.testing.waiting import wait_until
from tests.jobhelpers import shell_processing_job, shell_training_job, unique, wait_for

# kill -9 is a subprocess's fate (restart(kill=True)); an emulator in a thread of the tests cannot be killed.
pytestmark = pytest.mark.own_server(mode="subprocess")


def test_acknowledged_s3_puts_survive_kill_9(own_server):
    s3 = own_server.client("s3", retries={"max_attempts": 0}, connect_timeout=2, read_timeout=10)
    s3.create_bucket(Bucket="crash")
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(index: int) -> None:
        rng = random.Random(index)
        client = own_server.client("s3", retries={"max_attempts": 0}, connect_timeout=2, read_timeout=10)
        n = 0
        while not stop.is_set():
            key = f"w{index}/{n}"
            body = rng.randbytes(rng.choice([100, 10_000, 300_000, 2_000_000]))
            try:
                client.put_object(Bucket="crash", Key=key, Body=body)
            except Exception:  # noqa: BLE001 - the server died under us: this put was not acknowledged
                return
            with lock:
                acknowledged[key] = hashlib.md5(body).hexdigest()
            n += 1
    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(6)]
    for t in threads:
        t.start()
    wait_until(lambda: len(acknowledged) >= 40, timeout=60, interval=0.05, what="40 acknowledged puts")
    own_server.restart(kill=True)
    stop.set()
    for t in threads:
        t.join(15)
    s3 = own_server.client("s3")
    for key, digest in acknowledged.items():
        body = s3.get_object(Bucket="crash", Key=key)["Body"].read()
        assert hashlib.md5(body).hexdigest() == digest, key
    tmp = own_server.data_dir / "s3" / "tmp"
    assert not any(tmp.iterdir())  # half-written uploads were cleaned at start-up


@pytest.mark.docker
def test_jobs_running_across_kill_9_finish_and_none_stays_in_progress(own_server, byo_image):
    sm = own_server.client("sagemaker")
    own_server.client("s3").create_bucket(Bucket="crash-jobs")
    training = [unique("kt") for _ in range(2)]
    for name in training:
        sm.create_training_job(**shell_training_job(name, "sleep 4; echo done > /opt/ml/model/result", "crash-jobs"))
    processing = unique("kp")
    sm.create_processing_job(**shell_processing_job(processing, "sleep 4"))
    wait_until(lambda: all(sm.describe_training_job(TrainingJobName=n)["SecondaryStatus"] == "Training"
                           for n in training), timeout=120, what="both training jobs running")
    late = unique("late")  # recorded, perhaps not yet launched, when the server dies
    sm.create_training_job(**shell_training_job(late, "echo late > /opt/ml/model/result", "crash-jobs"))
    own_server.restart(kill=True)
    sm = own_server.client("sagemaker")
    for name in training + [late]:
        job = wait_for(lambda n=name: sm.describe_training_job(TrainingJobName=n), "TrainingJobStatus", timeout=180)
        assert job["TrainingJobStatus"] == "Completed", (name, job.get("FailureReason"))
    job = wait_for(lambda: sm.describe_processing_job(ProcessingJobName=processing), "ProcessingJobStatus",
                   timeout=180)
    assert job["ProcessingJobStatus"] == "Completed", job.get("FailureReason")
    assert sm.list_training_jobs(StatusEquals="InProgress")["TrainingJobSummaries"] == []
    assert sm.list_processing_jobs(StatusEquals="InProgress")["ProcessingJobSummaries"] == []
