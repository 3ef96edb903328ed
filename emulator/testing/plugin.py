"""pytest plugin `sagemaker_emulator` (entry point `pytest11`): a real SageMaker Emulator for a test
session, in the manner of moto's ThreadedMotoServer and LocalStack's fixtures.

Fixtures:
  sagemaker_emulator          session: the handle (.endpoint_url, .data_dir, .reset(), .client(), .env())
  sagemaker_emulator_env      function: what `sagemaker-emulator sdk-setup` and `eval "$(sagemaker-emulator env)"`
                              do, for this process: AWS_ENDPOINT_URL, test credentials, region and CA
                              bundle in os.environ, and the SageMaker SDK's STS endpoint on the emulator
                              (so sagemaker.get_execution_role() and Session().default_bucket() work)
  sagemaker_client, s3_client function: boto3 clients on the emulator
  sagemaker_session           function: a SageMaker SDK Session with a fresh default bucket, under the same set-up
  sagemaker_emulator_factory  session: start(...) more emulators (TLS, own data dir), stopped at the end

Modes (--sagemaker-emulator-mode or ini sagemaker_emulator_mode): `subprocess` (default), `thread`
(uvicorn inside the test process), `external` (--sagemaker-emulator-url or SAGEMAKER_EMULATOR_URL,
e.g. a compose or CI service; implied by giving a URL). Under pytest-xdist every worker starts its
own emulator with its own data dir, and its job containers carry the worker id in their names.

Reset (ini sagemaker_emulator_reset): `test` (default: every test using the emulator starts from an
empty one), `session` (once, before the first test), `never`. The header of the run says which.

Nothing heavier than the standard library is imported until a fixture is used: pytest loads every
installed plugin. Opt out with `-p no:sagemaker_emulator`.
"""

from __future__ import annotations

import os
import uuid

import pytest

MODES = ("subprocess", "thread", "external")
RESET_POLICIES = ("test", "session", "never")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sagemaker-emulator", "SageMaker Emulator")
    group.addoption("--sagemaker-emulator-mode", choices=MODES, default=None,
                    help="how the sagemaker_emulator fixture gets its emulator (default: subprocess)")
    group.addoption("--sagemaker-emulator-url", default=None,
                    help="use the emulator running at this URL (external mode); also SAGEMAKER_EMULATOR_URL")
    parser.addini("sagemaker_emulator_mode", "subprocess | thread | external", default="subprocess")
    parser.addini("sagemaker_emulator_reset", "when to reset the session emulator: test | session | never",
                  default="test")
    parser.addini("sagemaker_emulator_start_timeout", "seconds an emulator may take to answer", default="60")


class Options:
    def __init__(self, config: pytest.Config) -> None:
        from emulator.config import Settings

        self.url = config.getoption("--sagemaker-emulator-url") or Settings().external_url or None
        self.mode = config.getoption("--sagemaker-emulator-mode") or ("external" if self.url else
                                                                      config.getini("sagemaker_emulator_mode"))
        self.reset = config.getini("sagemaker_emulator_reset")
        self.start_timeout = float(config.getini("sagemaker_emulator_start_timeout"))
        if self.mode not in MODES:
            raise pytest.UsageError(f"sagemaker_emulator_mode must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.reset not in RESET_POLICIES:
            raise pytest.UsageError(
                f"sagemaker_emulator_reset must be one of {', '.join(RESET_POLICIES)}, not {self.reset!r}")
        if self.mode == "external" and not self.url:
            raise pytest.UsageError("external mode needs --sagemaker-emulator-url or SAGEMAKER_EMULATOR_URL")


def _options(config: pytest.Config) -> Options:
    if not hasattr(config, "_sagemaker_emulator_options"):
        config._sagemaker_emulator_options = Options(config)
    return config._sagemaker_emulator_options


def pytest_report_header(config: pytest.Config) -> str:
    options = _options(config)
    where = f"external at {options.url}" if options.mode == "external" else f"{options.mode} mode"
    return f"sagemaker-emulator: {where}, reset: {options.reset}"


def worker_id() -> str:
    """pytest-xdist's worker id (gw0, gw1, ...), or "" outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER", "")


class EmulatorFactory:
    """Starts emulators with their own data dirs under the session's (per-worker) temp dir."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory, options: Options) -> None:
        self.tmp_path_factory = tmp_path_factory
        self.options = options
        self.started: list = []

    def __call__(self, *, tls: bool = False, env: dict[str, str] | None = None, name: str = "emulator",
                 mode: str | None = None):
        from emulator.testing.emulator import SubprocessEmulator, ThreadEmulator

        data_dir = self.tmp_path_factory.mktemp(name) / "data"
        mode = mode or ("thread" if self.options.mode == "thread" else "subprocess")
        if mode == "thread":
            emulator = ThreadEmulator(data_dir, tls=tls, name_tag=worker_id(),
                                      start_timeout=self.options.start_timeout)
        else:
            env = {"SAGEMAKER_EMULATOR_NAME_TAG": worker_id(), **(env or {})}
            emulator = SubprocessEmulator(data_dir, tls=tls, env=env, start_timeout=self.options.start_timeout)
        self.started.append(emulator)
        return emulator.start()

    def stop_all(self) -> None:
        """Stop every emulator started here and remove the job containers they left running."""
        for emulator in reversed(self.started):
            emulator.discard()


@pytest.fixture(scope="session")
def sagemaker_emulator_factory(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory):
    """Start more emulators: `sagemaker_emulator_factory(tls=True)`, `(env={...})`, `(name="mine")`.
    Each has its own data dir; all are stopped when the session ends (or earlier with .stop())."""
    factory = EmulatorFactory(tmp_path_factory, _options(request.config))
    yield factory
    factory.stop_all()


@pytest.fixture(scope="session")
def sagemaker_emulator(request: pytest.FixtureRequest, sagemaker_emulator_factory: EmulatorFactory):
    """The session's emulator (one per xdist worker)."""
    options = _options(request.config)
    if options.mode == "external":
        from emulator.testing.emulator import ExternalEmulator

        emulator = ExternalEmulator(options.url, timeout=options.start_timeout)
        if options.reset == "session":
            emulator.reset()
        yield emulator
        return
    yield sagemaker_emulator_factory(name="sagemaker-emulator")  # a fresh data dir: nothing to reset


@pytest.fixture(autouse=True)
def _sagemaker_emulator_reset_per_test(request: pytest.FixtureRequest) -> None:
    """With reset policy `test`, a test that uses the session emulator starts from an empty one."""
    if "sagemaker_emulator" in request.fixturenames and _options(request.config).reset == "test":
        request.getfixturevalue("sagemaker_emulator").reset()


@pytest.fixture
def sagemaker_emulator_env(sagemaker_emulator, monkeypatch: pytest.MonkeyPatch, tmp_path):
    """Points boto3 (and anything reading the standard AWS variables) at the emulator for one test:
    AWS_ENDPOINT_URL, test credentials, region and AWS_CA_BUNDLE; AWS_PROFILE and AWS_SESSION_TOKEN
    removed; AWS_CONFIG_FILE and AWS_SHARED_CREDENTIALS_FILE pointed at empty files; the SageMaker
    SDK's STS endpoint resolved to the emulator in this process (emulator.sdk_setup.in_process).
    Returns the variables set."""
    from emulator import sdk_setup
    from emulator.testing.sdk import client_environment, sdk_home

    env = client_environment(monkeypatch, sagemaker_emulator, tmp_path / "aws")
    with sdk_setup.in_process(sdk_home(tmp_path / "aws")):
        yield env


@pytest.fixture
def sagemaker_client(sagemaker_emulator):
    return sagemaker_emulator.client("sagemaker")


@pytest.fixture
def s3_client(sagemaker_emulator):
    return sagemaker_emulator.client("s3")


@pytest.fixture
def sagemaker_session(sagemaker_emulator, monkeypatch: pytest.MonkeyPatch, tmp_path):
    """A SageMaker Python SDK `Session` on the emulator, its default bucket created empty."""
    try:
        import sagemaker  # noqa: F401
    except ImportError:
        pytest.fail("the sagemaker_session fixture needs the SageMaker Python SDK: pip install sagemaker",
                    pytrace=False)
    from emulator import sdk_setup
    from emulator.testing.sdk import sdk_environment, sdk_home, sdk_session

    sdk_environment(monkeypatch, sagemaker_emulator, tmp_path / "aws")
    bucket = f"sagemaker-emulator-{uuid.uuid4().hex[:12]}"
    sagemaker_emulator.client("s3").create_bucket(Bucket=bucket)
    with sdk_setup.in_process(sdk_home(tmp_path / "aws")):  # sagemaker.get_execution_role() works
        yield sdk_session(sagemaker_emulator, bucket)
