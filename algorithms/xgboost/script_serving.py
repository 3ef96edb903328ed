"""XGBoost in script mode (an `XGBoostModel` with an entry_point): the image's defaults for what the user's
inference script leaves out, as AWS's sagemaker-xgboost-container provides them -- model_fn loads the
booster(s) saved in the model folder, input_fn reads CSV / LibSVM / JSON / RecordIO-protobuf, predict_fn
predicts, output_fn writes CSV or JSON. The shared framework server (sagemaker_framework_container.serving)
calls them when SAGEMAKER_DEFAULT_HANDLERS names this module.

The body is decoded in predict_fn, where the model (and so its feature count, which LibSVM needs) is known:
input_fn only pairs it with its content type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from algorithms.xgboost import inference


def model_fn(model_dir: str) -> inference.Model:
    return inference.Model.load(Path(model_dir))


def input_fn(body: bytes, content_type: str) -> tuple[bytes, str]:
    return body, content_type


def predict_fn(data: Any, model: inference.Model) -> tuple[inference.Model, Any]:
    if isinstance(data, tuple):
        body, content_type = data
        matrix = inference.decode(body, content_type, model.num_features)
    else:  # a user input_fn that returned an array or a DMatrix
        import xgboost as xgb
        matrix = data if isinstance(data, xgb.DMatrix) else xgb.DMatrix(data)
    return model, model.predict(matrix)


def output_fn(prediction: tuple[inference.Model, Any], accept: str) -> tuple[bytes, str]:
    model, predictions = prediction
    return inference.encode(predictions, inference.parse_accept(accept), model)
