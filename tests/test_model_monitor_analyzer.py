"""The Model Monitor analyzer and merger as functions: no Docker, no server.

Each job is configured the way the SageMaker SDK configures the real one (its own
`ModelMonitor._generate_env_map` builds the environment), and every reference value is computed
here with pandas, numpy, scipy or scikit-learn from the data itself, never by the analyzer's code.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats as scistats
from sklearn import metrics as sk

from algorithms.model_monitor import analyzer, merge
from tests.monitorhelpers import (
    capture_line,
    churn_like,
    data_quality_run_env,
    ground_truth_line,
    model_quality_run_env,
    utc_hour,
    write_hour_of_capture,
)

ML_TOLERANCE = 1e-9


def sdk_env(**kwargs) -> dict[str, str]:
    from sagemaker.model_monitor.model_monitoring import ModelMonitor
    return ModelMonitor._generate_env_map(env=None, **kwargs)


class Job:
    """One analyzer run in a scratch /opt/ml."""

    def __init__(self, root: Path, env: dict[str, str]):
        self.root, self.output = root / "ml", root / "out"
        self.code = analyzer.main({**env, "output_path": str(self.output)}, ml_root=self.root)

    def json(self, name: str) -> dict:
        return json.loads((self.output / name).read_text())

    @property
    def message(self) -> str:
        return (self.root / "output" / "message").read_text()

    def features(self) -> dict[str, dict]:
        return {f["name"]: f for f in self.json("statistics.json")["features"]}

    def cloudwatch(self) -> list[dict]:
        path = self.root / "output" / "metrics" / "cloudwatch" / "cloudwatch_metrics.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()]


def run(tmp_path: Path, name: str, **env) -> Job:
    (tmp_path / name).mkdir()
    return Job(tmp_path / name, env)


def csv_baseline(tmp_path: Path, frame: pd.DataFrame, name: str = "data", header: bool = True) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    frame.to_csv(folder / "part.csv", index=False, header=header)
    return folder


def sketch_items(sketch: dict) -> tuple[np.ndarray, np.ndarray]:
    """KLL levels as (sorted items, cumulative weights): level h items weigh 2**h."""
    items = np.concatenate([np.asarray(level, dtype=float) for level in sketch["data"]])
    weights = np.concatenate([np.full(len(level), 2.0 ** h) for h, level in enumerate(sketch["data"])])
    order = np.argsort(items, kind="stable")
    return items[order], np.cumsum(weights[order])


# --- contract ------------------------------------------------------------------------------------


def test_the_sdk_environment_names_are_the_ones_the_analyzer_reads(tmp_path):
    data = csv_baseline(tmp_path, pd.DataFrame({"a": [1, 2, 3]}))
    env = sdk_env(dataset_format={"csv": {"header": True, "output_columns_position": "START"}},
                  output_path=str(tmp_path / "ignored"), enable_cloudwatch_metrics=False,
                  dataset_source_container_path=str(data))
    assert set(env) == {"dataset_format", "output_path", "publish_cloudwatch_metrics", "dataset_source"}
    job = run(tmp_path, "job", **env)
    assert job.code == 0
    assert job.message == "Completed: Job completed successfully with no violations."


def test_a_bad_dataset_format_fails_the_job_with_the_reason_as_exit_message(tmp_path):
    job = run(tmp_path, "job", dataset_format='{"xml": {}}', dataset_source=str(tmp_path))
    assert job.code == 1
    assert job.message.startswith("Error: Unsupported dataset_format")


# --- data quality: statistics --------------------------------------------------------------------


def test_statistics_match_pandas_and_the_sketch_is_within_its_rank_error(tmp_path):
    rng = np.random.default_rng(7)
    n = 20_000  # beyond k=2048: the sketch compacts
    frame = pd.DataFrame({
        "count": rng.integers(-50, 500, n),
        "amount": np.round(rng.lognormal(3, 1, n), 4),
        "state": rng.choice(["CA", "NV", "OR"], n),
    })
    frame.loc[rng.choice(n, 700, replace=False), "amount"] = np.nan
    data = csv_baseline(tmp_path, frame)
    job = run(tmp_path, "job", **sdk_env(dataset_format={"csv": {"header": True}},
                                         dataset_source_container_path=str(data)))
    assert job.code == 0
    reference = pd.read_csv(data / "part.csv")  # pandas' own reading of the same file
    stats = job.json("statistics.json")
    assert stats["dataset"] == {"item_count": n}
    features = job.features()
    assert [f["name"] for f in stats["features"]] == ["count", "amount", "state"]
    assert features["count"]["inferred_type"] == "Integral"
    assert features["amount"]["inferred_type"] == "Fractional"
    assert features["state"]["inferred_type"] == "String"
    for name in ("count", "amount"):
        numeric, column = features[name]["numerical_statistics"], reference[name]
        assert numeric["common"] == {"num_present": int(column.count()), "num_missing": int(column.isna().sum())}
        assert numeric["mean"] == column.mean()
        assert numeric["sum"] == column.sum()
        assert numeric["std_dev"] == column.std(ddof=0)
        assert (numeric["min"], numeric["max"]) == (column.min(), column.max())
        buckets = numeric["distribution"]["kll"]["buckets"]
        counts, edges = np.histogram(column.dropna(), bins=10, range=(column.min(), column.max()))
        assert [b["count"] for b in buckets] == counts.tolist()
        assert [b["lower_bound"] for b in buckets] == pytest.approx(edges[:-1].tolist())
        sketch = numeric["distribution"]["kll"]["sketch"]
        assert sketch["parameters"]["k"] == 2048.0
        items, cumulative = sketch_items(sketch)
        values = np.sort(column.dropna().to_numpy())
        assert cumulative[-1] == len(values)
        for q in (0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.99):
            estimate = items[np.searchsorted(cumulative, q * cumulative[-1])]
            low = np.searchsorted(values, estimate, side="left") / len(values)
            high = np.searchsorted(values, estimate, side="right") / len(values)
            assert low - 0.005 <= q <= high + 0.005, (name, q, low, high)  # KLL k=2048: ~0.14% rank error
    strings = features["state"]["string_statistics"]
    assert strings["common"] == {"num_present": n, "num_missing": 0}
    assert strings["distinct_count"] == reference["state"].nunique()
    counts = {b["value"]: b["count"] for b in strings["distribution"]["categorical"]["buckets"]}
    assert counts == reference["state"].value_counts().to_dict()


def test_suggested_constraints_follow_the_profile(tmp_path):
    frame = pd.DataFrame({"x": [1.5, -2.0, 3.0, None], "n": [1, 2, 3, 4], "c": ["a", "b", "a", "b"]})
    job = run(tmp_path, "job", **sdk_env(dataset_format={"csv": {"header": True}},
                                         dataset_source_container_path=str(csv_baseline(tmp_path, frame)),
                                         categorical_drift_method="ChiSquared"))
    constraints = job.json("constraints.json")
    features = {f["name"]: f for f in constraints["features"]}
    assert features["x"] == {"name": "x", "inferred_type": "Fractional", "completeness": 0.75,
                             "num_constraints": {"is_non_negative": False}}
    assert features["n"]["num_constraints"] == {"is_non_negative": True}
    assert features["c"]["string_constraints"] == {"domains": ["a", "b"]}
    config = constraints["monitoring_config"]
    assert config["datatype_check_threshold"] == 1.0
    assert config["distribution_constraints"]["comparison_method"] == "Robust"
    assert config["distribution_constraints"]["categorical_drift_method"] == "ChiSquared"


def test_csv_without_header_and_json_lines_are_read(tmp_path):
    data = csv_baseline(tmp_path, pd.DataFrame({"a": [1, 2], "b": ["x", "y"]}), header=False)
    job = run(tmp_path, "csv", **sdk_env(dataset_format={"csv": {"header": False}},
                                         dataset_source_container_path=str(data)))
    assert [f["name"] for f in job.json("statistics.json")["features"]] == ["_c0", "_c1"]
    folder = tmp_path / "jsonl"
    folder.mkdir()
    (folder / "a.jsonl").write_text('{"z": 1.5, "a": "u"}\n{"z": 2, "a": null}\n')
    job = run(tmp_path, "json", **sdk_env(dataset_format={"json": {"lines": True}},
                                          dataset_source_container_path=str(folder)))
    features = job.features()
    assert list(features) == ["a", "z"]
    assert features["z"]["numerical_statistics"]["mean"] == 1.75
    assert features["a"]["string_statistics"]["common"] == {"num_present": 1, "num_missing": 1}


# --- data quality: captured traffic against a baseline -------------------------------------------


@pytest.fixture
def churn_baseline(tmp_path) -> Job:
    rows = churn_like(np.random.default_rng(1), 2000)
    frame = pd.DataFrame({k: rows[k] for k in ("label", "age", "balance", "calls", "state")})
    return run(tmp_path, "baseline", **sdk_env(dataset_format={"csv": {"header": True}},
                                               dataset_source_container_path=str(csv_baseline(tmp_path, frame))))


def monitoring_env(baseline: Job, capture: Path, hour, **extra) -> dict[str, str]:
    return data_quality_run_env(hour, dataset_source=str(capture), constraints=str(baseline.output / "constraints.json"),
                                statistics=str(baseline.output / "statistics.json"), **extra)


def test_drifted_capture_reports_violations_with_the_ks_distance(tmp_path, churn_baseline):
    hour = utc_hour(1)
    rows = churn_like(np.random.default_rng(2), 600, shift=1.0)
    rows["score"] = rows["label"]  # captured output column compared with the baseline's "label"
    capture = tmp_path / "capture"
    write_hour_of_capture(capture, "churn", hour, rows, files=6)
    job = run(tmp_path, "monitor", **monitoring_env(churn_baseline, capture, hour))
    assert job.code == 0
    found = job.json("constraint_violations.json")["violations"]
    by_feature = {(v["feature_name"], v["constraint_check_type"]): v["description"] for v in found}
    assert job.message == f"CompletedWithViolations: Job completed successfully with {len(found)} violations."
    # The columns were named from the baseline, output first.
    assert [f["name"] for f in job.json("statistics.json")["features"]] == ["label", "age", "balance", "calls",
                                                                            "state"]
    # balance moved by 800 (2.7 sd): the distance is the two-sample KS statistic minus the robust
    # correction, computed here from both samples (each under k items, so the sketches are exact).
    baseline = pd.read_csv(tmp_path / "data" / "part.csv")
    current = rows["balance"]
    d = scistats.ks_2samp(baseline["balance"], current).statistic
    n, m = len(baseline), len(current)
    expected = max(0.0, d - 1.8 * math.sqrt((n + m) / (n * m)))
    description = by_feature[("balance", "baseline_drift_check")]
    assert description.startswith("Baseline drift distance: ") and description.endswith(" exceeds threshold: 0.1")
    assert float(description.split()[3]) == pytest.approx(expected, abs=1e-12)
    assert ("age", "baseline_drift_check") not in by_feature  # same distribution
    assert ("label", "data_type_check") not in by_feature


def test_type_completeness_domain_and_column_checks(tmp_path, churn_baseline):
    hour = utc_hour(2)
    capture = tmp_path / "capture" / "churn" / "AllTraffic" / hour.strftime("%Y/%m/%d/%H")
    capture.mkdir(parents=True)
    lines = []
    for i in range(200):
        age = "old" if i < 10 else str(30 + i % 40)  # 5% not Integral
        balance = "" if i % 4 == 0 else f"{1000 + i}.5"  # 75% complete
        state = "TX" if i % 2 else "CA"  # half outside the baseline's domain
        lines.append(capture_line([age, balance, 3, state, "extra"], "1", when=hour))
    (capture / "00-00-000-a.jsonl").write_text("\n".join(lines) + "\n")
    job = run(tmp_path, "monitor", **monitoring_env(churn_baseline, tmp_path / "capture", hour))
    checks = {(v["feature_name"], v["constraint_check_type"]): v["description"]
              for v in job.json("constraint_violations.json")["violations"]}
    assert checks[("age", "data_type_check")] == (
        "Data type match requirement is not met. Expected data type: Integral, Expected match: 100.0%. "
        "Observed: Only 95.0% of data is Integral.")
    assert checks[("balance", "completeness_check")] == (
        "Data completeness requirement is not met. Expected completeness: 100.0%. Observed: Only 75.0% of data "
        "is present.")
    assert "Only 50.0% of data is within the domain" in checks[("state", "categorical_values_check")]
    assert ("_c5", "extra_column_check") in checks


def test_a_missing_column_is_reported(tmp_path, churn_baseline):
    hour = utc_hour(3)
    folder = tmp_path / "capture" / "churn" / "AllTraffic" / hour.strftime("%Y/%m/%d/%H")
    folder.mkdir(parents=True)
    (folder / "a.jsonl").write_text(capture_line([40, 1000.5], "1", when=hour) + "\n")
    job = run(tmp_path, "monitor", **monitoring_env(churn_baseline, tmp_path / "capture", hour))
    checks = {(v["feature_name"], v["constraint_check_type"]) for v in job.json("constraint_violations.json")["violations"]}
    assert {("calls", "missing_column_check"), ("state", "missing_column_check")} <= checks


def test_records_outside_the_window_are_not_analysed(tmp_path, churn_baseline):
    hour = utc_hour(4)
    folder = tmp_path / "capture"
    folder.mkdir()
    inside = [capture_line([40, 1000.5, 3, "CA"], "1", when=hour.replace(minute=m)) for m in range(5)]
    outside = [capture_line([40, 1000.5, 3, "CA"], "1", when=hour.replace(hour=(hour.hour + 1) % 24))]
    (folder / "a.jsonl").write_text("\n".join(inside + outside) + "\n")
    job = run(tmp_path, "monitor", **monitoring_env(churn_baseline, folder, hour))
    assert job.json("statistics.json")["dataset"]["item_count"] == 5


def test_cloudwatch_metrics_are_written_as_metric_datums(tmp_path, churn_baseline):
    hour = utc_hour(5)
    rows = churn_like(np.random.default_rng(3), 300)
    write_hour_of_capture(tmp_path / "capture", "churn", hour, rows, files=3)
    job = run(tmp_path, "monitor", **monitoring_env(churn_baseline, tmp_path / "capture", hour))
    datums = {d["MetricName"]: d for d in job.cloudwatch()}
    age = datums["feature_data_age"]
    assert age["Timestamp"] == f"{hour:%Y-%m-%dT%H:%M:%SZ}"
    assert age["Dimensions"] == [{"Name": "Endpoint", "Value": "churn"}, {"Name": "Feature", "Value": "age"},
                                 {"Name": "MonitoringSchedule", "Value": "hourly"}]
    assert age["StatisticValues"] == {"SampleCount": 300.0, "Sum": float(rows["age"].sum()),
                                      "Minimum": float(rows["age"].min()), "Maximum": float(rows["age"].max())}
    assert datums["feature_non_null_state"]["Value"] == 300.0
    assert datums["feature_completeness_balance"]["Value"] == 1.0
    assert "feature_baseline_drift_balance" in datums


def test_without_publishing_no_metrics_file_is_written(tmp_path, churn_baseline):
    hour = utc_hour(6)
    write_hour_of_capture(tmp_path / "capture", "churn", hour, churn_like(np.random.default_rng(4), 50), files=1)
    job = run(tmp_path, "monitor", **monitoring_env(churn_baseline, tmp_path / "capture", hour,
                                                   publish_cloudwatch_metrics="Disabled"))
    assert job.code == 0
    assert not (job.root / "output" / "metrics").exists()


# --- user scripts --------------------------------------------------------------------------------


def test_preprocessor_and_postprocessor_scripts_are_honoured(tmp_path):
    hour = utc_hour(1)
    folder = tmp_path / "capture"
    folder.mkdir()
    lines = [capture_line([i, i * 2], "0.5", when=hour, inference_id=str(i)) for i in range(10)]
    (folder / "a.jsonl").write_text("\n".join(lines) + "\n")
    scripts = tmp_path / "scripts"
    scripts.mkdir()
    (scripts / "pre.py").write_text(
        "def preprocess_handler(inference_record, logger):\n"
        "    logger.info('record %s', inference_record.event_metadata.inference_id)\n"
        "    values = inference_record.endpoint_input.data.split(',')\n"
        "    if int(values[0]) % 2:\n"
        "        return []  # custom sampling: skip odd records\n"
        "    return {'first': values[0], 'doubled': int(values[1]) * 2,\n"
        "            'output': inference_record.event_data.endpointOutput.data}\n")
    marker = tmp_path / "post-ran"
    (scripts / "post.py").write_text(
        f"def postprocess_handler():\n    open({str(marker)!r}, 'w').write('done')\n")
    job = run(tmp_path, "job", **sdk_env(dataset_format={"sagemakerCaptureJson": {}},
                                         dataset_source_container_path=str(folder),
                                         record_preprocessor_script_container_path=str(scripts / "pre.py"),
                                         post_processor_script_container_path=str(scripts / "post.py")))
    assert job.code == 0
    features = job.features()
    assert list(features) == ["doubled", "first", "output"]
    assert job.json("statistics.json")["dataset"]["item_count"] == 5
    assert features["doubled"]["numerical_statistics"]["sum"] == sum(i * 4 for i in range(0, 10, 2))
    assert marker.read_text() == "done"


def test_a_failing_preprocessor_fails_the_job(tmp_path):
    folder = tmp_path / "capture"
    folder.mkdir()
    (folder / "a.jsonl").write_text(capture_line([1], "0", when=utc_hour()) + "\n")
    (tmp_path / "pre.py").write_text("def preprocess_handler(record):\n    raise ValueError('boom')\n")
    job = run(tmp_path, "job", **sdk_env(dataset_format={"sagemakerCaptureJson": {}},
                                         dataset_source_container_path=str(folder),
                                         record_preprocessor_script_container_path=str(tmp_path / "pre.py")))
    assert job.code == 1
    assert job.message == ("Error: There is an exception raised in preprocessor script. Please double check "
                           "the preprocessor script.")


# --- model quality -------------------------------------------------------------------------------


def model_quality_job(tmp_path: Path, frame: pd.DataFrame, problem: str, name: str = "mq", **attributes) -> Job:
    data = csv_baseline(tmp_path, frame, name=f"{name}-data")
    env = sdk_env(dataset_format={"csv": {"header": True, "output_columns_position": "START"}},
                  dataset_source_container_path=str(data), analysis_type="MODEL_QUALITY",
                  problem_type=problem, **attributes)
    return run(tmp_path, name, **env)


def values(section: dict) -> dict[str, float]:
    return {k: v["value"] for k, v in section.items() if isinstance(v, dict) and "value" in v}


def test_binary_classification_metrics_match_scikit_learn(tmp_path):
    rng = np.random.default_rng(11)
    n = 1500
    truth = rng.integers(0, 2, n)
    probability = np.clip(truth * 0.35 + rng.random(n) * 0.65, 0, 1).round(6)
    predicted = (probability >= 0.5).astype(int)
    frame = pd.DataFrame({"label": truth, "prediction": predicted, "probability": probability})
    job = model_quality_job(tmp_path, frame, "BinaryClassification", inference_attribute="prediction",
                            probability_attribute="probability", ground_truth_attribute="label")
    assert job.code == 0
    section = job.json("statistics.json")["binary_classification_metrics"]
    got = values(section)
    ones = np.ones(n, dtype=int)
    tn, fp, fn, tp = sk.confusion_matrix(truth, predicted).ravel()
    expected = {
        "accuracy": sk.accuracy_score(truth, predicted), "precision": sk.precision_score(truth, predicted),
        "recall": sk.recall_score(truth, predicted), "f0_5": sk.fbeta_score(truth, predicted, beta=0.5),
        "f1": sk.f1_score(truth, predicted), "f2": sk.fbeta_score(truth, predicted, beta=2),
        "auc": sk.roc_auc_score(truth, probability), "true_positive_rate": tp / (tp + fn),
        "true_negative_rate": tn / (tn + fp), "false_positive_rate": fp / (fp + tn),
        "false_negative_rate": fn / (fn + tp),
        "accuracy_best_constant_classifier": sk.accuracy_score(truth, ones),
        "precision_best_constant_classifier": sk.precision_score(truth, ones),
        "recall_best_constant_classifier": 1.0, "f1_best_constant_classifier": sk.f1_score(truth, ones),
        "f0_5_best_constant_classifier": sk.fbeta_score(truth, ones, beta=0.5),
        "f2_best_constant_classifier": sk.fbeta_score(truth, ones, beta=2),
    }
    for name, value in expected.items():
        assert got[name] == pytest.approx(value, abs=ML_TOLERANCE), name
    precision, recall, _ = sk.precision_recall_curve(truth, probability)
    assert got["au_prc"] == pytest.approx(sk.auc(recall, precision), abs=ML_TOLERANCE)
    assert section["confusion_matrix"] == {"0": {"0": int(tn), "1": int(fp)}, "1": {"0": int(fn), "1": int(tp)}}
    fpr, tpr, _ = sk.roc_curve(truth, probability)
    assert section["receiver_operating_characteristic_curve"]["false_positive_rates"] == pytest.approx(fpr.tolist())
    assert section["receiver_operating_characteristic_curve"]["true_positive_rates"] == pytest.approx(tpr.tolist())
    assert section["precision_recall_curve"]["recalls"] == pytest.approx(recall[::-1].tolist())
    deviations = [v["standard_deviation"] for v in section.values() if isinstance(v, dict) and "value" in v]
    assert all(isinstance(d, float) and 0 <= d < 0.1 for d in deviations)  # 5 resamples of 80%, n >= 200
    constraints = job.json("constraints.json")["binary_classification_constraints"]
    assert constraints["f1"] == {"threshold": got["f1"], "comparison_operator": "LessThanThreshold"}
    assert constraints["false_positive_rate"]["comparison_operator"] == "GreaterThanThreshold"


def test_the_developer_guides_binary_example_is_reproduced(tmp_path):
    # confusion {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}} from model-monitor-model-quality-metrics
    frame = pd.DataFrame({"label": [0, 0, 0, 1], "prediction": [0, 1, 1, 1]})
    job = model_quality_job(tmp_path, frame, "BinaryClassification", inference_attribute="prediction",
                            ground_truth_attribute="label")
    section = job.json("statistics.json")["binary_classification_metrics"]
    assert section["confusion_matrix"] == {"0": {"0": 1, "1": 2}, "1": {"0": 0, "1": 1}}
    documented = {"recall": 1.0, "precision": 0.3333333333333333, "accuracy": 0.5,
                  "recall_best_constant_classifier": 1.0, "precision_best_constant_classifier": 0.25,
                  "accuracy_best_constant_classifier": 0.25, "true_positive_rate": 1.0,
                  "true_negative_rate": 0.33333333333333337, "false_positive_rate": 0.6666666666666666,
                  "false_negative_rate": 0.0, "f0_5": 0.3846153846153846, "f1": 0.5, "f2": 0.7142857142857143,
                  "f0_5_best_constant_classifier": 0.29411764705882354, "f1_best_constant_classifier": 0.4,
                  "f2_best_constant_classifier": 0.625}
    got = values(section)
    for name, value in documented.items():
        assert got[name] == pytest.approx(value, abs=ML_TOLERANCE), name
    assert section["f1"]["standard_deviation"] == "NaN"  # fewer than 200 records


def test_the_developer_guides_multiclass_example_is_reproduced(tmp_path):
    pairs = [(0, 0)] * 1180 + [(0, 1)] * 510 + [(1, 0)] * 268 + [(1, 1)] * 138
    frame = pd.DataFrame(pairs, columns=["label", "prediction"])
    job = model_quality_job(tmp_path, frame, "MulticlassClassification", inference_attribute="prediction",
                            ground_truth_attribute="label")
    section = job.json("statistics.json")["multiclass_classification_metrics"]
    assert section["confusion_matrix"] == {"0": {"0": 1180, "1": 510}, "1": {"0": 268, "1": 138}}
    documented = {"accuracy": 0.6288167938931297, "weighted_recall": 0.6288167938931297,
                  "weighted_precision": 0.6983172269629505, "weighted_f0_5": 0.6803947317178771,
                  "weighted_f1": 0.6571162346664904, "weighted_f2": 0.6384024354394601,
                  "accuracy_best_constant_classifier": 0.19370229007633588,
                  "weighted_recall_best_constant_classifier": 0.19370229007633588,
                  "weighted_precision_best_constant_classifier": 0.03752057718081697,
                  "weighted_f0_5_best_constant_classifier": 0.04473443104152011,
                  "weighted_f1_best_constant_classifier": 0.06286421244683643,
                  "weighted_f2_best_constant_classifier": 0.10570313141262414}
    got = values(section)
    for name, value in documented.items():
        assert got[name] == pytest.approx(value, abs=ML_TOLERANCE), name


def test_multiclass_and_regression_metrics_match_scikit_learn(tmp_path):
    rng = np.random.default_rng(5)
    truth = rng.choice(["cat", "dog", "fish"], 900)
    predicted = np.where(rng.random(900) < 0.7, truth, rng.choice(["cat", "dog", "fish"], 900))
    job = model_quality_job(tmp_path, pd.DataFrame({"y": truth, "p": predicted}), "MulticlassClassification",
                            name="multi", inference_attribute="p", ground_truth_attribute="y")
    got = values(job.json("statistics.json")["multiclass_classification_metrics"])
    assert got["accuracy"] == pytest.approx(sk.accuracy_score(truth, predicted), abs=ML_TOLERANCE)
    for beta, name in ((0.5, "weighted_f0_5"), (1, "weighted_f1"), (2, "weighted_f2")):
        assert got[name] == pytest.approx(sk.fbeta_score(truth, predicted, beta=beta, average="weighted"),
                                          abs=ML_TOLERANCE)
    assert got["weighted_precision"] == pytest.approx(sk.precision_score(truth, predicted, average="weighted"),
                                                      abs=ML_TOLERANCE)
    y = rng.normal(10, 3, 500).round(5)
    yhat = (y + rng.normal(0, 1, 500)).round(5)
    job = model_quality_job(tmp_path, pd.DataFrame({"y": y, "yhat": yhat}), "Regression", name="reg",
                            inference_attribute="yhat", ground_truth_attribute="y")
    got = values(job.json("statistics.json")["regression_metrics"])
    assert got["mae"] == pytest.approx(sk.mean_absolute_error(y, yhat), abs=ML_TOLERANCE)
    assert got["mse"] == pytest.approx(sk.mean_squared_error(y, yhat), abs=ML_TOLERANCE)
    assert got["rmse"] == pytest.approx(math.sqrt(sk.mean_squared_error(y, yhat)), abs=ML_TOLERANCE)
    assert got["r2"] == pytest.approx(sk.r2_score(y, yhat), abs=ML_TOLERANCE)
    constraints = job.json("constraints.json")["regression_constraints"]
    assert constraints["mae"]["comparison_operator"] == "GreaterThanThreshold"
    assert constraints["r2"]["comparison_operator"] == "LessThanThreshold"


def test_ground_truth_merge_then_model_quality_against_a_baseline(tmp_path):
    """Two jobs, as a scheduled model quality run is: merge on inferenceId (else eventId), then analyse."""
    rng = np.random.default_rng(9)
    hour = utc_hour(1)
    rows = churn_like(rng, 400)
    capture = tmp_path / "capture"
    ids = write_hour_of_capture(capture, "churn", hour, rows, files=4, with_inference_ids=False)
    # Labels disagree with the model much more often than in the baseline: decay.
    labels = np.where(rng.random(400) < 0.5, 1 - (rows["score"] >= 0.5), rows["label"]).astype(int)
    truth_folder = tmp_path / "groundtruth" / hour.strftime("%Y/%m/%d/%H")
    truth_folder.mkdir(parents=True)
    (truth_folder / "labels.jsonl").write_text(
        "\n".join(ground_truth_line(ids[i], str(labels[i])) for i in range(350)) + "\n")
    merged = tmp_path / "merged"
    assert merge.main({"dataset_source": str(capture), "ground_truth_source": str(tmp_path / "groundtruth"),
                       "output_path": str(merged)}) == 0
    merged_files = sorted(merged.rglob("*.jsonl"))
    assert merged_files and all(f.relative_to(merged).parts[:2] == ("churn", "AllTraffic") for f in merged_files)
    first = json.loads(merged_files[0].read_text().splitlines()[0])
    assert first["groundTruthData"]["encoding"] == "CSV" and "captureData" in first

    good = pd.DataFrame({"label": rows["label"], "probability": rows["score"].round(6)})
    baseline = model_quality_job(tmp_path, good, "BinaryClassification", name="baseline",
                                 probability_attribute="probability", probability_threshold_attribute=0.5,
                                 ground_truth_attribute="label")
    env = model_quality_run_env(hour, dataset_source=str(merged), schedule="mq",
                                baseline_constraints=str(baseline.output / "constraints.json"))
    job = run(tmp_path, "monitor", **env)
    assert job.code == 0
    stats = job.json("statistics.json")
    assert stats["dataset"]["item_count"] == 350
    section = stats["binary_classification_metrics"]
    predicted = (rows["score"][:350].round(6) >= 0.5).astype(int)
    assert values(section)["f1"] == pytest.approx(sk.f1_score(labels[:350], predicted), abs=ML_TOLERANCE)
    found = {v["metric_name"]: v for v in job.json("constraint_violations.json")["violations"]}
    f1, threshold = values(section)["f1"], baseline.json("constraints.json")["binary_classification_constraints"][
        "f1"]["threshold"]
    assert found["f1"] == {"constraint_check_type": "LessThanThreshold", "metric_name": "f1",
                           "description": f"Metric f1 with {f1!r} was LessThanThreshold {threshold!r}"}
    assert job.message == f"CompletedWithViolations: Job completed successfully with {len(found)} violations."
    metrics = {d["MetricName"]: d for d in job.cloudwatch()}
    assert metrics["f1"]["Value"] == f1
    assert metrics["f1"]["Dimensions"] == [{"Name": "Endpoint", "Value": "churn"},
                                           {"Name": "MonitoringSchedule", "Value": "mq"}]


def test_merge_prefers_inference_id_over_event_id(tmp_path):
    hour = utc_hour(1)
    capture = tmp_path / "capture"
    capture.mkdir()
    (capture / "a.jsonl").write_text("\n".join([
        capture_line([1], "1", when=hour, inference_id="inf-1", event_id="ev-1"),
        capture_line([2], "0", when=hour, event_id="ev-2"),
        capture_line([3], "0", when=hour, inference_id="inf-3", event_id="ev-3")]) + "\n")
    truth = tmp_path / "gt"
    truth.mkdir()
    (truth / "t.jsonl").write_text("\n".join([ground_truth_line("inf-1", "1"), ground_truth_line("ev-2", "0"),
                                              ground_truth_line("ev-3", "1")]) + "\n")
    seen, merged = merge.merge(capture, truth, tmp_path / "out")
    assert (seen, merged) == (3, 2)  # ev-3 does not match: that capture has an inferenceId
    joined = [json.loads(line) for line in (tmp_path / "out" / "a.jsonl").read_text().splitlines()]
    assert [r["eventMetadata"]["eventId"] for r in joined] == ["ev-1", "ev-2"]


@pytest.mark.parametrize("method", ["LInfinity", "ChiSquared"])
def test_categorical_drift_by_either_method(tmp_path, method):
    rng = np.random.default_rng(12)
    before = pd.DataFrame({"state": rng.choice(["CA", "NV", "OR"], 3000, p=[0.5, 0.3, 0.2])})
    after = pd.DataFrame({"state": rng.choice(["CA", "NV", "OR"], 1000, p=[0.2, 0.3, 0.5])})
    baseline = run(tmp_path, "baseline", **sdk_env(dataset_format={"csv": {"header": True}},
                                                   dataset_source_container_path=str(csv_baseline(tmp_path, before)),
                                                   categorical_drift_method=method))
    current = csv_baseline(tmp_path, after, name="current")
    job = run(tmp_path, "monitor", **sdk_env(dataset_format={"csv": {"header": True}},
                                             dataset_source_container_path=str(current)),
              baseline_constraints=str(baseline.output / "constraints.json"),
              baseline_statistics=str(baseline.output / "statistics.json"))
    drift = [v["description"] for v in job.json("constraint_violations.json")["violations"]
             if v["constraint_check_type"] == "baseline_drift_check"]
    p, q = before["state"].value_counts(normalize=True), after["state"].value_counts(normalize=True)
    if method == "LInfinity":
        n, m = len(before), len(after)
        expected = (p - q).abs().max() - 1.8 * math.sqrt((n + m) / (n * m))
        assert float(drift[0].split()[3]) == pytest.approx(expected, abs=1e-12)
    else:
        counts = after["state"].value_counts()
        p_value = float(scistats.chisquare(counts[p.index], p * len(after)).pvalue)
        assert drift == [f"Baseline drift p-value: {p_value!r} is below threshold: 0.1"]


def test_only_the_first_host_of_a_multi_instance_job_analyses(tmp_path):
    data = csv_baseline(tmp_path, pd.DataFrame({"a": [1, 2, 3]}))
    config = tmp_path / "job" / "ml" / "config"
    config.mkdir(parents=True)
    (config / "resourceconfig.json").write_text(json.dumps({"current_host": "algo-2", "hosts": ["algo-1", "algo-2"]}))
    job = Job(tmp_path / "job", sdk_env(dataset_format={"csv": {"header": True}},
                                        dataset_source_container_path=str(data)))
    assert job.code == 0
    assert not job.output.exists()
