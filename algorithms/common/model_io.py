"""The model artifact: /opt/ml/model/model_<host> (AWS's file name; AWS stores an MXNet/faiss object
there, we store an .npz of plain arrays plus JSON metadata, so loading needs no pickle)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from algorithms.common.errors import CustomerError


def model_file(model_dir: Path, host: str) -> Path:
    return model_dir / f"model_{host}"


def save(path: Path, algorithm: str, meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    header = json.dumps({"algorithm": algorithm, "format": 1, **meta})
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to a path
        np.savez(f, __meta__=np.array(header), **arrays)


def load(model_dir: Path) -> tuple[str, dict[str, Any], dict[str, np.ndarray]]:
    """The first model_* file of an extracted model.tar.gz: (algorithm, metadata, arrays)."""
    candidates = sorted(p for p in model_dir.glob("model_*") if p.is_file())
    if not candidates:
        raise CustomerError(f"No model artifact (model_algo-1) found in {model_dir}")
    try:
        with np.load(candidates[0], allow_pickle=False) as archive:
            meta = json.loads(str(archive["__meta__"]))
            arrays = {k: archive[k] for k in archive.files if k != "__meta__"}
    except (ValueError, OSError, KeyError) as exc:
        raise CustomerError(
            f"{candidates[0].name} is not a model artifact of this emulator's algorithms ({exc})"
        ) from exc
    return meta.pop("algorithm"), meta, arrays
