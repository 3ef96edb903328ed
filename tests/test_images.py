"""The emulator's local images: built from containers/, able to run jobs, found from AWS image URIs."""

from __future__ import annotations

import io
import json
import re
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import docker
import pytest

from emulator.runtime import images
from emulator.runtime.images import catalogue

TEST_LABEL = {"sagemaker-emulator.test": "test_images"}


@pytest.fixture(scope="module")
def docker_client():
    try:
        client = docker.from_env()
        client.ping()
    except docker.errors.DockerException as exc:  # docker-marked tests fail, not skip, without an engine
        pytest.fail(f"no Docker engine ({exc}); run scripts/ensure-docker.sh or deselect with -m 'not docker'")
    yield client
    client.close()


@pytest.fixture(scope="module")
def sklearn_image(docker_client) -> str:
    # Cold this builds the base and sklearn images (about two minutes); warm it finds them.
    return images.ensure_image("sklearn", print)


def run_container(client, image: str, command, **kwargs) -> tuple[int, str]:
    """Run a container to completion and always remove it; (exit code, output)."""
    container = client.containers.create(image, command, labels=TEST_LABEL, **kwargs)
    try:
        container.start()
        status = container.wait(timeout=300)["StatusCode"]
        return status, container.logs().decode(errors="replace")
    finally:
        container.remove(force=True)


# --- building --------------------------------------------------------------------------------------


@pytest.mark.docker
def test_an_unchanged_context_is_reused_not_rebuilt(docker_client, sklearn_image):
    assert re.fullmatch(r"sagemaker-emulator/sklearn:[0-9a-f]{12}", sklearn_image)
    before = docker_client.images.get(sklearn_image).id
    progress: list[str] = []
    built = images.build_images(["sklearn"], progress.append)
    assert built == {"sklearn": sklearn_image}
    assert progress == []  # no "building ..." line: nothing was built
    assert docker_client.images.get(sklearn_image).id == before


@pytest.mark.docker
def test_sklearn_image_has_the_processing_stack_and_entry_points(docker_client, sklearn_image):
    script = (
        "import sklearn, pandas, numpy, scipy, boto3, sagemaker_training, sagemaker_sklearn_container.training;"
        "print('versions', sklearn.__version__, pandas.__version__, numpy.__version__)"
    )
    status, output = run_container(
        docker_client,
        sklearn_image,
        [
            "sh",
            "-c",
            f'python3 -c "{script}" && python -c "print(1 + 1)" && command -v train && command -v serve',
        ],
    )
    assert status == 0, output
    assert "versions 1.4.2 2.2.3 1.26.4" in output
    assert "\n2\n" in output
    assert "/train" in output and "/serve" in output


@pytest.mark.docker
def test_script_mode_training_runs_the_user_script_through_the_toolkit(
    docker_client, sklearn_image, tmp_path
):
    opt_ml = _opt_ml(
        tmp_path,
        script=(
            "import argparse, os, joblib, pandas\n"
            "from sklearn.linear_model import Ridge\n"
            "p = argparse.ArgumentParser()\n"
            "p.add_argument('--alpha', type=float)\n"
            "p.add_argument('--model-dir', default=os.environ['SM_MODEL_DIR'])\n"
            "a = p.parse_args()\n"
            "df = pandas.read_csv(os.path.join(os.environ['SM_CHANNEL_TRAIN'], 'train.csv'), header=None)\n"
            "model = Ridge(alpha=a.alpha).fit(df.iloc[:, 1:], df.iloc[:, 0])\n"
            "joblib.dump(model, os.path.join(a.model_dir, 'model.joblib'))\n"
            "print('trained with alpha', a.alpha, 'hosts', os.environ['SM_HOSTS'])\n"
        ),
    )
    status, output = run_container(
        docker_client,
        sklearn_image,
        ["train"],
        hostname="algo-1",
        volumes={str(opt_ml): {"bind": "/opt/ml", "mode": "rw"}},
    )
    assert status == 0, output
    assert 'trained with alpha 0.5 hosts ["algo-1"]' in output
    assert (opt_ml / "model" / "model.joblib").is_file()
    assert (opt_ml / "output" / "success").exists()


@pytest.mark.docker
def test_a_failing_user_script_leaves_a_failure_file_and_exit_code(docker_client, sklearn_image, tmp_path):
    opt_ml = _opt_ml(tmp_path, script="raise ValueError('bad input data')\n")
    status, output = run_container(
        docker_client,
        sklearn_image,
        ["train"],
        hostname="algo-1",
        volumes={str(opt_ml): {"bind": "/opt/ml", "mode": "rw"}},
    )
    assert status != 0
    # As in AWS's scikit-learn image: the failure file names the error class and exit code, and
    # the script's own traceback goes to the log.
    failure = (opt_ml / "output" / "failure").read_text()
    assert "ExecuteUserScriptError" in failure and "ExitCode 1" in failure, output
    assert "ValueError: bad input data" in output
    assert not (opt_ml / "output" / "success").exists()


def _opt_ml(root: Path, script: str) -> Path:
    """An /opt/ml tree as the runtime stages it, with the code as the SDK's network-isolation channel."""
    opt_ml = root / "opt_ml"
    config = opt_ml / "input" / "config"
    for d in (
        config,
        opt_ml / "input" / "data" / "train",
        opt_ml / "input" / "data" / "code",
        opt_ml / "model",
        opt_ml / "output" / "data",
    ):
        d.mkdir(parents=True)
    (opt_ml / "input" / "data" / "train" / "train.csv").write_text("1,1,0\n2,2,0\n3,3,1\n4,4,1\n")
    with tarfile.open(opt_ml / "input" / "data" / "code" / "sourcedir.tar.gz", "w:gz") as tar:
        data = script.encode()
        info = tarfile.TarInfo("train.py")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    channel = {
        "TrainingInputMode": "File",
        "S3DistributionType": "FullyReplicated",
        "RecordWrapperType": "None",
    }
    (config / "inputdataconfig.json").write_text(json.dumps({"train": channel, "code": channel}))
    (config / "resourceconfig.json").write_text(
        json.dumps({"current_host": "algo-1", "hosts": ["algo-1"], "network_interface_name": "eth0"})
    )
    # Hyperparameter values are JSON-encoded strings, as the SDK sends them.
    (config / "hyperparameters.json").write_text(
        json.dumps(
            {
                "alpha": "0.5",
                "sagemaker_program": json.dumps("train.py"),
                "sagemaker_submit_directory": json.dumps("/opt/ml/input/data/code/sourcedir.tar.gz"),
                "sagemaker_container_log_level": "20",
            }
        )
    )
    return opt_ml


# --- resolving image URIs --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "uri",
    [
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-cpu-py3",
        "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
        "492215442770.dkr.ecr.eu-central-1.amazonaws.com/sagemaker-scikit-learn:0.20.0-cpu-py3",
        "450853457545.dkr.ecr.cn-north-1.amazonaws.com.cn/sagemaker-scikit-learn:1.0-1-cpu-py3",
        "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com/sagemaker-scikit-learn:1.2-1-arm64-cpu-py3",
        "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn@sha256:" + "ab" * 32,
    ],
)
def test_any_account_and_region_of_the_sklearn_image_maps_to_a_local_sklearn(uri):
    resolved = images.resolve_image_uri(uri, None)
    assert resolved is not None
    assert resolved.local_name in ("sklearn", "sklearn-1.2") and resolved.buildable and resolved.image is None
    assert resolved.failure_reason is None


@pytest.mark.parametrize("tag, local_name, note", [
    ("1.2-1-cpu-py3", "sklearn-1.2", None),
    ("1.4-2-cpu-py3", "sklearn", None),
    ("0.23-1-cpu-py3", "sklearn-1.2", ("framework version 0.23-1 of sagemaker-scikit-learn is not built here; "
                                       "running scikit-learn 1.2.2 (framework version 1.2-1)")),
    ("1.0-1-cpu-py3", "sklearn-1.2", "running scikit-learn 1.2.2"),
    ("1.5-1-cpu-py3", "sklearn", "running scikit-learn 1.4.2 (framework version 1.4-2)"),
])
def test_scikit_learn_framework_versions_get_their_line_or_the_nearest_with_a_log_line(tag, local_name, note):
    uri = f"683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:{tag}"
    assert images.resolve_image_uri(uri, None).local_name == local_name
    if note is None:
        assert catalogue.version_note(uri) is None
    else:
        assert note in catalogue.version_note(uri)


def test_algorithms_not_provided_name_themselves():
    resolved = images.resolve_image_uri("382416733822.dkr.ecr.us-east-1.amazonaws.com/ipinsights:1", None)
    assert not resolved.buildable
    assert resolved.failure_reason.startswith("The built-in algorithm IP Insights (image ")


@contextmanager
def tagged(client, image: str, reference: str) -> Iterator[str]:
    """`image` also tagged `reference` for the block (the engine is shared: the tag goes again)."""
    client.images.get(image).tag(reference)
    try:
        yield reference
    finally:
        client.images.remove(reference)


@pytest.mark.docker
def test_our_images_tagged_with_sagemaker_uris_are_still_chosen_by_the_catalogue(docker_client, sklearn_image):
    uri = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3-test-images"
    with tagged(docker_client, sklearn_image, uri):
        resolved = images.resolve_image_uri(uri, docker_client)
        assert resolved.image is None and resolved.local_name == "sklearn"


@pytest.mark.parametrize(
    "uri, local_name",
    [
        ("683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-xgboost:1.7-1", "xgboost"),
        ("811284229777.dkr.ecr.us-east-1.amazonaws.com/xgboost:1", "xgboost"),
        ("382416733822.dkr.ecr.us-east-1.amazonaws.com/linear-learner:1", "linear-learner"),
        ("664544806723.dkr.ecr.eu-central-1.amazonaws.com/knn:1", "knn"),
        ("174872318107.dkr.ecr.us-west-2.amazonaws.com/factorization-machines:1", "factorization-machines"),
        ("382416733822.dkr.ecr.us-east-1.amazonaws.com/randomcutforest:1", "randomcutforest"),
        # JumpStart's LightGBM/CatBoost specs name the PyTorch 1.9.0 DLC; they run torch-free.
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:1.9.0-cpu-py38", "jumpstart-tabular"),
        ("763104351884.dkr.ecr.us-east-1.amazonaws.com/pytorch-training:2.1.0-cpu-py310", "pytorch"),
        ("727897471807.dkr.ecr.cn-north-1.amazonaws.com.cn/autogluon-training:0.4.3-cpu-py38", "autogluon"),
    ],
)
def test_builtin_algorithm_images_map_to_buildable_local_images(uri, local_name):
    resolved = images.resolve_image_uri(uri, None)
    assert resolved is not None
    assert (resolved.local_name, resolved.buildable) == (local_name, True)
    assert resolved.failure_reason is None


def test_sagemaker_images_the_emulator_does_not_provide_say_why():
    uri = "763104351884.dkr.ecr.us-east-1.amazonaws.com/tensorflow-training:2.13-cpu-py310"
    assert images.resolve_image_uri(uri, None) is None
    with pytest.raises(images.ImageUnavailableError):
        images.image_for_uri(uri, None)


@pytest.mark.parametrize(
    "uri",
    [
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-algorithm:latest",
        "docker.io/library/not-here:1",
        "no-such-image-anywhere:latest",
    ],
)
def test_unknown_images_absent_from_the_engine_resolve_to_nothing(uri):
    assert images.resolve_image_uri(uri, None) is None


@pytest.mark.docker
def test_an_image_present_in_the_local_engine_runs_as_it_is(docker_client, sklearn_image):
    byo = "123456789012.dkr.ecr.us-east-1.amazonaws.com/my-own-algorithm:test-images"
    with tagged(docker_client, sklearn_image, byo):
        resolved = images.resolve_image_uri(byo, docker_client)
        assert resolved is not None and resolved.image == byo and resolved.local_name is None
        assert images.image_for_uri(byo, docker_client) == byo
        assert images.resolve_image_uri(sklearn_image, docker_client).image == sklearn_image
        assert images.resolve_image_uri("sagemaker-emulator/absent:000000000000", docker_client) is None
