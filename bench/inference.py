"""Inference overhead, side by side in one run (issue 11), on the built-in XGBoost image with a small model:

  latency      InvokeEndpoint p50/p99 (1 client thread) against POSTing the same payload straight to the
               container's /invocations; with data capture off and at 100%
  throughput   calls per second with 1 and 8 client threads, the same ways (goal with capture off)
  start        CreateEndpoint -> InService against `docker run ... serve` + the first healthy /ping
  transform    rows per second of a batch transform job (Create -> Completed) against starting the same
               container and POSTing the same mini-batches to it directly

Both sides use the same raw HTTP client (urllib3, keep-alive), so the client's own cost cancels out.
Goals: <= +1 ms p50 and >= 0.8x direct throughput with capture off; <= +2 ms p50 with capture at 100%;
InService within 1.3x the container's own start-to-healthy. A goal missed by a wide margin makes it exit 1
(bench/goals.py) -- the machine is shared, so small misses are reported, not fatal.

    .venv/bin/python bench/inference.py [--calls 2000] [--threads 8] [--starts 3] [--rows 200000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import urllib3

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.goals import Goals
from emulator.testing.emulator import SubprocessEmulator
from tests.inference_helpers import ROLE, XGBOOST_IMAGE, delete_all_endpoints, wait_endpoint, xgboost_model

BUCKET = "bench-inference"
PAYLOAD = b"0.5,-1.25,0.75,2.0\n"
# A well-formed SigV4 header: the emulator refuses unsigned calls, and verifies signatures only when keys
# are configured (docs/security.md). The containers ignore it; both sides send the same bytes.
HEADERS = {"Content-Type": "text/csv", "Accept": "text/csv", "X-Amz-Date": "20260101T000000Z",
           "Authorization": "AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/sagemaker/aws4_request, "
                            "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def timed_calls(url: str, calls: int) -> list[float]:
    pool = urllib3.PoolManager(maxsize=1)
    out = []
    for _ in range(calls):
        start = time.perf_counter()
        response = pool.request("POST", url, body=PAYLOAD, headers=HEADERS)
        out.append(time.perf_counter() - start)
        assert response.status == 200, (response.status, response.data[:300])
    return out


def throughput(url: str, threads: int, calls: int) -> float:
    def worker() -> None:
        pool = urllib3.PoolManager(maxsize=1)
        for _ in range(calls):
            assert pool.request("POST", url, body=PAYLOAD, headers=HEADERS).status == 200
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return threads * calls / (time.perf_counter() - start)


def container_address(endpoint: str) -> str:
    import docker
    client = docker.from_env()
    (container,) = client.containers.list(filters={"label": ["sagemaker-emulator.kind=Endpoint",
                                                             f"sagemaker-emulator.job={endpoint}"]})
    return next(iter(container.attrs["NetworkSettings"]["Networks"].values()))["IPAddress"]


def create_endpoint(sagemaker, name: str, capture: bool) -> None:
    config = {"DataCaptureConfig": {"EnableCapture": True, "InitialSamplingPercentage": 100,
                                    "DestinationS3Uri": f"s3://{BUCKET}/capture",
                                    "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
                                    "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"]}}} if capture else {}
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "bench-model", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}], **config)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)


def time_in_service(sagemaker) -> float:
    name = f"start-{uuid.uuid4().hex[:8]}"
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[
        {"VariantName": "AllTraffic", "ModelName": "bench-model", "InstanceType": "ml.m5.large",
         "InitialInstanceCount": 1}])
    start = time.perf_counter()
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    while sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating":
        time.sleep(0.01)
    elapsed = time.perf_counter() - start
    assert sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
    sagemaker.delete_endpoint(EndpointName=name)
    return elapsed


def start_container(image: str, model_dir: str) -> tuple[str, str, float]:
    """`docker run` the image's `serve` with the model mounted, until /ping answers: (id, address, seconds)."""
    start = time.perf_counter()
    container_id = subprocess.run(["docker", "run", "-d", "--label", "sagemaker-emulator.bench=inference", "-v",
                                   f"{model_dir}:/opt/ml/model", image, "serve"], check=True, capture_output=True,
                                  text=True).stdout.strip()
    address = subprocess.run(["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
                              container_id], check=True, capture_output=True, text=True).stdout.strip()
    pool = urllib3.PoolManager(timeout=2, retries=False)
    while True:
        try:
            if pool.request("GET", f"http://{address}:8080/ping").status == 200:
                return container_id, address, time.perf_counter() - start
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.01)


def time_container_start(image: str, model_dir: str) -> float:
    container_id, _, elapsed = start_container(image, model_dir)
    subprocess.run(["docker", "rm", "-f", container_id], check=True, capture_output=True)
    return elapsed


def transform_direct(image: str, model_dir: str, body: bytes) -> float:
    """Start the container and POST the job's mini-batches (6 MB of whole lines) to it, in order."""
    start = time.perf_counter()
    container_id, address, _ = start_container(image, model_dir)
    pool = urllib3.PoolManager(maxsize=1)
    batch, size, limit = [], 0, 6 * 1024 * 1024
    for line in body.splitlines(keepends=True):
        if batch and size + len(line) > limit:
            assert pool.request("POST", f"http://{address}:8080/invocations", body=b"".join(batch),
                                headers=HEADERS).status == 200
            batch, size = [], 0
        batch.append(line)
        size += len(line)
    if batch:
        assert pool.request("POST", f"http://{address}:8080/invocations", body=b"".join(batch),
                            headers=HEADERS).status == 200
    elapsed = time.perf_counter() - start
    subprocess.run(["docker", "rm", "-f", container_id], check=True, capture_output=True)
    return elapsed


def transform_job(sagemaker) -> float:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    start = time.perf_counter()
    sagemaker.create_transform_job(
        TransformJobName=name, ModelName="bench-model", BatchStrategy="MultiRecord", MaxPayloadInMB=6,
        TransformInput={"DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": f"s3://{BUCKET}/rows/"}},
                        "ContentType": "text/csv", "SplitType": "Line"},
        TransformOutput={"S3OutputPath": f"s3://{BUCKET}/rows-out/{name}", "Accept": "text/csv",
                         "AssembleWith": "Line"},
        TransformResources={"InstanceType": "ml.m5.large", "InstanceCount": 1})
    while True:
        status = sagemaker.describe_transform_job(TransformJobName=name)["TransformJobStatus"]
        if status != "InProgress":
            break
        time.sleep(0.02)
    assert status == "Completed", sagemaker.describe_transform_job(TransformJobName=name).get("FailureReason")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--threads", type=int, default=8)
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--rows", type=int, default=200_000)
    args = parser.parse_args()
    import docker

    from emulator.runtime.images import image_for_uri
    image = image_for_uri(XGBOOST_IMAGE, docker.from_env())
    model = xgboost_model()
    server = SubprocessEmulator().start()
    goals = Goals()
    try:
        s3, sagemaker = server.client("s3"), server.client("sagemaker")
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="model.tar.gz", Body=model)
        sagemaker.create_model(ModelName="bench-model", ExecutionRoleArn=ROLE, PrimaryContainer={
            "Image": XGBOOST_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/model.tar.gz"})
        run = uuid.uuid4().hex[:6]
        plain, captured = f"bench-plain-{run}", f"bench-capture-{run}"
        create_endpoint(sagemaker, plain, capture=False)
        create_endpoint(sagemaker, captured, capture=True)
        for name in (plain, captured):
            assert wait_endpoint(sagemaker, name)["EndpointStatus"] == "InService"
        via = {"bench-plain": f"{server.endpoint}/endpoints/{plain}/invocations",
               "bench-capture": f"{server.endpoint}/endpoints/{captured}/invocations"}
        direct = f"http://{container_address(plain)}:8080/invocations"
        for url in (direct, *via.values()):
            timed_calls(url, 200)   # warm-up: connections, caches
        samples = {"direct": [], "plain": [], "capture": []}
        rounds = 5
        for _ in range(rounds):   # interleaved, so load from other processes hits every side alike
            samples["direct"] += timed_calls(direct, args.calls // rounds)
            samples["plain"] += timed_calls(via["bench-plain"], args.calls // rounds)
            samples["capture"] += timed_calls(via["bench-capture"], args.calls // rounds)
        p50 = {k: percentile(v, 0.5) * 1e3 for k, v in samples.items()}
        p99 = {k: percentile(v, 0.99) * 1e3 for k, v in samples.items()}
        print(f"latency, 1 thread, {args.calls} calls each (ms)        p50      p99")
        for key, label in (("direct", "container /invocations directly"), ("plain", "InvokeEndpoint, capture off"),
                           ("capture", "InvokeEndpoint, capture 100%")):
            print(f"  {label:<44} {p50[key]:7.3f}  {p99[key]:7.3f}")
        over_plain, over_capture = p50["plain"] - p50["direct"], p50["capture"] - p50["direct"]
        print(f"  overhead p50: capture off +{over_plain:.3f} ms "
              f"{goals.at_most('p50 overhead', over_plain, 1, ' ms')}, capture 100% +{over_capture:.3f} ms "
              f"{goals.at_most('p50 overhead with capture', over_capture, 2, ' ms')}")

        for threads in (1, args.threads):
            per_thread = max(50, args.calls // threads // 2)
            throughput(direct, threads, 50)
            rates = {"direct": [], "plain": [], "capture": []}
            for _ in range(3):   # interleaved, as above
                rates["direct"].append(throughput(direct, threads, per_thread))
                rates["plain"].append(throughput(via["bench-plain"], threads, per_thread))
                rates["capture"].append(throughput(via["bench-capture"], threads, per_thread))
            rate = {k: statistics.median(v) for k, v in rates.items()}
            ratio = rate["plain"] / rate["direct"]
            print(f"throughput, {threads} thread(s): direct {rate['direct']:.0f}/s, InvokeEndpoint {rate['plain']:.0f}/s "
                  f"-> {ratio:.2f}x {goals.at_least(f'throughput, {threads} thread(s)', ratio, 0.8)}; "
                  f"capture 100% {rate['capture']:.0f}/s -> {rate['capture'] / rate['direct']:.2f}x")

        with tempfile.TemporaryDirectory() as folder:
            import io
            import tarfile
            with tarfile.open(fileobj=io.BytesIO(model)) as tar:
                tar.extractall(folder, filter="data")
            time_container_start(image, folder)   # warm-up
            time_in_service(sagemaker)
            container = [time_container_start(image, folder) for _ in range(args.starts)]
            ours = [time_in_service(sagemaker) for _ in range(args.starts)]
            base, mine = statistics.median(container), statistics.median(ours)
            print(f"start: docker run + first healthy /ping {base:.2f} s, CreateEndpoint -> InService {mine:.2f} s "
                  f"-> {mine / base:.2f}x {goals.at_most('InService / docker run', mine / base, 1.3)}")

            import numpy as np
            rng = np.random.default_rng(0)
            half = args.rows // 2
            for part in range(2):
                rows = rng.normal(size=(half, 4))
                body = "".join(f"{a:.4f},{b:.4f},{c:.4f},{d:.4f}\n" for a, b, c, d in rows).encode()
                s3.put_object(Bucket=BUCKET, Key=f"rows/part-{part}.csv", Body=body)
            full = b"".join(s3.get_object(Bucket=BUCKET, Key=f"rows/part-{p}.csv")["Body"].read() for p in range(2))
            direct_seconds = statistics.median(transform_direct(image, folder, full) for _ in range(2))
            job_seconds = statistics.median(transform_job(sagemaker) for _ in range(2))
            print(f"transform, {args.rows} rows: direct (start + POST mini-batches) {args.rows / direct_seconds:,.0f} "
                  f"rows/s, transform job {args.rows / job_seconds:,.0f} rows/s -> "
                  f"{direct_seconds / job_seconds:.2f}x")
    finally:
        delete_all_endpoints(server.client("sagemaker"))
        server.discard()
    return goals.finish()


if __name__ == "__main__":
    sys.exit(main())
