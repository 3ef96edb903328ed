"""Shared pieces of the inference tests: the echo image (a bring-your-own serving container built on the
emulator's scikit-learn image), model tarballs, and deploying and waiting for endpoints."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

from emulator.testing.waiting import wait_for_status

ECHO_DIR = Path(__file__).parent / "images" / "echo"
ROLE = "arn:aws:iam::000000000000:role/SageMakerRole"
XGBOOST_IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1"


def echo_image() -> str:
    """`sagemaker-emulator-test/echo:<hash>`: the sklearn image plus tests/images/echo/serve (built once)."""
    import docker

    from emulator.runtime.images import ensure_image
    base = ensure_image("sklearn", None)
    script = (ECHO_DIR / "serve").read_bytes()
    tag = f"sagemaker-emulator-test/echo:{hashlib.sha256(script + base.encode()).hexdigest()[:12]}"
    client = docker.from_env()
    try:
        client.images.get(tag)
    except docker.errors.ImageNotFound:
        dockerfile = f"FROM {base}\nCOPY serve /usr/local/bin/serve\nRUN chmod +x /usr/local/bin/serve\n"
        context = io.BytesIO()
        with tarfile.open(fileobj=context, mode="w") as tar:
            for name, data in (("Dockerfile", dockerfile.encode()), ("serve", script)):
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o755
                tar.addfile(info, io.BytesIO(data))
        context.seek(0)
        client.images.build(fileobj=context, custom_context=True, tag=tag, rm=True, pull=False)
    finally:
        client.close()
    return tag


def tarball(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def xgboost_model(seed: int = 0) -> bytes:
    """model.tar.gz of a small binary:logistic booster over 4 features (as a built-in training job saves it)."""
    import numpy as np
    import xgboost as xgb
    rng = np.random.default_rng(seed)
    features = rng.normal(size=(200, 4))
    labels = (features[:, 0] + features[:, 1] > 0).astype(float)
    booster = xgb.train({"objective": "binary:logistic", "max_depth": 2}, xgb.DMatrix(features, label=labels), 10)
    raw = booster.save_raw("ubj")
    return tarball({"xgboost-model": bytes(raw)})


def wait_endpoint(sagemaker, name: str, timeout: float = 300, until=("InService", "Failed")) -> dict:
    return wait_for_status(lambda: sagemaker.describe_endpoint(EndpointName=name), "EndpointStatus",
                           timeout=timeout, statuses=until, interval=0.1)


def deploy(sagemaker, name: str, variants: list[dict], *, capture: dict | None = None, wait: bool = True,
           **config) -> dict:
    """A model per variant (`{"Name", "Image", "ModelDataUrl"?, "Environment"?, ...variant fields}`), a config
    and the endpoint; returns DescribeEndpoint once it serves (or fails)."""
    production = []
    for variant in variants:
        variant = dict(variant)
        model_name = f"{name}-{variant['VariantName']}".lower()[:63]
        container = {"Image": variant.pop("Image")}
        for key in ("ModelDataUrl", "Environment", "Mode"):
            if key in variant:
                container[key] = variant.pop(key)
        containers = variant.pop("Containers", None)
        model = {"Containers": containers} if containers else {"PrimaryContainer": container}
        if variant.pop("Direct", False):
            model["InferenceExecutionConfig"] = {"Mode": "Direct"}
        sagemaker.create_model(ModelName=model_name, ExecutionRoleArn=ROLE, **model)
        merged = {"ModelName": model_name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1, **variant}
        production.append({k: v for k, v in merged.items() if v is not None})
    extra = {"DataCaptureConfig": capture} if capture else {}
    sagemaker.create_endpoint_config(EndpointConfigName=f"{name}-config", ProductionVariants=production,
                                     **extra, **config)
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-config")
    return wait_endpoint(sagemaker, name) if wait else {}


def body_json(response) -> dict:
    return json.loads(response["Body"].read())


def delete_all_endpoints(sagemaker) -> None:
    """Delete every endpoint and wait until they are gone (their containers outlive a stopped emulator)."""
    names = [e["EndpointName"] for e in sagemaker.list_endpoints(MaxResults=100)["Endpoints"]]
    for name in names:
        try:
            sagemaker.delete_endpoint(EndpointName=name)
        except sagemaker.exceptions.ClientError:
            pass
    waiter = sagemaker.get_waiter("endpoint_deleted")
    for name in names:
        waiter.wait(EndpointName=name, WaiterConfig={"Delay": 0.5, "MaxAttempts": 240})
