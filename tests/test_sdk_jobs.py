"""Unchanged SageMaker SDK v2 code: processors and estimators run against the emulator."""

from __future__ import annotations

import textwrap

import pytest

from tests.jobhelpers import ROLE, ensure_byo_image, read_tar

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SKLEARN_VERSION = "1.2-1"


@pytest.fixture
def session(sagemaker_session):
    """The plugin's SDK session on the shared emulator, with a fresh default bucket."""
    return sagemaker_session


@pytest.fixture(scope="module")
def sklearn_image():
    from emulator.runtime.images import ensure_image
    return ensure_image("sklearn-1.2", print)  # framework version 1.2-1


def sklearn_uri() -> str:
    from sagemaker import image_uris
    return image_uris.retrieve("sklearn", "us-east-1", version=SKLEARN_VERSION)


def write(path, text: str):
    path.write_text(textwrap.dedent(text))
    return path


PROCESS_SCRIPT = """
    import argparse, pandas as pd, sklearn
    parser = argparse.ArgumentParser(); parser.add_argument("--scale", type=float, default=1.0)
    args = parser.parse_args()
    df = pd.read_csv("/opt/ml/processing/input/data/raw.csv")
    df["y"] = df["x"] * args.scale
    df.to_csv("/opt/ml/processing/output/scaled.csv", index=False)
    print("sklearn", sklearn.__version__, "rows", len(df))
"""


def test_sklearn_processor_runs_with_logs(session, sklearn_image, tmp_path, capsys):
    from sagemaker.processing import ProcessingInput, ProcessingOutput
    from sagemaker.sklearn.processing import SKLearnProcessor
    raw = tmp_path / "raw.csv"
    raw.write_text("x\n1\n2\n3\n")
    script = write(tmp_path / "preprocess.py", PROCESS_SCRIPT)
    processor = SKLearnProcessor(framework_version=SKLEARN_VERSION, role=ROLE, instance_type="ml.m5.large",
                                 instance_count=1, sagemaker_session=session)
    out = f"s3://{session.default_bucket()}/processed"
    processor.run(code=str(script), inputs=[ProcessingInput(str(raw), "/opt/ml/processing/input/data")],
                  outputs=[ProcessingOutput(source="/opt/ml/processing/output", destination=out)],
                  arguments=["--scale", "10"], wait=True, logs=True)
    desc = processor.latest_job.describe()
    assert desc["ProcessingJobStatus"] == "Completed"
    body = session.boto_session.client("s3").get_object(Bucket=session.default_bucket(),
                                                         Key="processed/scaled.csv")["Body"].read()
    assert body.decode().splitlines() == ["x,y", "1,10.0", "2,20.0", "3,30.0"]
    assert "rows 3" in capsys.readouterr().out  # the SDK's log loop printed the container's output


def test_script_processor(session, sklearn_image, tmp_path):
    from sagemaker.processing import ScriptProcessor
    script = write(tmp_path / "hello.py", "import sys; print('args', sys.argv[1:])\n")
    processor = ScriptProcessor(image_uri=sklearn_uri(), command=["python3"], role=ROLE,
                                instance_type="ml.m5.large", instance_count=1, sagemaker_session=session)
    processor.run(code=str(script), arguments=["a", "b"], wait=True, logs=False)
    assert processor.latest_job.describe()["ProcessingJobStatus"] == "Completed"


def test_framework_processor_with_source_dir(session, sklearn_image, tmp_path):
    from sagemaker.processing import FrameworkProcessor, ProcessingOutput
    from sagemaker.sklearn.estimator import SKLearn
    src = tmp_path / "src"
    src.mkdir()
    write(src / "requirements.txt", "# nothing to install\n")
    write(src / "helper.py", "VALUE = 42\n")
    write(src / "entry.py", """
        import helper, pathlib
        pathlib.Path("/opt/ml/processing/output/value.txt").write_text(str(helper.VALUE))
    """)
    processor = FrameworkProcessor(estimator_cls=SKLearn, framework_version=SKLEARN_VERSION, role=ROLE,
                                   instance_type="ml.m5.large", instance_count=1, sagemaker_session=session)
    out = f"s3://{session.default_bucket()}/framework-out"
    processor.run(code="entry.py", source_dir=str(src), wait=True, logs=False,
                  outputs=[ProcessingOutput(source="/opt/ml/processing/output", destination=out)])
    assert processor.latest_job.describe()["ProcessingJobStatus"] == "Completed"
    body = session.boto_session.client("s3").get_object(Bucket=session.default_bucket(),
                                                         Key="framework-out/value.txt")["Body"].read()
    assert body == b"42"


def test_estimator_with_image_uri_fit(session, tmp_path):
    from sagemaker.estimator import Estimator
    from sagemaker.inputs import TrainingInput
    image = ensure_byo_image()
    s3 = session.boto_session.client("s3")
    s3.put_object(Bucket=session.default_bucket(), Key="data/train/train.csv", Body=b"1,2\n")
    estimator = Estimator(
        image_uri=image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
        output_path=f"s3://{session.default_bucket()}/out", sagemaker_session=session,
        container_entry_point=["sh", "-c", "cp /opt/ml/input/data/train/train.csv /opt/ml/model/ && "
                                           "cat /opt/ml/input/config/hyperparameters.json"],
        hyperparameters={"num_round": 5})
    estimator.fit({"train": TrainingInput(f"s3://{session.default_bucket()}/data/train", content_type="text/csv")},
                  wait=True, logs=True)
    assert read_tar(session.boto_session.client("s3"), estimator.model_data) == {"train.csv": b"1,2\n"}


def test_sklearn_script_mode_training(session, sklearn_image, tmp_path):
    from sagemaker.sklearn.estimator import SKLearn
    s3 = session.boto_session.client("s3")
    rows = "\n".join(f"{i % 2},{i},{i * 2}" for i in range(40))
    s3.put_object(Bucket=session.default_bucket(), Key="iris/train.csv", Body=rows.encode())
    src = tmp_path / "code"
    src.mkdir()
    write(src / "requirements.txt", "\n")
    write(src / "train.py", """
        import argparse, json, os
        import joblib, pandas as pd
        from sklearn.linear_model import LogisticRegression
        if __name__ == "__main__":
            p = argparse.ArgumentParser()
            p.add_argument("--reg", type=float)
            p.add_argument("--model-dir", default=os.environ["SM_MODEL_DIR"])
            p.add_argument("--train", default=os.environ["SM_CHANNEL_TRAIN"])
            a = p.parse_args()
            df = pd.read_csv(os.path.join(a.train, "train.csv"), header=None)
            clf = LogisticRegression(C=a.reg).fit(df.iloc[:, 1:], df.iloc[:, 0])
            joblib.dump(clf, os.path.join(a.model_dir, "model.joblib"))
            json.dump({"hosts": json.loads(os.environ["SM_HOSTS"]), "C": a.reg,
                       "channels": json.loads(os.environ["SM_CHANNELS"])},
                      open(os.path.join(a.model_dir, "info.json"), "w"))
            print("accuracy=%.3f" % clf.score(df.iloc[:, 1:], df.iloc[:, 0]))
    """)
    estimator = SKLearn(entry_point="train.py", source_dir=str(src), framework_version=SKLEARN_VERSION,
                        role=ROLE, instance_type="ml.m5.large", instance_count=1, sagemaker_session=session,
                        hyperparameters={"reg": 0.5},
                        metric_definitions=[{"Name": "train:accuracy", "Regex": r"accuracy=([0-9.]+)"}])
    estimator.fit({"train": f"s3://{session.default_bucket()}/iris/"}, wait=True, logs=True)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Completed"
    assert desc["FinalMetricDataList"][0]["MetricName"] == "train:accuracy"
    files = read_tar(session.boto_session.client("s3"), estimator.model_data)
    assert "model.joblib" in files
    import json
    info = json.loads(files["info.json"])
    assert info == {"hosts": ["algo-1"], "C": 0.5, "channels": ["train"]}


def test_failing_script_surfaces_the_toolkit_error(session, sklearn_image, tmp_path):
    from sagemaker.sklearn.estimator import SKLearn
    src = tmp_path / "bad"
    src.mkdir()
    write(src / "train.py", "raise ValueError('this script is broken')\n")
    estimator = SKLearn(entry_point="train.py", source_dir=str(src), framework_version=SKLEARN_VERSION,
                        role=ROLE, instance_type="ml.m5.large", instance_count=1, sagemaker_session=session)
    from sagemaker.exceptions import UnexpectedStatusException
    with pytest.raises(UnexpectedStatusException) as info:
        estimator.fit(wait=True, logs=False)
    # The toolkit's own failure file: `ExecuteUserScriptError:` ... `Command "..."`
    assert "ExecuteUserScriptError" in str(info.value)
    desc = estimator.latest_training_job.describe()
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("AlgorithmError: ")
    assert "ExecuteUserScriptError" in desc["FailureReason"]
