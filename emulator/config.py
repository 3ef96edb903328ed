"""Emulator settings: command-line flags override SAGEMAKER_EMULATOR_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SAGEMAKER_EMULATOR_{name}", default)


def default_data_dir() -> Path:
    return Path(_env("DATA_DIR", str(Path.home() / ".sagemaker-emulator")))


@dataclass
class Settings:
    host: str = field(default_factory=lambda: _env("HOST", "127.0.0.1"))
    port: int = field(default_factory=lambda: int(_env("PORT", "7070")))
    data_dir: Path = field(default_factory=default_data_dir)
    tls: bool = field(default_factory=lambda: _env("TLS", "0") in ("1", "true", "yes"))
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
    # Run jobs at all (tests of the pure API surface can switch the supervisor off).
    run_jobs: bool = field(default_factory=lambda: _env("RUN_JOBS", "1") in ("1", "true", "yes"))

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

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
