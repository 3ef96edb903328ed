"""Image builds report their progress, and the emulator's images can be listed and pruned.

Builds here use a tiny context of the test's own (a catalogue entry added for the test), so they take
seconds and everything they make is removed again; the listing and pruning tests act on those images
only, never on the shared engine's others.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import docker
import pytest

from emulator.config import Settings
from emulator.core import jobs
from emulator.core.services import Services
from emulator.runtime.images import BuildEvent, builder, catalogue, inventory
from emulator.runtime.images.progress import BASE, DONE, WHEELS
from emulator.runtime.supervisor import Runtime

NAME = "smemu-test-progress"
ECR_REPOSITORY = "smemu-test-progress-repo"
URI = f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{ECR_REPOSITORY}:1"
DOCKERFILE = """\
ARG BASE
FROM ${BASE} AS install
RUN echo made in the install stage > /made
FROM ${BASE}
COPY --from=install /made /made
RUN sleep 3
LABEL purpose=test
"""


# --- events and how they read --------------------------------------------------------------------


def test_docker_steps_and_base_stages_become_statuses():
    event = BuildEvent("sagemaker-emulator/xgboost")
    assert event.status == "Building local image sagemaker-emulator/xgboost"
    event = event.after("Step 3/7 : COPY wheels /tmp/wheels\n")
    assert (event.step, event.steps, event.detail) == (3, 7, "COPY wheels /tmp/wheels")
    assert event.status == "Building local image sagemaker-emulator/xgboost (step 3/7)"
    event = event.after(" ---> Running in 0123456789ab")
    assert event.status == "Building local image sagemaker-emulator/xgboost (step 3/7)"
    assert str(event) == " ---> Running in 0123456789ab"
    base = BuildEvent("sagemaker-emulator/base", BASE).after("[base] debootstrap bookworm (minbase + python3) from x")
    assert base.status == "Building local image sagemaker-emulator/base (debootstrap bookworm (minbase + python3) from x)"
    assert BuildEvent("i", WHEELS).status == "Fetching Python packages for local image i"
    assert BuildEvent("i", DONE).status == "Built local image i"


def test_the_cli_draws_a_bar_on_a_terminal_and_lines_elsewhere():
    from emulator.cli import BuildProgress

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    events = [BuildEvent("sagemaker-emulator/x").after(f"Step {n}/4 : RUN step {n}") for n in range(1, 5)]
    events += [events[-1].after("some output"), BuildEvent("sagemaker-emulator/x", DONE, line="built")]
    plain, terminal = io.StringIO(), Terminal()
    for out in (plain, terminal):
        show = BuildProgress(out)
        for event in events:
            show(event)
        show.close()
    assert plain.getvalue().splitlines() == [
        "Building local image sagemaker-emulator/x (step 1/4): RUN step 1",
        "Building local image sagemaker-emulator/x (step 2/4): RUN step 2",
        "Building local image sagemaker-emulator/x (step 3/4): RUN step 3",
        "Building local image sagemaker-emulator/x (step 4/4): RUN step 4",
        "Built local image sagemaker-emulator/x"]
    drawn = terminal.getvalue()
    assert drawn.count("\r\x1b[K") == 5 and drawn.endswith("\n") and drawn.count("\n") == 1
    assert "[##########..........] 2/4 RUN step 2" in drawn
    assert "[####################] 4/4 RUN step 4" in drawn


# --- real builds of a tiny image -------------------------------------------------------------------


@pytest.fixture
def docker_client():
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:
        pytest.skip(f"no Docker engine ({exc})")
    yield client
    client.close()


@pytest.fixture
def test_image(docker_client, tmp_path, monkeypatch):
    """A catalogue entry of the test's own, with a unique context (so it is never built already)."""
    context = tmp_path / "context"
    context.mkdir()
    (context / "Dockerfile").write_text(DOCKERFILE + f"LABEL run={tmp_path.name}-{time.time_ns()}\n")
    monkeypatch.setitem(catalogue.LOCAL_IMAGES, NAME, context)
    monkeypatch.setitem(catalogue.AWS_REPOSITORIES, ECR_REPOSITORY, NAME)
    tag = builder.image_tag(NAME)
    yield tag
    for image in docker_client.images.list(f"{catalogue.REPOSITORY_PREFIX}/{NAME}"):
        for reference in image.tags:
            docker_client.images.remove(reference, noprune=False)


@pytest.mark.docker
def test_a_training_job_says_which_step_of_its_image_build_it_is_at(test_image, tmp_path):
    """What DescribeTrainingJob shows while the job's image builds: the Downloading transition's
    message follows the build step by step."""
    services = Services(Settings(data_dir=tmp_path / "data", run_jobs=False))
    try:
        name = "progress-job"
        jobs.create_training_job(services, "us-east-1", {
            "TrainingJobName": name, "RoleArn": "arn:aws:iam::000000000000:role/R",
            "AlgorithmSpecification": {"TrainingImage": URI, "TrainingInputMode": "File"},
            "OutputDataConfig": {"S3OutputPath": "s3://b/out"},
            "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
            "StoppingCondition": {"MaxRuntimeInSeconds": 60}})
        jobs.mark_downloading(services, jobs.TRAINING, name)
        seen: list[str] = []

        def on_status(message: str) -> None:
            jobs.set_status_message(services, jobs.TRAINING, name, message)
            described = jobs.describe_job(services, jobs.TRAINING, name)
            seen.append(described["SecondaryStatusTransitions"][-1]["StatusMessage"])

        runtime = Runtime(services)
        assert runtime.resolve_image(URI, name, on_status) == test_image
        job = jobs.describe_job(services, jobs.TRAINING, name)
        assert job["SecondaryStatus"] == "Downloading"
    finally:
        services.shutdown()
    repository = test_image.split(":")[0]
    steps = [m for m in seen if m.startswith(f"Building local image {repository} (step ")]
    total = int(re.search(r"/(\d+)\)$", steps[0])[1])
    assert steps == [f"Building local image {repository} (step {n}/{total})" for n in range(1, total + 1)], seen
    assert seen[-1] == f"Built local image {repository}"


@pytest.mark.docker
def test_a_caller_waiting_in_another_process_hears_the_same_progress(test_image):
    """Two processes need the image at once: one builds it, the other waits and reports the builder's
    steps as they happen (read from the status file beside the build lock), then finds it built."""
    context = catalogue.LOCAL_IMAGES[NAME]
    script = textwrap.dedent(f"""
        import json, sys
        from pathlib import Path
        from emulator.runtime.images import builder, catalogue
        catalogue.LOCAL_IMAGES[{NAME!r}] = Path({str(context)!r})
        tag = builder.ensure_image({NAME!r}, lambda e: print(json.dumps([e.status, e.line]), flush=True))
        print(json.dumps(["tag", tag]), flush=True)
    """)
    other = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert other.stdout is not None
    first = json.loads(other.stdout.readline())   # the other process has the lock and builds
    assert first[0].startswith("Building local image") or first[0].startswith("Fetching"), first
    heard: list[str] = []
    here = threading.Thread(target=lambda: heard.append(builder.ensure_image(NAME, lambda e: heard.append(e.status))))
    here.start()
    there = [json.loads(line) for line in other.stdout]
    here.join(120)
    assert other.wait(60) == 0
    assert there[-1] == ["tag", test_image] and heard[-1] == test_image
    built_there = [status for status, line in there[:-1] if line.startswith("built ")]
    assert len(built_there) == 1                                  # built once, over there
    relayed = [s for s in heard[:-1] if "(step" in s]
    assert relayed and set(relayed) <= {status for status, _ in there}, (heard, there)


@pytest.mark.docker
def test_a_build_tags_its_earlier_stage_and_prune_removes_only_ours(test_image, docker_client, tmp_path):
    tag = builder.ensure_image(NAME)
    repository, hash12 = tag.split(":")
    stage = f"{repository}:{hash12}-install"
    assert docker_client.images.get(stage).id != docker_client.images.get(tag).id   # the install stage's image
    # An old build of ours (another context hash), a leftover built on ours and left untagged, and
    # two images that are not ours: a foreign tag on the same image, and an untagged foreign image.
    old = f"{repository}:0123456789ab"
    docker_client.images.get(tag).tag(old)
    docker_client.images.get(tag).tag("smemu-test-foreign", "kept")
    leftover = untagged_image(docker_client, tmp_path / "leftover", f"FROM {tag}\nRUN echo {tmp_path.name} > /x\n")
    foreign = untagged_image(docker_client, tmp_path / "foreign", f"FROM scratch\nLABEL run={time.time_ns()}\n")
    try:
        listed = {i.reference: i for i in inventory.inventory(docker_client, current={tag})}
        assert listed[tag].state == inventory.CURRENT and listed[tag].other_tags == ["smemu-test-foreign:kept"]
        assert listed[old].state == inventory.OLD and listed[stage].state == inventory.STAGE
        leftover_entry = listed[leftover.removeprefix("sha256:")[:12]]
        assert leftover_entry.state == inventory.LEFTOVER
        assert foreign.removeprefix("sha256:")[:12] not in listed

        ours = [listed[r] for r in (tag, old, stage, leftover_entry.reference)]
        planned = inventory.prune(docker_client, ours, dry_run=True)
        assert {i.reference for i in planned.removed} == {old, stage, leftover_entry.reference}
        assert planned.reclaimed_bytes > 0          # the install stage's own layer, at least
        docker_client.images.get(old)               # a dry run removes nothing

        result = inventory.prune(docker_client, ours)
        assert {i.reference for i in result.removed} == {old, stage, leftover_entry.reference} and not result.kept
        assert result.reclaimed_bytes == planned.reclaimed_bytes
        for gone in (old, stage):
            with pytest.raises(docker.errors.ImageNotFound):
                docker_client.images.get(gone)
        with pytest.raises(docker.errors.ImageNotFound):
            docker_client.images.get(leftover)
        assert docker_client.images.get(tag).id == docker_client.images.get("smemu-test-foreign:kept").id
        docker_client.images.get(foreign)           # not ours: untouched
    finally:
        docker_client.images.remove("smemu-test-foreign:kept")
        docker_client.images.remove(foreign)


def untagged_image(client, folder: Path, dockerfile: str) -> str:
    """Build an image and leave it untagged, as a rebuild leaves the image it replaces."""
    folder.mkdir()
    (folder / "Dockerfile").write_text(dockerfile)
    image, _ = client.images.build(path=str(folder), tag="smemu-test-untagged:1", rm=True)
    (folder / "Dockerfile").write_text(f"FROM scratch\nLABEL replaced={time.time_ns()}\n")
    client.images.build(path=str(folder), tag="smemu-test-untagged:1", rm=True)
    client.images.remove("smemu-test-untagged:1")
    return image.id


@pytest.mark.docker
def test_images_list_and_a_dry_run_prune_from_the_command_line(docker_client):
    listed = subprocess.run([sys.executable, "-m", "emulator.cli", "images", "list"], capture_output=True,
                            text=True, timeout=120, check=False)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["IMAGE", "STATE", "SIZE", "CREATED", "ALSO", "TAGGED"]
    assert all(row.startswith(catalogue.REPOSITORY_PREFIX + "/") or row[:12].isalnum() for row in rows)
    dry = subprocess.run([sys.executable, "-m", "emulator.cli", "images", "prune", "--dry-run"],
                         capture_output=True, text=True, timeout=120, check=False)
    assert dry.returncode == 0, dry.stderr
    assert dry.stdout.splitlines()[-1].startswith("would remove ")
