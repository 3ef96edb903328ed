"""Preprocessing step of the abalone pipeline (runs in the scikit-learn processing container):
impute and scale the measurements, one-hot encode sex, and split into train/validation/test CSVs with
the label (rings) in the first column, which is what built-in XGBoost reads."""

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

BASE_DIR = "/opt/ml/processing"
FEATURES = ["sex", "length", "diameter", "height", "whole_weight", "shucked_weight", "viscera_weight",
            "shell_weight"]
LABEL = "rings"

if __name__ == "__main__":
    df = pd.read_csv(f"{BASE_DIR}/input/abalone-dataset.csv", header=None, names=[*FEATURES, LABEL])
    numeric = make_pipeline(SimpleImputer(strategy="median"), StandardScaler())
    categorical = make_pipeline(SimpleImputer(strategy="constant", fill_value="missing"),
                                OneHotEncoder(handle_unknown="ignore"))
    preprocess = ColumnTransformer([("num", numeric, FEATURES[1:]), ("cat", categorical, ["sex"])])
    y = df.pop(LABEL).to_numpy().reshape(-1, 1)
    X = np.concatenate((y, preprocess.fit_transform(df)), axis=1)
    np.random.default_rng(0).shuffle(X)
    train, validation, test = np.split(X, [int(0.7 * len(X)), int(0.85 * len(X))])
    for name, rows in (("train", train), ("validation", validation), ("test", test)):
        pd.DataFrame(rows).to_csv(f"{BASE_DIR}/{name}/{name}.csv", header=False, index=False)
    print(f"train {len(train)}, validation {len(validation)}, test {len(test)} rows")
