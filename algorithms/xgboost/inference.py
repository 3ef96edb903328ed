"""Inference for the built-in XGBoost algorithm: load the model, decode a request, predict, encode.

Behaviour of AWS's algorithm-mode server (algorithm_mode/serve.py, serve_utils.py;
container_contracts.md §5.5):
- every non-hidden file in /opt/ml/model is a model (pickled Booster first, then XGBoost's own
  format); several are an ensemble, averaged (majority vote for multi:softmax and binary:hinge);
- request Content-Type text/csv (features only, no header), text/libsvm | text/x-libsvm (label
  optional), application/x-recordio-protobuf, and, as the emulator's addition, application/json
  (`{"instances": [[...], ...]}` or a list of rows);
- Accept (default SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT, else text/csv): text/csv -> one prediction per
  line (a row of class probabilities for multi:softprob); application/json ->
  `{"predictions": [{"score": 0.43}, ...]}`; application/jsonlines; application/x-recordio-protobuf
  (`score` in each record's label). SAGEMAKER_BATCH=true: one line per prediction whatever Accept.
- SAGEMAKER_INFERENCE_OUTPUT="predicted_label,probabilities,..." selects the content per record.
"""

from __future__ import annotations

import json
import logging
import os
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from algorithms.xgboost import data
from algorithms.xgboost.channels import split_content_type

log = logging.getLogger(__name__)

CSV, JSON, JSONLINES, RECORDIO = "text/csv", "application/json", "application/jsonlines", "application/x-recordio-protobuf"
ACCEPTS = (JSON, JSONLINES, RECORDIO, CSV)
LIBSVM_TYPES = ("text/libsvm", "text/x-libsvm", "libsvm")


class UnsupportedContent(ValueError):
    """The request body or its Content-Type cannot be read (HTTP 415)."""


class NotAcceptable(ValueError):
    """The Accept type is not one the server writes (HTTP 406)."""


@dataclass
class Model:
    boosters: list[xgb.Booster]
    objective: str
    num_class: int

    @classmethod
    def load(cls, model_dir: Path) -> Model:
        files = sorted(p for p in model_dir.iterdir() if p.is_file() and not p.name.startswith("."))
        if not files:
            raise RuntimeError(f"no model file in {model_dir}")
        boosters = [_load_booster(p) for p in files]
        config = json.loads(boosters[0].save_config())["learner"]
        return cls(boosters, config["objective"]["name"],
                   int(config["learner_model_param"].get("num_class", "0") or 0))

    @property
    def num_features(self) -> int:
        return self.boosters[0].num_features()

    def predict(self, matrix: xgb.DMatrix) -> np.ndarray:
        outputs = [_predict(b, matrix) for b in self.boosters]
        if len(outputs) == 1:
            return outputs[0]
        if self.objective in ("multi:softmax", "binary:hinge"):
            stacked = np.stack(outputs).astype(np.int64)
            return np.array([np.bincount(column).argmax() for column in stacked.T], dtype=np.float32)
        return np.mean(outputs, axis=0)


def _load_booster(path: Path) -> xgb.Booster:
    try:
        with open(path, "rb") as f:
            booster = pickle.load(f)  # models of AWS's images up to 1.2-2 are pickled Boosters
        if isinstance(booster, xgb.Booster):
            return booster
    except Exception as exc:  # noqa: BLE001 - not a pickle: XGBoost's own format
        log.debug("%s is not a pickled Booster (%s)", path, exc)
    booster = xgb.Booster()
    booster.load_model(str(path))
    return booster


def _predict(booster: xgb.Booster, matrix: xgb.DMatrix) -> np.ndarray:
    best = booster.attr("best_iteration")
    rounds = (0, int(best) + 1) if best is not None else (0, 0)
    return booster.predict(matrix, iteration_range=rounds, validate_features=False)


# --- requests ------------------------------------------------------------------------------------

def decode(body: bytes, content_type: str | None, num_features: int) -> xgb.DMatrix:
    media_type, _ = split_content_type(content_type or CSV)
    try:
        if media_type in (CSV, "csv"):
            return xgb.DMatrix(data.parse_csv_payload(body.decode("utf-8")))
        if media_type in LIBSVM_TYPES:
            return xgb.DMatrix(_libsvm_features(body.decode("utf-8"), num_features))
        if media_type == RECORDIO:
            from algorithms.common.recordio import read_matrix
            return xgb.DMatrix(read_matrix(body).features)
        if media_type == JSON:
            return xgb.DMatrix(np.asarray(_json_rows(json.loads(body)), dtype=np.float32))
    except Exception as exc:
        raise UnsupportedContent(f"Loading {media_type} data failed with Exception, please ensure data is in "
                                 f"{media_type} format: {type(exc)} {exc}") from exc
    raise UnsupportedContent(f"Content-type {content_type} is not supported.")


def _libsvm_features(text: str, num_features: int):
    """Rows of `index:value` tokens; like AWS's server, a token without `:` (the label) is ignored."""
    from scipy import sparse
    rows = [[token for token in line.split() if ":" in token] for line in text.splitlines() if line.strip()]
    indptr = np.concatenate([[0], np.cumsum([len(r) for r in rows])]).astype(np.int64)
    flat = np.array(" ".join(" ".join(r) for r in rows).replace(":", " ").split(), dtype=np.float64)
    indices, values = flat[0::2].astype(np.int64), flat[1::2].astype(np.float32)
    width = int(indices.max()) + 1 if indices.size else 0
    if width > num_features:
        raise ValueError(f"Feature size of libsvm inference data {width} is larger than feature size "
                         f"of trained model {num_features}.")
    return sparse.csr_matrix((values, indices, indptr), shape=(len(rows), num_features))


def _json_rows(payload: Any) -> list:
    if isinstance(payload, dict):
        payload = payload.get("instances", payload.get("features"))
    if payload and all(isinstance(v, (int, float)) for v in payload):
        return [payload]  # a single row
    rows = []
    for row in payload or []:
        if isinstance(row, dict):
            row = row.get("features", row.get("data", {}).get("features", {}).get("values"))
        rows.append(row)
    return rows


# --- responses -----------------------------------------------------------------------------------

def parse_accept(accept: str | None) -> str:
    media_type = split_content_type(accept)[0] if accept else ""
    if not media_type or media_type == "*/*":
        return os.environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", CSV)
    if media_type not in ACCEPTS:
        raise NotAcceptable(f"Accept type {accept} is not supported. Please use supported accept types: "
                            f"{list(ACCEPTS)}.")
    return media_type


def encode(predictions: np.ndarray, accept: str, model: Model) -> tuple[bytes, str]:
    """(body, Content-Type) of the response."""
    selected = os.environ.get("SAGEMAKER_INFERENCE_OUTPUT")
    if selected:
        keys = [k.strip().lower() for k in selected.split(",") if k.strip()]
        return _encode_rows(select(predictions, keys, model), accept, keys)
    if accept == CSV or _batch():
        return _csv_lines(predictions), f"{CSV}; charset=utf-8"
    rows = [{"score": _plain(p)} for p in predictions]
    return _encode_rows(rows, accept, ["score"])


def _batch() -> bool:
    return os.environ.get("SAGEMAKER_BATCH", "").lower() == "true"


def _csv_lines(predictions: np.ndarray) -> bytes:
    lines = (",".join(str(v) for v in np.atleast_1d(p).tolist()) for p in predictions)
    return ("\n".join(lines) + "\n").encode()


def _encode_rows(rows: list[dict[str, Any]], accept: str, keys: list[str]) -> tuple[bytes, str]:
    if accept == JSON:
        return json.dumps({"predictions": rows}).encode(), JSON
    if accept == JSONLINES:
        return "".join(json.dumps(row) + "\n" for row in rows).encode(), JSONLINES
    if accept == RECORDIO:
        from algorithms.common.recordio import write_label_records
        return write_label_records([{k: v for k, v in row.items() if _numeric(v)} for row in rows]), RECORDIO
    lines = "\n".join(",".join(f'"{row[k]}"' if isinstance(row[k], list) else str(row[k]) for k in keys)
                      for row in rows)
    return (lines + ("\n" if _batch() else "")).encode(), f"{CSV}; charset=utf-8"


def _plain(value: Any) -> Any:
    return value.tolist() if isinstance(value, np.ndarray) else float(value)


def _numeric(value: Any) -> bool:
    return not (isinstance(value, float) and np.isnan(value))


# --- SAGEMAKER_INFERENCE_OUTPUT ----------------------------------------------------------------------

_VALID_KEYS = {
    "reg:squarederror": ("predicted_score",), "reg:logistic": ("predicted_score",),
    "reg:gamma": ("predicted_score",), "reg:tweedie": ("predicted_score",),
    "binary:logistic": ("predicted_label", "labels", "probability", "probabilities", "raw_score", "raw_scores"),
    "binary:logitraw": ("predicted_label", "labels", "raw_score", "raw_scores"),
    "binary:hinge": ("predicted_label", "labels", "raw_score", "raw_scores"),
    "multi:softmax": ("predicted_label", "labels", "raw_score", "raw_scores"),
    "multi:softprob": ("predicted_label", "labels", "probability", "probabilities", "raw_score", "raw_scores"),
}


def select(predictions: np.ndarray, keys: list[str], model: Model) -> list[dict[str, Any]]:
    """Each prediction as the selected keys; keys the objective cannot give are NaN (AWS's rule)."""
    objective = model.objective
    if objective not in _VALID_KEYS:
        raise ValueError(f"Objective `{objective}` unsupported for selectable inference predictions.")
    valid = _VALID_KEYS[objective]
    labels = [0, 1] if objective.startswith("binary:") else list(range(model.num_class)) or float("nan")
    rows = []
    for p in predictions:
        value = np.asarray(p, dtype=float)
        row: dict[str, Any] = {}
        for key in keys:
            row[key] = _selected(key, value, objective, labels) if key in valid else float("nan")
        rows.append(row)
    return rows


def _selected(key: str, p: np.ndarray, objective: str, labels: Any) -> Any:
    if key == "labels":
        return labels
    if key == "predicted_score":
        return float(p)
    if key == "predicted_label":
        if objective == "multi:softprob":
            return int(np.argmax(p))
        if objective == "binary:logistic":
            return int(p > 0.5)
        if objective == "binary:logitraw":
            return int(p > 0)
        return float(p)
    if key in ("probability", "raw_score"):
        return float(p.max()) if objective == "multi:softprob" else float(p)
    # probabilities, raw_scores
    if objective == "multi:softprob":
        return p.tolist()
    return [1.0 - float(p), float(p)]
