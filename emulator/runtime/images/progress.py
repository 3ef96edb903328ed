"""Where an image build stands, for the builder and for everyone waiting on it.

The builder reports each line of its output as a BuildEvent. An event's `status` is the one-line
summary a user sees -- "Building local image sagemaker-emulator/xgboost (step 3/7)" -- in a training
job's SecondaryStatusTransitions message, the server log and the CLI's progress bar. The builder also
keeps the latest status in a small file next to its build lock, so that whoever waits on that lock
(another job, an xdist worker, `sagemaker-emulator images build` in a terminal) reports the same
progress as the build itself, even from another process.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

BASE = "base"        # debootstrapping the base image
WHEELS = "wheels"    # `pip wheel` on the host
BUILD = "build"      # `docker build`
DONE = "done"        # the image exists now

# The classic builder announces each Dockerfile instruction as "Step 3/7 : RUN ...".
_STEP = re.compile(r"^Step (\d+)/(\d+) : (.*)$")


@dataclass(frozen=True)
class BuildEvent:
    image: str                 # repository being built, e.g. sagemaker-emulator/xgboost
    phase: str = BUILD
    line: str = ""             # one line of build output ("" when only the status changed)
    step: int = 0              # Dockerfile step (BUILD), 0 before the first
    steps: int = 0
    detail: str = ""           # the step's instruction, or the base bootstrap's stage

    @property
    def status(self) -> str:
        if self.phase == WHEELS:
            return f"Fetching Python packages for local image {self.image}"
        if self.phase == DONE:
            return f"Built local image {self.image}"
        if self.phase == BASE:
            return f"Building local image {self.image} ({self.detail or 'debootstrap'})"
        if self.step:
            return f"Building local image {self.image} (step {self.step}/{self.steps})"
        return f"Building local image {self.image}"

    def __str__(self) -> str:
        return self.line or self.status

    def after(self, line: str) -> BuildEvent:
        """The event for the next output line: a "Step n/m" line moves the build on a step, and a
        "[base] ..." line of bootstrap.sh names the base's current stage."""
        line = line.rstrip()
        step = _STEP.match(line)
        if step and self.phase == BUILD:
            return replace(self, line=line, step=int(step[1]), steps=int(step[2]), detail=step[3])
        if self.phase == BASE and line.startswith("[base] "):
            return replace(self, line=line, detail=line.removeprefix("[base] ").split(":", 1)[0])
        return replace(self, line=line)


Progress = Callable[[BuildEvent], None]


def ignore(_event: BuildEvent) -> None:
    pass


# --- the status file: the latest status of a build, for waiters in other processes --------------


def write_status(path: Path, event: BuildEvent) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(json.dumps({**asdict(event), "line": ""}))
    tmp.replace(path)   # atomic: a reader never sees half a file


def read_status(path: Path) -> BuildEvent | None:
    try:
        return BuildEvent(**json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):  # no build under way, or a file from another version
        return None
