"""JumpStart AutoGluon-Tabular (autogluon-classification-ensemble / autogluon-regression-ensemble): training.

Our own script with the behaviour AWS documents: CSV with the target in column 0 (categorical
columns from categorical_index.json are given to AutoGluon as pandas categories), the validation
data as AutoGluon's tuning data, AWS's hyperparameters passed to TabularPredictor.fit. The model
directory is the TabularPredictor itself (`TabularPredictor.load(model_dir)`, as AWS documents).
The image has no torch, so AutoGluon's neural-network models are skipped (AutoGluon logs that).
"""

import jumpstart_tabular as jt
import pandas as pd
from autogluon.tabular import TabularPredictor

LABEL = "target"


def fit_arguments(hp: dict) -> dict:
    bag_folds = int(hp["num_bag_folds"])
    return {"presets": hp["presets"], "auto_stack": jt.flag(hp["auto_stack"]), "num_bag_folds": bag_folds,
            "num_bag_sets": hp["num_bag_sets"] if bag_folds else None,
            "num_stack_levels": hp["num_stack_levels"], "refit_full": jt.flag(hp["refit_full"]),
            "set_best_to_refit_full": jt.flag(hp["set_best_to_refit_full"])}


def as_frame(x: pd.DataFrame, y: pd.Series, categorical: list[str]) -> pd.DataFrame:
    frame = x.copy()
    for column in categorical:
        frame[column] = frame[column].astype("category")
    frame[LABEL] = y.values
    return frame


def main() -> None:
    task = jt.model_info()["task"]
    hp = jt.hyperparameters()
    data = jt.load_training_data(task)
    out = jt.model_dir()
    predictor = TabularPredictor(label=LABEL, problem_type=None if task == "classification" else "regression",
                                 eval_metric=None if hp["eval_metric"] == "auto" else hp["eval_metric"],
                                 path=str(out), verbosity=hp["verbosity"])
    arguments = fit_arguments(hp)
    bagged = arguments["num_bag_folds"] > 0 or arguments["auto_stack"]
    train = as_frame(data.x_train, data.y_train, data.categorical_names)
    validation = as_frame(data.x_val, data.y_val, data.categorical_names)
    if bagged:  # bagged models validate out-of-fold: the validation rows become training rows
        predictor.fit(pd.concat([train, validation], ignore_index=True), **arguments)
    else:
        predictor.fit(train, tuning_data=validation, **arguments)
    score = predictor.evaluate(validation, silent=True)
    print(f"Validation scores: {score}", flush=True)
    print(predictor.leaderboard(silent=True).to_string(), flush=True)
    if jt.flag(hp["save_space"]):
        predictor.save_space()
    jt.write_model_metadata(out, categorical=data.categorical)


if __name__ == "__main__":
    main()
