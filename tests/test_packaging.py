"""`pip install <checkout>` (not editable) gives a working emulator: the wheel ships the console's
templates and static files (vendored htmx included) and the image build contexts (containers/ and
algorithms/, executable bits kept), so an installed copy builds the same images -- the same context
hashes -- as the checkout; and building it leaves nothing untracked in the tree."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def untracked() -> set[str]:
    out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    return {line[3:] for line in out.splitlines() if line.startswith("??")}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    before = untracked()
    out = tmp_path_factory.mktemp("wheel")
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stdout + built.stderr
    assert untracked() == before            # build/ and *.egg-info are ignored, nothing else appeared
    (path,) = out.glob("sagemaker_emulator-*.whl")
    return path


def test_the_wheel_ships_templates_static_files_and_build_contexts(wheel):
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in archive.infolist()}
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    templates = {p.relative_to(ROOT).as_posix() for p in (ROOT / "emulator" / "ui").rglob("*")
                 if p.is_file() and p.suffix != ".py" and "__pycache__" not in p.parts}
    assert templates and templates <= names, templates - names
    assert "emulator/ui/static/vendor/htmx.min.js" in names
    contexts = {f"emulator/bundled/{p.relative_to(ROOT).as_posix()}" for top in ("containers", "algorithms")
                for p in (ROOT / top).rglob("*") if p.is_file() and not
                {"wheels", "shared", "__pycache__"} & set(p.relative_to(ROOT).parts) and p.suffix != ".pyc"}
    assert contexts <= names, contexts - names
    assert not [n for n in names if "/wheels/" in n or "/shared/" in n or "__pycache__" in n]
    assert modes["emulator/bundled/containers/xgboost/bin/train"] & 0o111
    assert modes["emulator/bundled/containers/base/bootstrap.sh"] & 0o111
    assert "sagemaker-emulator = emulator.cli:main" in entry_points


def test_an_installed_copy_builds_the_same_images_as_the_checkout(wheel, tmp_path):
    target = tmp_path / "site"
    installed = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                                str(wheel)], capture_output=True, text=True, timeout=300, check=False)
    assert installed.returncode == 0, installed.stderr
    script = ("import json; from emulator.config import SOURCES_DIR; from emulator.runtime.images import builder, "
              "catalogue; print(json.dumps([str(SOURCES_DIR), {n: builder.context_hash(n) for n in catalogue.LOCAL_IMAGES "
              "if n != builder.EMULATOR}]))")
    answers = []
    for path in (str(target), str(ROOT)):
        run = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env={"PYTHONPATH": path, "PATH": "/usr/bin"},
                             capture_output=True, text=True, timeout=300, check=False)
        assert run.returncode == 0, run.stderr
        answers.append(json.loads(run.stdout.splitlines()[-1]))
    (installed_sources, installed_hashes), (checkout_sources, checkout_hashes) = answers
    assert installed_sources == str(target / "emulator" / "bundled") and checkout_sources == str(ROOT)
    assert installed_hashes == checkout_hashes
