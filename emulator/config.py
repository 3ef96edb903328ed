"""Emulator settings: command-line flags override SAGEMAKER_EMULATOR_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SAGEMAKER_EMULATOR_{name}", default)


def _flag(name: str, default: str) -> bool:
    return _env(name, default).lower() in ("1", "true", "yes")


def _positive(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise ValueError(f"expected a positive number, got {text}")
    return value


def _sources_dir() -> Path:
    """The folder holding containers/ and algorithms/ (image build contexts, algorithm code): the
    checkout this runs from, or the copy an installed package carries (setup.py bundles them as
    emulator/bundled/)."""
    package = Path(__file__).resolve().parent
    checkout = package.parent
    return checkout if (checkout / "containers" / "base").is_dir() else package / "bundled"


SOURCES_DIR = _sources_dir()


def default_data_dir() -> Path:
    return Path(_env("DATA_DIR", str(Path.home() / ".sagemaker-emulator")))


def parse_roots(text: str, cwd: Path | None = None) -> list[Path]:
    """SAGEMAKER_EMULATOR_FILE_ROOTS: `:`-separated folders, resolved; unset, the directory the server
    was started from. `/` is never a root (it holds the Docker socket)."""
    entries = [e for e in (text.split(os.pathsep) if text else [str(cwd or Path.cwd())]) if e.strip()]
    roots = []
    for entry in entries:
        root = Path(entry).expanduser().resolve()
        if root != Path("/") and root not in roots:
            roots.append(root)
    return roots


def _engine_sockets() -> list[str]:
    """Container engine sockets named by the environment (DOCKER_HOST, the rootless engine's)."""
    found = []
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        found.append(host[len("unix://"):])
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR")
    if runtime_dir:
        found.append(os.path.join(runtime_dir, "docker.sock"))
    found.append(os.path.expanduser("~/.docker/run/docker.sock"))
    return found


def _credentials() -> dict[str, str]:
    """`AKID:SECRET[,AKID:SECRET...]`: when set, request signatures are verified against these."""
    pairs = {}
    for entry in _env("CREDENTIALS", "").split(","):
        key, sep, secret = entry.strip().partition(":")
        if sep and key and secret:
            pairs[key] = secret
    return pairs


def _names(text: str) -> list[str]:
    return [n.strip().lower() for n in text.split(",") if n.strip()]


@dataclass
class Settings:
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "7070")))
    data_dir: Path = field(default_factory=default_data_dir)
    tls: bool = field(default_factory=lambda: _flag("TLS", "0"))
    account_id: str = field(default_factory=lambda: _env("ACCOUNT_ID", "000000000000"))
    # The role GetCallerIdentity says the caller assumed (what sagemaker.get_execution_role() returns).
    role_name: str = field(default_factory=lambda: _env("ROLE_NAME", "SageMakerRole"))
    # Port of the https listener the SageMaker SDK's hard-wired STS endpoint is pointed at
    # (`sagemaker-emulator sdk-setup`); 0 = any free port, -1 = none. Taken: any free port instead.
    sdk_https_port: int = field(default_factory=lambda: int(_env("SDK_HTTPS_PORT", "7443")))
    region: str = field(default_factory=lambda: _env("REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")))
    # Address that job containers use to reach this emulator (AWS_ENDPOINT_URL inside jobs).
    # Empty means "a forwarder on the gateway of the emulator's jobs network" (runtime/endpoint_proxy.py).
    container_endpoint: str = field(default_factory=lambda: _env("CONTAINER_ENDPOINT", ""))
    # Run jobs at all (tests of the pure API surface can switch the job controller off).
    run_jobs: bool = field(default_factory=lambda: _flag("RUN_JOBS", "1"))
    max_concurrent_jobs: int = field(default_factory=lambda: int(_env("MAX_CONCURRENT_JOBS", "32")))
    keep_job_dirs: bool = field(default_factory=lambda: _flag("KEEP_JOB_DIRS", "0"))
    # The credentials job containers sign with; empty: see job_credentials.
    job_access_key_id: str = field(default_factory=lambda: _env("JOB_ACCESS_KEY_ID", ""))
    job_secret_access_key: str = field(default_factory=lambda: _env("JOB_SECRET_ACCESS_KEY", "test"))
    # Base image of the framework images; empty: python:3.11-slim when pullable, else a Debian bootstrap.
    base_image: str = field(default_factory=lambda: _env("BASE_IMAGE", ""))
    s3_fsync: bool = field(default_factory=lambda: _flag("S3_FSYNC", "0"))
    s3_min_part_size: int = field(default_factory=lambda: int(_env("S3_MIN_PART_SIZE", str(5 * 1024 * 1024))))
    # How often every controller looks at all its unfinished resources again (besides at start-up).
    resync_seconds: float = field(default_factory=lambda: float(_env("RESYNC_SECONDS", "30")))
    # A short tag in the names of job containers and networks, so that several emulators on one
    # Docker engine are told apart at a glance (the pytest plugin sets the xdist worker id).
    name_tag: str = field(default_factory=lambda: _env("NAME_TAG", ""))
    # Where clients find a running emulator (`sagemaker-emulator wait`, the pytest plugin's external
    # mode); empty means the host and port above.
    external_url: str = field(default_factory=lambda: _env("URL", ""))
    # Host folders file:// job inputs may mount (read-only); see docs/security.md.
    file_roots: list[Path] = field(default_factory=lambda: parse_roots(_env("FILE_ROOTS", "")))
    # Where a container engine's socket may be besides the usual places (file:// inputs must not hold one).
    engine_sockets: list[str] = field(default_factory=_engine_sockets)
    # Access keys and their secrets; empty: any well-formed signature is accepted (docs/security.md).
    credentials: dict[str, str] = field(default_factory=_credentials)
    # Host names (besides loopback names, *.localhost and IP literals) the server answers to.
    allowed_hosts: list[str] = field(default_factory=lambda: _names(_env("ALLOWED_HOSTS", "")))
    # Instances (containers) that the running jobs may hold in total.
    max_instances: int = field(default_factory=lambda: int(_env("MAX_INSTANCES", "32")))
    # Seconds a client may take to send a request's headers, or stay silent while sending a body.
    client_timeout: float = field(default_factory=lambda: float(_env("CLIENT_TIMEOUT", "60")))
    # How long InvokeEndpoint waits for a container's answer (AWS: 60 s, then a ModelError).
    invocation_timeout_seconds: float = field(default_factory=lambda: float(_env("INVOCATION_TIMEOUT", "60")))
    # Captured endpoint data is written to S3 at least this often (and on delete and shutdown).
    capture_flush_seconds: float = field(default_factory=lambda: float(_env("CAPTURE_FLUSH_SECONDS", "2")))
    # A serverless variant's container stops after this long without an invocation.
    serverless_idle_seconds: float = field(default_factory=lambda: float(_env("SERVERLESS_IDLE_SECONDS", "300")))
    # How long an invocation of a cold serverless variant waits before ModelNotReadyException.
    serverless_wait_seconds: float = field(default_factory=lambda: float(_env("SERVERLESS_WAIT_SECONDS", "30")))
    # Monitoring schedules' clock runs this many times faster than wall time (tests: 3600 makes an hourly
    # schedule run every second); reports and ScheduledTime follow the schedule's clock.
    schedule_clock_scale: float = field(default_factory=lambda: _positive(_env("SCHEDULE_CLOCK_SCALE", "1")))

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()

    @property
    def job_credentials(self) -> tuple[str, str]:
        """The access key job containers sign with: SAGEMAKER_EMULATOR_JOB_ACCESS_KEY_ID/_SECRET_ACCESS_KEY,
        else (when signatures are verified) the first configured credential, else test/test."""
        if self.job_access_key_id:
            return self.job_access_key_id, self.job_secret_access_key
        if self.credentials:
            return next(iter(self.credentials.items()))
        return "test", "test"

    @property
    def accepted_credentials(self) -> dict[str, str]:
        """Keys whose signatures are verified; empty: any well-formed signature is accepted."""
        if not self.credentials:
            return {}
        key, secret = self.job_credentials
        return {key: secret, **self.credentials}

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host}:{self.port}"

    @property
    def client_url(self) -> str:
        """The URL a client on this machine uses: SAGEMAKER_EMULATOR_URL, else the serve address."""
        if self.external_url:
            return self.external_url
        host = {"0.0.0.0": "127.0.0.1", "::": "[::1]"}.get(self.host, self.host)
        return f"{self.scheme}://{host}:{self.port}"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    @property
    def db_path(self) -> Path:
        return self.data_dir / "state.sqlite3"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "s3"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"
