"""The /opt/ml contract as the first-party algorithms see it (container_contracts.md §1.2-1.3)."""

from __future__ import annotations

import json
import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ML_ROOT = Path(os.environ.get("SAGEMAKER_EMULATOR_ML_ROOT", "/opt/ml"))


def setup_logging() -> None:
    """AWS's algorithm log format: `[11/24/2020 18:54:29 INFO 140513285547840] message`."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        logging.Formatter("[%(asctime)s %(levelname)s %(thread)d] %(message)s", datefmt="%m/%d/%Y %H:%M:%S")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


@dataclass
class Channel:
    name: str
    path: Path
    content_type: str | None
    input_mode: str = "File"
    distribution: str = "FullyReplicated"


@dataclass
class TrainingEnv:
    root: Path = ML_ROOT
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    channels: dict[str, Channel] = field(default_factory=dict)
    current_host: str = "algo-1"
    hosts: list[str] = field(default_factory=lambda: ["algo-1"])

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def is_master(self) -> bool:
        return self.current_host == min(self.hosts)

    @classmethod
    def load(cls, root: Path = ML_ROOT) -> TrainingEnv:
        config = root / "input" / "config"
        hyperparameters = _read_json(config / "hyperparameters.json", {})
        data_config = _read_json(config / "inputdataconfig.json", {})
        resources = _read_json(config / "resourceconfig.json", {})
        channels = {
            name: Channel(
                name,
                root / "input" / "data" / name,
                spec.get("ContentType"),
                spec.get("TrainingInputMode", "File"),
                spec.get("S3DistributionType", "FullyReplicated"),
            )
            for name, spec in data_config.items()
        }
        return cls(
            root,
            hyperparameters,
            channels,
            resources.get("current_host", "algo-1"),
            resources.get("hosts", ["algo-1"]),
        )

    def write_failure(self, text: str) -> None:
        self.output_dir.mkdir(parents=True, exist_ok=True)
        (self.output_dir / "failure").write_text(text)


def _read_json(path: Path, default: Any) -> Any:
    if not path.exists():
        return default
    with open(path) as f:
        return json.load(f)
