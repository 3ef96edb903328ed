"""Evaluation step of the abalone pipeline (runs in the XGBoost container): score the trained model
on the test split and write evaluation.json, which the pipeline reads through a PropertyFile."""

import json
import pathlib
import tarfile

import numpy as np
import pandas as pd
import xgboost
from sklearn.metrics import mean_squared_error

if __name__ == "__main__":
    with tarfile.open("/opt/ml/processing/model/model.tar.gz") as tar:
        tar.extractall(path=".")
    model = xgboost.Booster()
    model.load_model("xgboost-model")

    df = pd.read_csv("/opt/ml/processing/test/test.csv", header=None)
    y_test = df.iloc[:, 0].to_numpy()
    predictions = model.predict(xgboost.DMatrix(df.iloc[:, 1:].values))

    mse = mean_squared_error(y_test, predictions)
    report = {"regression_metrics": {"mse": {"value": mse, "standard_deviation": float(np.std(y_test - predictions))}}}
    output_dir = pathlib.Path("/opt/ml/processing/evaluation")
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "evaluation.json").write_text(json.dumps(report))
    print(f"test MSE {mse:.3f}")
