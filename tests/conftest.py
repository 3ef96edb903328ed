"""Fixtures the whole suite shares. The emulators come from the package's own pytest plugin
(emulator.testing.plugin): `server` is its session emulator, one per xdist worker, never reset under
the tests (pyproject sets sagemaker_emulator_reset = never), so tests name what they create
uniquely. A module marked `own_emulator` gets an emulator of its own instead: it may reset it and
list everything in it. Polling: emulator.testing.waiting.wait_until, and nothing else."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="module")
def server(request: pytest.FixtureRequest, sagemaker_emulator_factory):
    if request.node.get_closest_marker("own_emulator") is None:
        yield request.getfixturevalue("sagemaker_emulator")
        return
    emulator = sagemaker_emulator_factory(name=request.module.__name__.rsplit(".", 1)[-1])
    yield emulator
    emulator.stop()


@pytest.fixture
def own_server(request: pytest.FixtureRequest, sagemaker_emulator_factory, tmp_path):
    """An emulator for this test alone: one it may restart, kill, reset or fill as it likes. The test's
    `own_server` marker gives the factory's keywords, e.g. `@pytest.mark.own_server(env={...}, tls=True)`;
    `{tmp_path}` in an env value is the test's tmp_path. An emulator given settings (env) is a subprocess,
    since settings reach it through its environment."""
    marker = request.node.get_closest_marker("own_server")
    options = dict(marker.kwargs) if marker else {}
    if options.get("env"):
        options["env"] = {k: v.format(tmp_path=tmp_path) for k, v in options["env"].items()}
        options.setdefault("mode", "subprocess")
    emulator = sagemaker_emulator_factory(name="own", **options)
    yield emulator
    emulator.discard()


@pytest.fixture(scope="session")
def tls_server(sagemaker_emulator_factory):
    return sagemaker_emulator_factory(tls=True, name="emulator-https")


@pytest.fixture
def sagemaker(server):
    return server.client("sagemaker")


@pytest.fixture
def logs(server):
    return server.client("logs")


@pytest.fixture
def services(tmp_path):
    """The emulator's domain services in this process with its controllers, job runtime off: for tests
    of core logic that write records directly or play the part of the containers."""
    from emulator.config import Settings
    from emulator.core.services import Services
    from emulator.server import start_runtime

    svc = Services(Settings(data_dir=tmp_path / "data", run_jobs=False))
    start_runtime(svc)
    yield svc
    svc.shutdown()


@pytest.fixture(scope="session")
def byo_image() -> str:
    """A user's own image (the emulator's base image under a name no SageMaker URI maps to)."""
    from tests.jobhelpers import ensure_byo_image

    return ensure_byo_image()


@pytest.fixture
def pipeline_session(server, monkeypatch, tmp_path):
    """A SageMaker SDK v2 PipelineSession on `server`, with a fresh default bucket."""
    from emulator.testing.sdk import sdk_environment, sdk_session
    from tests.jobhelpers import unique

    sdk_environment(monkeypatch, server, tmp_path)
    bucket = unique("sdkpipe")
    server.client("s3").create_bucket(Bucket=bucket)
    return sdk_session(server, bucket, pipeline=True)


# Some tests pick their emulator at run time (getfixturevalue), so their fixture names count too.
EMULATOR_FIXTURES = {"sagemaker_emulator", "sagemaker_emulator_factory", "server", "tls_server", "any_server",
                     "pytester"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `emulator` every test that starts or uses an emulator (or an inner pytest run that does):
    `-m "not docker and not emulator"` is the unit subset, in seconds."""
    for item in items:
        if EMULATOR_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.emulator)
