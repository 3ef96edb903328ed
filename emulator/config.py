"""Emulator settings: command-line flags override SAGEMAKER_EMULATOR_* environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env(name: str, default: str) -> str:
    return os.environ.get(f"SAGEMAKER_EMULATOR_{name}", default)


def default_data_dir() -> Path:
    return Path(_env("DATA_DIR", str(Path.home() / ".sagemaker-emulator")))


def _file_roots() -> list[Path]:
    from emulator.core.file_inputs import parse_roots
    return parse_roots(os.environ.get("SAGEMAKER_EMULATOR_FILE_ROOTS"))


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
    tls: bool = field(default_factory=lambda: _env("TLS", "0") in ("1", "true", "yes"))
    account_id: str = field(default_factory=lambda: _env("ACCOUNT_ID", "000000000000"))
    region: str = field(default_factory=lambda: _env("REGION", os.environ.get("AWS_DEFAULT_REGION", "us-east-1")))
    # Address that job containers use to reach this emulator (AWS_ENDPOINT_URL inside jobs).
    # Empty means "work it out from the Docker bridge gateway".
    container_endpoint: str = field(default_factory=lambda: _env("CONTAINER_ENDPOINT", ""))
    # Run jobs at all (tests of the pure API surface can switch the supervisor off).
    run_jobs: bool = field(default_factory=lambda: _env("RUN_JOBS", "1") in ("1", "true", "yes"))
    # Host folders file:// job inputs may mount (read-only); see docs/security.md.
    file_roots: list[Path] = field(default_factory=_file_roots)
    # Access keys and their secrets; empty: any well-formed signature is accepted (docs/security.md).
    credentials: dict[str, str] = field(default_factory=_credentials)
    # Host names (besides loopback names, *.localhost and IP literals) the server answers to.
    allowed_hosts: list[str] = field(default_factory=lambda: _names(_env("ALLOWED_HOSTS", "")))
    # Instances (containers) that the running jobs may hold in total.
    max_instances: int = field(default_factory=lambda: int(_env("MAX_INSTANCES", "32")))
    # Seconds a client may take to send a request's headers, or stay silent while sending a body.
    client_timeout: float = field(default_factory=lambda: float(_env("CLIENT_TIMEOUT", "60")))

    def __post_init__(self) -> None:
        self.data_dir = Path(self.data_dir).expanduser().resolve()

    @property
    def job_credentials(self) -> tuple[str, str]:
        """The access key job containers sign with: SAGEMAKER_EMULATOR_JOB_ACCESS_KEY_ID/_SECRET_ACCESS_KEY,
        else (when signatures are verified) the first configured credential, else test/test."""
        key = _env("JOB_ACCESS_KEY_ID", "")
        if key:
            return key, _env("JOB_SECRET_ACCESS_KEY", "test")
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
    def db_path(self) -> Path:
        return self.data_dir / "state.sqlite3"

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "s3"

    @property
    def jobs_dir(self) -> Path:
        return self.data_dir / "jobs"
