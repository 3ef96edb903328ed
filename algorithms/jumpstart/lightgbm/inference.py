"""JumpStart LightGBM inference: text/csv rows in, AWS's JSON shapes out (jumpstart_tabular.format_response)."""

import json
from pathlib import Path

import joblib
import jumpstart_tabular as jt
import numpy as np


def model_fn(model_dir):
    info = json.loads((Path(model_dir) / "model_info.json").read_text())
    return {"booster": joblib.load(Path(model_dir) / "model.pkl"), "info": info}


def transform_fn(model, request_body, content_type, accept):
    jt.check_content_type(content_type)
    booster, info = model["booster"], model["info"]
    features = jt.cast_categorical(jt.parse_csv_payload(request_body, booster.num_feature()),
                                   info.get("categorical", []))
    output = booster.predict(features, num_iteration=booster.best_iteration or None)
    if info["task"] == "classification":
        if output.ndim == 1:  # binary objective: P(label 1) per row
            output = np.column_stack([1.0 - output, output])
        return jt.format_response("classification", accept, probabilities=output)
    return jt.format_response("regression", accept, predictions=output)
