"""What the JumpStart tabular scripts (LightGBM, CatBoost, AutoGluon-Tabular, TabTransformer) share.

Shipped next to each `transfer_learning.py` / `inference.py` in the sourcedir tarballs the emulator's
JumpStart bucket serves, together with `model_info.json` (model id, task, hyperparameter schema with
AWS's defaults), so the scripts depend on nothing but the libraries in the image.

Data contract (AWS docs for the four algorithms, container_contracts.md section 7.3): CSV files
without header, target in column 0; channel `training` (or `train`) holding the files, or holding
`train/` (or `training/`) and optional `validation/` sub-folders; an optional `validation` channel;
optional `categorical_index.json` = {"cat_index_list": [column indices, 0 = target]}. Without
validation data a random 20 % of the training rows is held out for early stopping.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
VALIDATION_FRACTION = 0.2
SPLIT_SEED = 200  # fixed, so a job is reproducible and a direct run can hold out the same rows
CATEGORICAL_INDEX_FILE = "categorical_index.json"
TRUE_STRINGS = ("true", "1", "yes")


def model_info() -> dict:
    return json.loads((HERE / "model_info.json").read_text())


# --- hyperparameters ------------------------------------------------------------------------------


def hyperparameters(argv: list[str] | None = None) -> dict:
    """Hyperparameters with AWS's defaults filled in and converted to the schema's types.

    The sagemaker-training toolkit passes them as `--name value` arguments (values already
    str()-ed); unknown names are rejected like argparse would."""
    schema = {hp["name"]: hp for hp in model_info()["hyperparameters"]}
    args = list(sys.argv[1:] if argv is None else argv)
    given: dict[str, str] = {}
    while args:
        flag = args.pop(0)
        if not flag.startswith("--"):
            continue
        name = flag[2:]
        value = args.pop(0) if args else ""
        if name not in schema:
            raise SystemExit(f"transfer_learning.py: error: unrecognized arguments: {flag}")
        given[name] = value
    result = {}
    for name, hp in schema.items():
        raw = given.get(name, hp["default"])
        result[name] = _convert(name, raw, hp)
    return result


def _convert(name: str, raw, hp: dict):
    kind = hp["type"]
    try:
        value = int(float(raw)) if kind == "int" else float(raw) if kind == "float" else str(raw)
    except (TypeError, ValueError):
        raise SystemExit(f"Hyperparameter {name}: {raw!r} is not a valid {kind}") from None
    if kind == "text" and hp.get("options") and value not in hp["options"]:
        raise SystemExit(f"Hyperparameter {name}: {value!r} is not one of {hp['options']}")
    if kind != "text":
        if "min" in hp and value < hp["min"]:
            raise SystemExit(f"Hyperparameter {name}: {value} is below the minimum {hp['min']}")
        if "max" in hp and value > hp["max"]:
            raise SystemExit(f"Hyperparameter {name}: {value} is above the maximum {hp['max']}")
    return value


def flag(value) -> bool:
    return str(value).strip().lower() in TRUE_STRINGS


# --- training data --------------------------------------------------------------------------------


class TabularData:
    """Training and validation frames (features named feature_0..n-1, target separate)."""

    def __init__(self, x_train: pd.DataFrame, y_train: pd.Series, x_val: pd.DataFrame, y_val: pd.Series,
                 categorical: list[int]) -> None:
        self.x_train, self.y_train, self.x_val, self.y_val = x_train, y_train, x_val, y_val
        self.categorical = categorical  # feature positions (column index - 1)

    @property
    def categorical_names(self) -> list[str]:
        return [f"feature_{i}" for i in self.categorical]


def channel_dir(*names: str) -> Path | None:
    for name in names:
        path = os.environ.get(f"SM_CHANNEL_{name.upper()}")
        if path and Path(path).is_dir():
            return Path(path)
        default = Path("/opt/ml/input/data") / name
        if default.is_dir():
            return default
    return None


def load_training_data(task: str) -> TabularData:
    root = channel_dir("training", "train")
    if root is None:
        raise SystemExit("No training data: expected a 'training' (or 'train') channel")
    train_dir = next((root / sub for sub in ("train", "training") if (root / sub).is_dir()), root)
    validation_dir = root / "validation" if (root / "validation").is_dir() else channel_dir("validation")
    train = read_csv_dir(train_dir)
    categorical = read_categorical_index([train_dir, root], train.shape[1])
    if validation_dir is not None:
        validation = read_csv_dir(validation_dir)
    else:
        train, validation = split_validation(train, task)
    x_train, y_train = features_and_target(train, categorical, task)
    x_val, y_val = features_and_target(validation, categorical, task)
    print(f"Training rows: {len(x_train)}, validation rows: {len(x_val)}, features: {x_train.shape[1]}, "
          f"categorical features: {categorical}", flush=True)
    return TabularData(x_train, y_train, x_val, y_val, categorical)


def read_csv_dir(path: Path) -> pd.DataFrame:
    files = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() == ".csv"
                   and not p.name.startswith((".", "_")))
    if not files:
        raise SystemExit(f"No CSV files in {path}")
    return pd.concat([pd.read_csv(f, header=None) for f in files], ignore_index=True)


def read_categorical_index(folders: list[Path], n_columns: int) -> list[int]:
    for folder in folders:
        index_file = folder / CATEGORICAL_INDEX_FILE
        if index_file.is_file():
            columns = json.loads(index_file.read_text()).get("cat_index_list", [])
            bad = [c for c in columns if not isinstance(c, int) or c < 1 or c >= n_columns]
            if bad:
                raise SystemExit(f"{CATEGORICAL_INDEX_FILE}: column indices must be in 1..{n_columns - 1}, got {bad}")
            return sorted(c - 1 for c in set(columns))
    return []


def split_validation(frame: pd.DataFrame, task: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    from sklearn.model_selection import train_test_split
    stratify = frame[0] if task == "classification" and frame[0].value_counts().min() >= 2 else None
    train, validation = train_test_split(frame, test_size=VALIDATION_FRACTION, random_state=SPLIT_SEED,
                                         stratify=stratify)
    return train.reset_index(drop=True), validation.reset_index(drop=True)


def features_and_target(frame: pd.DataFrame, categorical: list[int], task: str) -> tuple[pd.DataFrame, pd.Series]:
    target = frame[0]
    if task == "classification":
        target = target.astype(np.int64)
    features = frame.drop(columns=[0])
    features.columns = [f"feature_{i}" for i in range(features.shape[1])]
    return cast_categorical(features, categorical), target.rename("target")


def cast_categorical(features: pd.DataFrame, categorical: list[int]) -> pd.DataFrame:
    """Categorical values are non-negative integers (AWS's documented encoding)."""
    for i in categorical:
        column = features.columns[i]
        features[column] = features[column].fillna(-1).astype(np.int64)
    return features


def model_dir() -> Path:
    path = Path(os.environ.get("SM_MODEL_DIR", "/opt/ml/model"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def write_model_metadata(directory: Path, **extra) -> None:
    """What inference needs besides the library's own model file."""
    info = model_info()
    (directory / "model_info.json").write_text(json.dumps({
        "model_id": info["model_id"], "task": info["task"], **extra}, indent=1))


def num_classes(y: pd.Series) -> int:
    return int(y.max()) + 1


# --- inference ------------------------------------------------------------------------------------


def parse_csv_payload(body: bytes | str, n_features: int | None = None) -> pd.DataFrame:
    """text/csv request rows: features only, no header, no target."""
    import io
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    frame = pd.read_csv(io.StringIO(text), header=None)
    if n_features is not None and frame.shape[1] != n_features:
        raise ValueError(f"Expected {n_features} feature columns, got {frame.shape[1]}")
    frame.columns = [f"feature_{i}" for i in range(frame.shape[1])]
    return frame


def format_response(task: str, accept: str, *, probabilities=None, predictions=None,
                    labels: list | None = None) -> tuple[str, str]:
    """AWS's JumpStart tabular response shapes.

    classification: {"probabilities": [[p0, p1, ...], ...]}; `application/json;verbose` adds
    "labels" and "predicted_label". regression: {"prediction": [v, ...]}. text/csv: one line per row.
    """
    accept = (accept or "application/json").strip().lower()
    verbose = "verbose" in accept
    if task == "classification":
        probs = np.asarray(probabilities, dtype=float)
        labels = list(labels) if labels is not None else list(range(probs.shape[1]))
        predicted = [labels[i] for i in probs.argmax(axis=1)]
        if accept.startswith("text/csv"):
            lines = [",".join(repr(float(p)) for p in row) for row in probs]
            return "\n".join(lines) + "\n", "text/csv"
        body = {"probabilities": probs.tolist()}
        if verbose:
            body.update(labels=[_plain(x) for x in labels], predicted_label=[_plain(x) for x in predicted])
        return json.dumps(body), "application/json"
    values = np.asarray(predictions, dtype=float).reshape(-1).tolist()
    if accept.startswith("text/csv"):
        return "\n".join(repr(v) for v in values) + "\n", "text/csv"
    return json.dumps({"prediction": values}), "application/json"


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def check_content_type(content_type: str) -> None:
    if not (content_type or "text/csv").lower().startswith("text/csv"):
        raise ValueError(f"Unsupported content type {content_type}: the model accepts text/csv")
