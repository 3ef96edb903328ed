"""Checkpoints (CheckpointConfig) and stopping (StopTrainingJob) during training.

With a CheckpointConfig the master saves `xgboost-checkpoint.<round>` in its LocalPath after every
round, and a restarted job resumes from the newest one, as AWS's container does; the platform syncs
that folder with CheckpointConfig.S3Uri. On SIGTERM (StopTrainingJob, MaxRuntimeInSeconds) training
ends after the current round, so hyperparameter save_model_on_termination=true can keep the model.
"""

from __future__ import annotations

import logging
import re
import signal
import threading
from pathlib import Path

import xgboost as xgb

log = logging.getLogger(__name__)

NAME = "xgboost-checkpoint"
KEEP = 5
_ROUND = re.compile(rf"^{NAME}\.(\d+)$")


def latest(directory: Path | None) -> tuple[xgb.Booster | None, int]:
    """(the newest checkpoint, how many rounds it holds), or (None, 0)."""
    if directory is None or not directory.is_dir():
        return None, 0
    rounds = sorted((int(m.group(1)), p) for p in directory.iterdir() if (m := _ROUND.match(p.name)))
    if not rounds:
        return None, 0
    last, path = rounds[-1]
    booster = xgb.Booster()
    booster.load_model(str(path))
    log.info("Checkpoint loaded from %s; resuming from iteration %d", path, last + 1)
    return booster, last + 1


class SaveCheckpoints(xgb.callback.TrainingCallback):
    def __init__(self, directory: Path, start_round: int) -> None:
        super().__init__()
        self.directory = directory
        self.start_round = start_round

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / f"{NAME}.{self.start_round + epoch}").write_bytes(model.save_raw("ubj"))
        stale = self.directory / f"{NAME}.{self.start_round + epoch - KEEP}"
        stale.unlink(missing_ok=True)
        return False


class StopOnSigterm(xgb.callback.TrainingCallback):
    """Ends training after the round in progress when the container receives SIGTERM."""

    def __init__(self) -> None:
        super().__init__()
        self.requested = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: self.requested.set())

    def after_iteration(self, model: xgb.Booster, epoch: int, evals_log: dict) -> bool:
        if self.requested.is_set():
            log.info("SIGTERM received: stopping after round %d", epoch)
            return True
        return False
