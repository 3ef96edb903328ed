"""A SageMaker Python SDK (v2) session pointed at a test emulator, the way a user would set it up."""

from __future__ import annotations

import os
from pathlib import Path

import boto3

TELEMETRY_OFF = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"


def sdk_environment(monkeypatch, server, tmp_path: Path) -> None:
    config = tmp_path / "sagemaker-config.yaml"
    config.write_text(TELEMETRY_OFF)
    for key, value in server.client_env().items():
        if key.startswith("AWS_"):
            monkeypatch.setenv(key, value)
    monkeypatch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
    monkeypatch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", os.environ.get("AWS_REQUEST_CHECKSUM_CALCULATION",
                                                                           "when_supported"))


def sdk_session(server, bucket: str):
    import sagemaker
    boto_session = boto3.Session(region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
    return sagemaker.Session(boto_session=boto_session, default_bucket=bucket,
                             sagemaker_client=boto_session.client("sagemaker", endpoint_url=server.endpoint),
                             sagemaker_runtime_client=boto_session.client("sagemaker-runtime",
                                                                          endpoint_url=server.endpoint))
