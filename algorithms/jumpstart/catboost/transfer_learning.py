"""JumpStart CatBoost (catboost-classification-model / catboost-regression-model): training.

Our own script with the behaviour AWS documents: CSV with the target in column 0, optional
categorical_index.json (those columns become CatBoost cat_features), early stopping on the
validation data, eval_metric "Auto" = MultiClass (classification) or RMSE (regression). Writes the
model as file `model` (CatBoost's format: `CatBoostClassifier().load_model(".../model")`, as AWS
documents) and model_info.json.
"""

import jumpstart_tabular as jt
from catboost import CatBoostClassifier, CatBoostRegressor, Pool

AUTO_METRIC = {"classification": "MultiClass", "regression": "RMSE"}
PASSED_THROUGH = ["iterations", "early_stopping_rounds", "learning_rate", "depth", "l2_leaf_reg",
                  "random_strength", "rsm", "sampling_frequency", "min_data_in_leaf", "bagging_temperature",
                  "boosting_type", "grow_policy", "random_seed", "thread_count", "verbose"]


def catboost_params(hp: dict, task: str) -> dict:
    params = {name: hp[name] for name in PASSED_THROUGH}
    params["loss_function"] = AUTO_METRIC[task]
    params["allow_writing_files"] = False  # no catboost_info/ logs in the code directory
    params["eval_metric"] = AUTO_METRIC[task] if hp["eval_metric"] == "Auto" else hp["eval_metric"]
    if hp["grow_policy"] == "Lossguide":
        params["max_leaves"] = hp["max_leaves"]  # CatBoost accepts max_leaves only with Lossguide
    if hp["max_bin"] != "Auto":
        params["border_count"] = int(hp["max_bin"])
    if params["boosting_type"] == "Auto":
        del params["boosting_type"]  # CatBoost picks Plain or Ordered itself
    if task == "classification" and hp["scale_pos_weight"] != 1.0:
        params["scale_pos_weight"] = hp["scale_pos_weight"]
    return params


def main() -> None:
    task = jt.model_info()["task"]
    hp = jt.hyperparameters()
    data = jt.load_training_data(task)
    params = catboost_params(hp, task)
    print(f"CatBoost parameters: {params}", flush=True)
    model = (CatBoostClassifier if task == "classification" else CatBoostRegressor)(**params)
    cat_features = data.categorical_names or None
    model.fit(Pool(data.x_train, data.y_train, cat_features=cat_features),
              eval_set=Pool(data.x_val, data.y_val, cat_features=cat_features), use_best_model=True)
    metric = "multi_logloss" if task == "classification" else "rmse"
    for name, value in model.get_best_score().get("validation", {}).items():
        print(f"Best iteration {model.get_best_iteration()}: {name}: {value}", flush=True)
        if name == params["eval_metric"]:
            print(f"{metric}: {value}", flush=True)  # what the spec's metric definition reads
    out = jt.model_dir()
    model.save_model(str(out / "model"))
    jt.write_model_metadata(out, categorical=data.categorical,
                            labels=[int(c) for c in model.classes_] if task == "classification" else None)


if __name__ == "__main__":
    main()
