"""Fixtures: a real emulator server on a free loopback port (http and https)."""

from __future__ import annotations

import pytest

from tests.emulator_process import EmulatorProcess


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    proc = EmulatorProcess(data_dir=tmp_path_factory.mktemp("emulator-http") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def tls_server(tmp_path_factory):
    proc = EmulatorProcess(tls=True, data_dir=tmp_path_factory.mktemp("emulator-https") / "data").start()
    yield proc
    proc.stop()


@pytest.fixture
def sagemaker(server):
    return server.client("sagemaker")


@pytest.fixture
def logs(server):
    return server.client("logs")
