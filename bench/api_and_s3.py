"""API and S3 throughput of the emulator, side by side with moto_server in the same run.

Prints requests/s for a SageMaker DescribeTrainingJob and ListTrainingJobs, S3 1 MiB PUT and GET,
the ratio emulator/moto for each, and the emulator's peak RSS while a 2 GiB body streams in.
Goals (issue 2): >= 2x moto's throughput; RSS < 300 MB during the 2 GiB upload.

    .venv/bin/python bench/api_and_s3.py [--seconds 5] [--threads 4] [--big-gib 2]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.goals import Goals
from emulator.testing.emulator import SubprocessEmulator

AUTH = ("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{service}/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64)  # well-formed; not verified by default
MIB = 1024 * 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_moto() -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([str(Path(sys.executable).parent / "moto_server"), "-p", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            requests.get(url + "/moto-api/", timeout=1)
            return proc, url
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("moto_server did not start")


def sagemaker_call(session: requests.Session, url: str, operation: str, body: dict) -> requests.Response:
    return session.post(url + "/", data=json.dumps(body), headers={
        "X-Amz-Target": f"SageMaker.{operation}", "Content-Type": "application/x-amz-json-1.1",
        "Authorization": AUTH.format(service="sagemaker"), "X-Amz-Date": "20260101T000000Z"})


def s3_headers() -> dict[str, str]:
    return {"Authorization": AUTH.format(service="s3"), "X-Amz-Date": "20260101T000000Z",
            "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}


def throughput(work, seconds: float, threads: int) -> float:
    """Requests per second completed by `threads` workers looping on `work(session)`."""
    counts = [0] * threads
    stop = time.time() + seconds

    def loop(i: int) -> None:
        session = requests.Session()
        while time.time() < stop:
            resp = work(session)
            if resp.status_code >= 300:
                raise RuntimeError(f"{resp.status_code} {resp.text[:300]}")
            counts[i] += 1
    workers = [threading.Thread(target=loop, args=(i,)) for i in range(threads)]
    start = time.time()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return sum(counts) / (time.time() - start)


def prepare(url: str) -> None:
    session = requests.Session()
    job = {"TrainingJobName": "bench-job", "RoleArn": "arn:aws:iam::000000000000:role/R",
           "AlgorithmSpecification": {"TrainingInputMode": "File", "TrainingImage": "bench:latest"},
           "OutputDataConfig": {"S3OutputPath": "s3://bench/out"},
           "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
           "StoppingCondition": {"MaxRuntimeInSeconds": 60}}
    resp = sagemaker_call(session, url, "CreateTrainingJob", job)
    assert resp.status_code == 200, resp.text
    resp = session.put(url + "/bench", headers=s3_headers())
    assert resp.status_code == 200, resp.text
    resp = session.put(url + "/bench/one-mib", data=os.urandom(MIB), headers=s3_headers())
    assert resp.status_code == 200, resp.text


def measure(url: str, seconds: float, threads: int) -> dict[str, float]:
    payload = os.urandom(MIB)
    return {
        "DescribeTrainingJob": throughput(
            lambda s: sagemaker_call(s, url, "DescribeTrainingJob", {"TrainingJobName": "bench-job"}),
            seconds, threads),
        "ListTrainingJobs": throughput(lambda s: sagemaker_call(s, url, "ListTrainingJobs", {}), seconds, threads),
        "S3 PUT 1 MiB": throughput(lambda s: s.put(url + "/bench/put-target", data=payload,
                                                   headers=s3_headers()), seconds, threads),
        "S3 GET 1 MiB": throughput(lambda s: s.get(url + "/bench/one-mib", headers=s3_headers()),
                                   seconds, threads),
    }


def peak_rss_during_upload(url: str, pid: int, gib: float) -> tuple[float, float]:
    """(peak RSS in MB of the server process tree, seconds) while PUTting `gib` GiB streamed."""
    proc = psutil.Process(pid)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                rss = proc.memory_info().rss + sum(c.memory_info().rss for c in proc.children(recursive=True))
                peak = max(peak, rss)
            except psutil.Error:
                pass
            time.sleep(0.05)
    sampler = threading.Thread(target=sample)
    sampler.start()
    chunk = os.urandom(MIB)
    total = int(gib * 1024)

    def body():
        for _ in range(total):
            yield chunk
    start = time.time()
    resp = requests.put(url + "/bench/big", data=body(), headers=s3_headers())
    elapsed = time.time() - start
    done.set()
    sampler.join()
    assert resp.status_code == 200, resp.text
    return peak / MIB, elapsed


def main() -> int:
    goals = Goals()
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--big-gib", type=float, default=2)
    args = parser.parse_args()
    emulator = SubprocessEmulator(env={"SAGEMAKER_EMULATOR_RUN_JOBS": "0"}).start()
    moto, moto_url = start_moto()
    try:
        prepare(emulator.endpoint)
        prepare(moto_url)
        ours = measure(emulator.endpoint, args.seconds, args.threads)
        theirs = measure(moto_url, args.seconds, args.threads)
        print(f"{'operation':<22}{'emulator req/s':>16}{'moto req/s':>14}{'ratio':>8}")
        ratios = []
        for op in ours:
            ratio = ours[op] / theirs[op]
            ratios.append(ratio)
            print(f"{op:<22}{ours[op]:>16.1f}{theirs[op]:>14.1f}{ratio:>7.2f}x")
        median = statistics.median(ratios)
        print(f"median ratio: {median:.2f}x {goals.at_least('throughput emulator / moto', median, 2)}")
        rss, secs = peak_rss_during_upload(emulator.endpoint, emulator.proc.pid, args.big_gib)
        print(f"peak emulator RSS during a {args.big_gib:g} GiB streamed PUT: {rss:.0f} MB "
              f"{goals.at_most('peak RSS during the streamed PUT', rss, 300, ' MB')}, "
              f"{args.big_gib * 1024 / secs:.0f} MiB/s")
    finally:
        emulator.stop()
        moto.terminate()
        moto.wait()
    return goals.finish()


if __name__ == "__main__":
    sys.exit(main())
