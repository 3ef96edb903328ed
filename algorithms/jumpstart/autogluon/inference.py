"""JumpStart AutoGluon-Tabular inference: text/csv rows in, AWS's JSON shapes out (jumpstart_tabular.format_response)."""

import json
from pathlib import Path

import jumpstart_tabular as jt
from autogluon.tabular import TabularPredictor


def model_fn(model_dir):
    info = json.loads((Path(model_dir) / "model_info.json").read_text())
    return {"predictor": TabularPredictor.load(str(model_dir)),
            "info": info}


def transform_fn(model, request_body, content_type, accept):
    jt.check_content_type(content_type)
    predictor, info = model["predictor"], model["info"]
    features = jt.parse_csv_payload(request_body, len(predictor.original_features))
    for i in info.get("categorical", []):
        features[f"feature_{i}"] = features[f"feature_{i}"].astype("int64").astype("category")
    if info["task"] == "classification":
        probabilities = predictor.predict_proba(features)
        return jt.format_response("classification", accept, probabilities=probabilities.to_numpy(),
                                  labels=list(probabilities.columns))
    return jt.format_response("regression", accept, predictions=predictor.predict(features).to_numpy())
