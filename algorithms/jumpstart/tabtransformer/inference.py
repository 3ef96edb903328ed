"""JumpStart TabTransformer inference: text/csv rows in, AWS's JSON shapes out (jumpstart_tabular.format_response)."""

import json
from pathlib import Path

import jumpstart_tabular as jt
import tab_transformer
import torch


def model_fn(model_dir):
    info = json.loads((Path(model_dir) / "model_info.json").read_text())
    checkpoint = torch.load(Path(model_dir) / "model.pt", weights_only=False)
    model, prep = tab_transformer.load(checkpoint)
    return {"model": model, "prep": prep, "info": info}


def transform_fn(model, request_body, content_type, accept):
    jt.check_content_type(content_type)
    info, prep = model["info"], model["prep"]
    features = jt.parse_csv_payload(request_body, len(prep.categorical) + len(prep.continuous))
    output = tab_transformer.predict(model["model"], prep, features, info["task"])
    if info["task"] == "classification":
        return jt.format_response("classification", accept, probabilities=output)
    return jt.format_response("regression", accept, predictions=output)
