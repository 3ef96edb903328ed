"""Setuptools hook (everything else is in pyproject.toml): an installed emulator builds its job images
from the same build contexts as a checkout, so the wheel carries containers/ and algorithms/ as
emulator/bundled/ (emulator.runtime.images.catalogue looks there when it runs from an install).
Executable bits are kept: they are part of an image's context hash, so an installed copy and the
checkout it was built from agree on which images they need."""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("containers", "algorithms")
GENERATED = ("wheels", "shared", "__pycache__")   # filled by the image builder; never shipped


def _ignore(folder: str, names: list[str]) -> set[str]:
    in_context = Path(folder).parent.name == "containers"
    return {n for n in names if n.endswith(".pyc") or n == "__pycache__" or (in_context and n in GENERATED)}


class BuildPyWithBuildContexts(build_py):
    def run(self) -> None:
        if self.editable_mode:  # an editable install runs from the checkout itself
            super().run()
            return
        # build/lib outlives a build: start afresh, or files deleted from the tree would still ship.
        shutil.rmtree(self.build_lib, ignore_errors=True)
        super().run()
        for name in BUNDLED:
            shutil.copytree(name, Path(self.build_lib, "emulator", "bundled", name), ignore=_ignore)


setup(cmdclass={"build_py": BuildPyWithBuildContexts})
