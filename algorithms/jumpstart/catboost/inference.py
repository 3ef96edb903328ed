"""JumpStart CatBoost inference: text/csv rows in, AWS's JSON shapes out (jumpstart_tabular.format_response)."""

import json
from pathlib import Path

import jumpstart_tabular as jt
from catboost import CatBoostClassifier, CatBoostRegressor


def model_fn(model_dir):
    info = json.loads((Path(model_dir) / "model_info.json").read_text())
    model = CatBoostClassifier() if info["task"] == "classification" else CatBoostRegressor()
    model.load_model(str(Path(model_dir) / "model"))
    return {"model": model, "info": info}


def transform_fn(model, request_body, content_type, accept):
    jt.check_content_type(content_type)
    estimator, info = model["model"], model["info"]
    features = jt.cast_categorical(jt.parse_csv_payload(request_body, len(estimator.feature_names_)),
                                   info.get("categorical", []))
    if info["task"] == "classification":
        return jt.format_response("classification", accept, probabilities=estimator.predict_proba(features),
                                  labels=info.get("labels"))
    return jt.format_response("regression", accept, predictions=estimator.predict(features))
