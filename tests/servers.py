"""A fixture for tests that need emulators of their own (particular settings, or a server they may
kill): `start_server(**env)` starts one per call, all stopped after the test."""

from __future__ import annotations

import pytest

from tests.emulator_process import EmulatorProcess


@pytest.fixture
def start_server(tmp_path):
    started: list[EmulatorProcess] = []

    def start(**env: str) -> EmulatorProcess:
        proc = EmulatorProcess(data_dir=tmp_path / f"data{len(started)}", env=env).start()
        started.append(proc)
        return proc
    yield start
    for proc in started:
        proc.stop()
