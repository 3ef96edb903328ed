"""The SageMaker Python SDK (v2) pointed at a test emulator, the way a user sets it up: what
`sagemaker-emulator sdk-setup` and `eval "$(sagemaker-emulator env)"` do (emulator.sdk_setup), then a
`sagemaker.Session` with a default bucket. Everything changed goes through a pytest MonkeyPatch, so
it is undone when the fixture that made it ends."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from emulator.testing.emulator import Emulator

TELEMETRY_OFF = "SchemaVersion: '1.0'\nSageMaker:\n  PythonSDK:\n    Modules:\n      TelemetryOptOut: true\n"
# The SDK's JumpStart session as rebuilt for each emulator: (endpoint, region) -> sagemaker.Session.
_jumpstart_sessions: dict[tuple[str, str], object] = {}
# Shared profiles or tokens from the developer's machine must not leak into a test's requests.
FOREIGN_AWS_VARIABLES = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN")


def client_environment(patch: pytest.MonkeyPatch, emulator: Emulator, directory: Path) -> dict[str, str]:
    """Point every AWS client made from here on at `emulator`: its endpoint, test credentials, region
    and CA bundle (setup_environment); no profile or session token; empty config and credentials
    files; fresh boto3 defaults."""
    for name in FOREIGN_AWS_VARIABLES:
        patch.delenv(name, raising=False)
    for name in [n for n in os.environ if n.startswith("AWS_ENDPOINT_URL_")]:
        patch.delenv(name)  # a per-service endpoint would win over AWS_ENDPOINT_URL
    directory.mkdir(parents=True, exist_ok=True)
    for variable, filename in (("AWS_CONFIG_FILE", "aws-config"), ("AWS_SHARED_CREDENTIALS_FILE", "aws-credentials")):
        (directory / filename).write_text("")
        patch.setenv(variable, str(directory / filename))
    env = setup_environment(emulator, sdk_home(directory))
    for name, value in env.items():
        patch.setenv(name, value)
    if "boto3" in sys.modules:  # boto3.client() reuses a default session built under the old environment
        patch.setattr(sys.modules["boto3"], "DEFAULT_SESSION", None)
    return env


def sdk_home(directory: Path) -> Path:
    """Where client_environment(…, directory) wrote the SDK's STS override: HOME for SDK code in
    another process, sdk_setup.in_process(home) for SDK code in this one."""
    return directory / "home"


def setup_environment(emulator: Emulator, home: Path) -> dict[str, str]:
    """The variables `eval "$(sagemaker-emulator env)"` sets, after `sdk-setup` has written the SDK's
    STS override under `home` (sdk_setup.configure; HOME itself is left out), with the handle's own
    region. An emulator without the SDK's https listener (serve --sdk-https-port -1) gets the same
    without the override."""
    from emulator import sdk_setup

    if emulator.sdk_https_port is not None and emulator.sdk_https_port < 0:
        return emulator.env()
    env = {**sdk_setup.configure(emulator.endpoint_url, home), **emulator.env()}
    env.pop("HOME")
    return env


def sdk_environment(patch: pytest.MonkeyPatch, emulator: Emulator, directory: Path) -> dict[str, str]:
    """client_environment() plus what the SageMaker SDK reads: telemetry off, and the JumpStart
    session the SDK builds when `sagemaker.jumpstart` is first imported rebuilt under this
    environment (its helpers hold that object as a default argument, so it is updated in place)."""
    # Imported now, under the caller's environment, so that what it builds at import time is rebuilt
    # below and restored when the patch is undone (imported later, it would keep this environment).
    from sagemaker.jumpstart import constants

    env = client_environment(patch, emulator, directory)
    config = directory / "sagemaker-config.yaml"
    config.write_text(TELEMETRY_OFF)
    patch.setenv("SAGEMAKER_USER_CONFIG_OVERRIDE", str(config))
    patch.setenv("AWS_REQUEST_CHECKSUM_CALCULATION", os.environ.get("AWS_REQUEST_CHECKSUM_CALCULATION",
                                                                     "when_supported"))
    if constants.DEFAULT_JUMPSTART_SAGEMAKER_SESSION is not None:
        import boto3
        from sagemaker.jumpstart.accessors import JumpStartModelsAccessor
        from sagemaker.session import Session

        key = (emulator.endpoint_url, constants.JUMPSTART_DEFAULT_REGION_NAME)
        if key not in _jumpstart_sessions:  # building one takes most of a second: once per emulator
            _jumpstart_sessions[key] = Session(boto3.Session(region_name=constants.JUMPSTART_DEFAULT_REGION_NAME))
        for name, value in vars(_jumpstart_sessions[key]).items():
            patch.setattr(constants.DEFAULT_JUMPSTART_SAGEMAKER_SESSION, name, value, raising=False)
        for name in ("_cache", "_cache_kwargs", "_curr_region"):  # restored when the patch is undone
            patch.setattr(JumpStartModelsAccessor, name, getattr(JumpStartModelsAccessor, name))
        JumpStartModelsAccessor.reset_cache()  # it caches manifests read under the old session
    return env


def sdk_session(emulator: Emulator, bucket: str, *, pipeline: bool = False):
    """A `sagemaker.Session` (or a `PipelineSession`) on `emulator` with `bucket` as its default."""
    import boto3
    import sagemaker
    from sagemaker.workflow.pipeline_context import PipelineSession

    boto_session = boto3.Session(region_name=emulator.region, aws_access_key_id="test", aws_secret_access_key="test")
    kind = PipelineSession if pipeline else sagemaker.Session
    clients = {"sagemaker_client": boto_session.client("sagemaker", endpoint_url=emulator.endpoint_url)}
    if not pipeline:
        clients["sagemaker_runtime_client"] = boto_session.client("sagemaker-runtime",
                                                                  endpoint_url=emulator.endpoint_url)
    return kind(boto_session=boto_session, default_bucket=bucket, **clients)
