"""Algorithm-mode training: validate, read the channels, train with xgboost.train, save the model.

Follows AWS's container (algorithm_mode/train.py): hyperparameters and channels are validated before
any data is read; evaluation runs on `train` and, when given, `validation`; early stopping needs
both early_stopping_rounds and a validation channel, watches the last tuning objective or
eval_metric, and keeps the best round; the master writes /opt/ml/model/xgboost-model in XGBoost's
own format (what `xgboost.Booster().load_model()` reads).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import xgboost as xgb

from algorithms.common.environment import TrainingEnv
from algorithms.xgboost import channels, data, distributed, hyperparameters, metrics
from algorithms.xgboost.checkpoints import SaveCheckpoints, StopOnSigterm, latest
from algorithms.xgboost.errors import AlgorithmError, UserError
from algorithms.xgboost.hyperparameters import SCHEMA

log = logging.getLogger(__name__)

MODEL_NAME = "xgboost-model"

# XGBoost errors that are the user's to fix (AWS's CUSTOMER_ERRORS): they fail the job as UserError.
CUSTOMER_ERRORS = (
    "label must be in [0,1] for logistic regression",
    "label must be in [0, num_class)",
    "feature_names mismatch",
    "Check failed: preds.size() == info.labels_.size()",
    "Check failed: !auc_error AUC: the dataset only contains pos or neg samples",
    "base_score must be in (0,1) for logistic loss",
    "label must be nonnegative",
    "label must be positive for gamma regression",
    "Parameter reg_lambda should be greater equal to 0",
)


def run(env: TrainingEnv) -> None:
    hps = hyperparameters.validate(env.hyperparameters)
    data_channels = channels.validate(env.channels)
    cluster = distributed.Cluster(env.hosts, env.current_host)
    stop = StopOnSigterm()
    csv_weights = SCHEMA.value(hps, "csv_weights")
    with distributed.communicator(cluster):
        dtrain, dval = _read(data_channels, csv_weights)
        if not cluster.distributed:
            log.info("Single node training.")
        booster = fit(hps, dtrain, dval, is_master=cluster.is_master, stop=stop,
                      checkpoint_dir=_checkpoint_dir(env.root))
    if stop.requested.is_set() and SCHEMA.value(hps, "save_model_on_termination") != "true":
        log.info("Training stopped; the model is not saved (save_model_on_termination is false)")
        return
    if cluster.is_master:
        env.model_dir.mkdir(parents=True, exist_ok=True)
        # UBJSON, XGBoost's default binary format; written as raw bytes because save_model() warns
        # about a file name without an extension, and AWS's name has none.
        (env.model_dir / MODEL_NAME).write_bytes(booster.save_raw("ubj"))
        log.info("Saved the model to %s", env.model_dir / MODEL_NAME)


def _read(data_channels: dict[str, channels.DataChannel], csv_weights: int) -> tuple[xgb.DMatrix, xgb.DMatrix | None]:
    train = data_channels["train"]
    dtrain = data.load(train.path, train.format, csv_weights)
    if dtrain is None:
        raise UserError(f"No data in training channel path {train.path}")
    log.info("Train matrix has %d rows and %d columns", dtrain.num_row(), dtrain.num_col())
    validation = data_channels.get("validation")
    if validation is None:
        return dtrain, None
    dval = data.load(validation.path, validation.format, csv_weights)
    if dval is None:
        raise UserError(f"No data in validation channel path {validation.path}")
    log.info("Validation matrix has %d rows", dval.num_row())
    return dtrain, dval


def fit(hps: dict[str, Any], dtrain: xgb.DMatrix, dval: xgb.DMatrix | None, *, is_master: bool = True,
        stop: StopOnSigterm | None = None, checkpoint_dir: Path | None = None) -> xgb.Booster:
    """xgboost.train with the job's hyperparameters, evaluation log, early stopping and checkpoints."""
    params = hyperparameters.booster_params(hps)
    eval_metrics, watched = _eval_metrics(hps)
    native, computed = metrics.split(eval_metrics)
    if native:
        params["eval_metric"] = native
    custom = metrics.custom_metric(computed, params.get("objective", "reg:squarederror")) if computed else None

    resumed, done = latest(checkpoint_dir)
    callbacks: list[xgb.callback.TrainingCallback] = [metrics.EvaluationLog(is_master, start_round=done)]
    if stop is not None:
        callbacks.append(stop)
    rounds = hps.get("early_stopping_rounds")
    if rounds and dval is not None:
        callbacks.append(xgb.callback.EarlyStopping(
            rounds=rounds, data_name="validation", metric_name=watched, save_best=True,
            maximize=metrics.is_maximized(watched) if watched else None))
    if checkpoint_dir is not None and is_master:
        callbacks.append(SaveCheckpoints(checkpoint_dir, start_round=done))
    evals = [(dtrain, "train")] + ([(dval, "validation")] if dval is not None else [])
    try:
        return xgb.train(params, dtrain, num_boost_round=max(hps["num_round"] - done, 0), evals=evals,
                         custom_metric=custom, callbacks=callbacks, xgb_model=resumed, verbose_eval=False)
    except xgb.core.XGBoostError as exc:
        # XGBoost appends its native stack trace, which would crowd the message out of FailureReason
        message = str(exc).split("\nStack trace:", 1)[0].strip()
        if any(known in message for known in CUSTOMER_ERRORS):
            raise UserError(message) from exc
        raise AlgorithmError(f"XGB train call failed with exception:\n {message}") from exc


def _eval_metrics(hps: dict[str, Any]) -> tuple[list[str], str | None]:
    """(metrics to evaluate, the one early stopping watches): eval_metric plus the tuning objective."""
    requested = list(hps.get("eval_metric") or [])
    tuning = hps.get("_tuning_objective_metric")
    tuned = tuning.split(":", 1)[1].split(",") if tuning else []
    if requested and tuned:
        # the same order on every host, or the distributed evaluation would mix metrics up
        return sorted(set(requested) | set(tuned)), tuned[-1]
    chosen = requested or tuned
    return chosen, (chosen[-1] if chosen else None)


def _checkpoint_dir(root: Path) -> Path | None:
    config = root / "input" / "config" / "checkpointconfig.json"
    if not config.is_file():
        return None
    local = json.loads(config.read_text()).get("LocalPath") or "/opt/ml/checkpoints"
    # LocalPath is a container path; under a test root it lives below that root instead
    return root / local[len("/opt/ml/"):] if local.startswith("/opt/ml/") and root != Path("/opt/ml") else Path(local)
