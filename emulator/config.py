"""Emulator settings: command-line flags override SAGEMAKER_EMULATOR_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SAGEMAKER_EMULATOR_{name}", default)


def _flag(name: str, default: str) -> bool:
    return _env(name, default).lower() in ("1", "true", "yes")


def default_data_dir() -> Path:
    return Path(_env("DATA_DIR", str(Path.home() / ".sagemaker-emulator")))


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
    # Empty means "work it out from the Docker bridge gateway".
    container_endpoint: str = field(default_factory=lambda: _env("CONTAINER_ENDPOINT", ""))
    # Run jobs at all (tests of the pure API surface can switch the job controller off).
    run_jobs: bool = field(default_factory=lambda: _flag("RUN_JOBS", "1"))
    max_concurrent_jobs: int = field(default_factory=lambda: int(_env("MAX_CONCURRENT_JOBS", "32")))
    keep_job_dirs: bool = field(default_factory=lambda: _flag("KEEP_JOB_DIRS", "0"))
    # The credentials job containers get (the emulator accepts any).
    job_access_key_id: str = field(default_factory=lambda: _env("JOB_ACCESS_KEY_ID", "test"))
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

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()

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
