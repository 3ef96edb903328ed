"""JumpStart LightGBM (lightgbm-classification-model / lightgbm-regression-model): training.

Our own script with the behaviour AWS documents: CSV with the target in column 0, optional
categorical_index.json, early stopping on the validation data, `metric` "auto" = multi_logloss
(classification: the multiclass objective; binary only when a binary metric is asked for) or rmse
(regression).
Writes model.pkl (the joblib-pickled lightgbm.Booster, as AWS's artifact) and model_info.json.
"""

import joblib
import jumpstart_tabular as jt
import lightgbm as lgb

AUTO_METRIC = {"classification": "multi_logloss", "regression": "rmse"}
BINARY_METRICS = {"binary_logloss", "binary_error", "auc", "cross_entropy"}
PASSED_THROUGH = ["learning_rate", "num_leaves", "feature_fraction", "bagging_fraction", "bagging_freq",
                  "max_depth", "min_data_in_leaf", "max_delta_step", "lambda_l1", "lambda_l2", "boosting",
                  "min_gain_to_split", "tree_learner", "feature_fraction_bynode", "max_bin", "num_threads",
                  "verbosity"]


def lightgbm_params(hp: dict, task: str, n_classes: int | None) -> dict:
    params = {name: hp[name] for name in PASSED_THROUGH}
    params["metric"] = AUTO_METRIC[task] if hp["metric"] == "auto" else hp["metric"]
    if task == "classification" and params["metric"] in BINARY_METRICS and n_classes == 2:
        # LightGBM's binary metrics need the binary objective; inference then expands P(1) to [P(0), P(1)].
        params.update(objective="binary", scale_pos_weight=hp["scale_pos_weight"],
                      is_unbalance=jt.flag(hp["is_unbalance"]))
    elif task == "classification":
        params.update(objective="multiclass", num_class=n_classes, scale_pos_weight=hp["scale_pos_weight"],
                      is_unbalance=jt.flag(hp["is_unbalance"]))
    else:
        params.update(objective="regression", tweedie_variance_power=hp["tweedie_variance_power"])
    return params


def main() -> None:
    info = jt.model_info()
    task = info["task"]
    hp = jt.hyperparameters()
    data = jt.load_training_data(task)
    if jt.flag(hp["use_dask"]):
        print("use_dask=True: single-instance training here, Dask is not used", flush=True)
    n_classes = jt.num_classes(data.y_train) if task == "classification" else None
    params = lightgbm_params(hp, task, n_classes)
    print(f"LightGBM parameters: {params}", flush=True)
    categorical = data.categorical_names or "auto"
    train_set = lgb.Dataset(data.x_train, data.y_train, categorical_feature=categorical)
    valid_set = lgb.Dataset(data.x_val, data.y_val, categorical_feature=categorical, reference=train_set)
    booster = lgb.train(params, train_set, num_boost_round=hp["num_boost_round"], valid_sets=[valid_set],
                        valid_names=["validation"],
                        callbacks=[lgb.early_stopping(hp["early_stopping_rounds"], verbose=True),
                                   lgb.log_evaluation(period=1)])
    for metric, value in booster.best_score["validation"].items():
        print(f"Best iteration {booster.best_iteration}: {metric}: {value}", flush=True)
    out = jt.model_dir()
    joblib.dump(booster, out / "model.pkl")
    jt.write_model_metadata(out, num_classes=n_classes, categorical=data.categorical)


if __name__ == "__main__":
    main()
