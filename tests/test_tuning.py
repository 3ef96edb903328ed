"""Hyperparameter tuning jobs.

In-process tests drive emulator.core.tuning with the job runtime switched off and play the part of
the training containers themselves (finishing each training job with a score computed from its
hyperparameters), so strategies, limits, counters, stop and restart are checked fast and exactly.
The docker tests run real tuning jobs against a live emulator through boto3, the SageMaker SDK's
HyperparameterTuner and a pipeline Tuning step.
"""

from __future__ import annotations

import io
import json
import math
import re
import time

import pytest

from emulator.aws.errors import ResourceInUse, ResourceNotFound, ValidationException
from emulator.config import Settings
from emulator.core import jobs, tuning
from emulator.core.jobs import TRAINING
from emulator.core.services import Services
from emulator.server import start_runtime
from emulator.testing.waiting import wait_for_status, wait_until
from tests.jobhelpers import BARRIER_ENV, ROLE, barrier, unique

METRIC_REGEX = r"score=([-+0-9.eE]+)"


# --- in-process: helpers ---------------------------------------------------------------------------


def definition(**extra) -> dict:
    body = {
        "StaticHyperParameters": {"static": "1"},
        "AlgorithmSpecification": {"TrainingImage": "tuning-test:1", "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "score", "Regex": METRIC_REGEX}]},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": "s3://bucket/out"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }
    body.update(extra)
    return body


def request(name: str, *, strategy="Random", max_jobs=6, parallel=2, objective="Maximize", ranges=None,
            seed=11, config=None, **extra) -> dict:
    limits = {"MaxParallelTrainingJobs": parallel}
    if max_jobs is not None:
        limits["MaxNumberOfTrainingJobs"] = max_jobs
    cfg = {"Strategy": strategy, "RandomSeed": seed, "ResourceLimits": limits,
           "HyperParameterTuningJobObjective": {"Type": objective, "MetricName": "score"},
           "ParameterRanges": ranges if ranges is not None else {
               "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "10",
                                              "ScalingType": "Linear"}],
               "IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "5"}]}}
    cfg.update(config or {})
    req = {"HyperParameterTuningJobName": name, "HyperParameterTuningJobConfig": cfg}
    if "TrainingJobDefinitions" not in extra:
        req["TrainingJobDefinition"] = extra.pop("TrainingJobDefinition", definition())
    req.update(extra)
    return req


def score(hp: dict) -> float:
    """The objective every simulated training job reports: best at x = 3, n = 2."""
    return -(float(hp.get("x", 3)) - 3) ** 2 - (int(hp.get("n", 2)) - 2) ** 2


def play(services, name, *, fn=score, fail=lambda hp: False, keep_running=0, timeout=30.0,
         until=("Completed", "Failed", "Stopped"), on_tick=None) -> dict:
    """Act as the training containers: finish every InProgress job of the tuning job (at most
    `keep_running` left running) and stop Stopping ones, until the tuning job reaches `until`."""
    def tick() -> dict | None:
        body = tuning.describe_tuning_job(services, name)
        if body["HyperParameterTuningJobStatus"] in until:
            return body
        if on_tick is not None:
            on_tick()
        mine = [j for j in services.records.list("TrainingJob") if j.get("TuningJobArn") == body[tuning.ARN]]
        active = [j for j in mine if j["TrainingJobStatus"] == "InProgress"]
        for job in active[keep_running:]:
            job_name = job["TrainingJobName"]
            jobs.mark_started(services, TRAINING, job_name)
            if fail(job["HyperParameters"]):
                jobs.finish_job(services, TRAINING, job_name, "Failed", failure_reason="AlgorithmError: boom")
            else:
                jobs.finish_job(services, TRAINING, job_name, "Completed", final_metrics=[
                    {"MetricName": "score", "Value": fn(job["HyperParameters"]), "Timestamp": time.time()}])
        for job in mine:
            if job["TrainingJobStatus"] == "Stopping":
                jobs.finish_job(services, TRAINING, job["TrainingJobName"], "Stopped")
        return None
    return wait_until(tick, timeout=timeout, interval=0.02, what=f"tuning job {name} in {until}")


def summaries(services, name, **req) -> list[dict]:
    out, token = [], None
    while True:
        page, token = tuning.list_training_jobs_for_tuning_job(
            services, {"HyperParameterTuningJobName": name, "MaxResults": 100, **req,
                       **({"NextToken": token} if token else {})})
        out += page
        if not token:
            return out


# --- in-process: behaviour -----------------------------------------------------------------------

def test_random_search_names_counters_best_and_hyperparameters(services):
    arn = tuning.create_tuning_job(services, "us-east-1", request("rand", max_jobs=6))[tuning.ARN]
    assert arn == "arn:aws:sagemaker:us-east-1:000000000000:hyper-parameter-tuning-job/rand"
    desc = play(services, "rand")
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"] == {"Completed": 6, "InProgress": 0, "RetryableError": 0,
                                                 "NonRetryableError": 0, "Stopped": 0}
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 6, "Pending": 0, "Failed": 0}
    assert desc["HyperParameterTuningEndTime"] >= desc["CreationTime"]
    listed = summaries(services, "rand")
    names = [s["TrainingJobName"] for s in listed]
    assert names == sorted(names)  # SortBy Name, SortOrder Ascending by default
    for number, s in enumerate(listed, 1):
        assert re.fullmatch(rf"rand-{number:03d}-[0-9a-f]{{8}}", s["TrainingJobName"])
        assert s["TuningJobName"] == "rand" and s["ObjectiveStatus"] == "Succeeded"
        hp = s["TunedHyperParameters"]
        assert set(hp) == {"x", "n"} and 0 <= float(hp["x"]) <= 10 and hp["n"] in {"1", "2", "3", "4", "5"}
        assert s["FinalHyperParameterTuningJobObjectiveMetric"] == {"MetricName": "score", "Value": score(hp)}
        job = jobs.get_job(services, TRAINING, s["TrainingJobName"])
        assert job["TuningJobArn"] == arn
        assert job["HyperParameters"] == {"static": "1", **hp, "_tuning_objective_metric": "score"}
    best = max(listed, key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"])
    assert desc["BestTrainingJob"] == best
    ranked = summaries(services, "rand", SortBy="FinalObjectiveMetricValue", SortOrder="Descending")
    assert ranked[0] == best
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in ranked]
    assert values == sorted(values, reverse=True)
    # The same RandomSeed draws the same candidates.
    tuning.create_tuning_job(services, "us-east-1", request("rand2", max_jobs=6))
    play(services, "rand2")
    assert [s["TunedHyperParameters"] for s in summaries(services, "rand2")] == \
        [s["TunedHyperParameters"] for s in listed]


def test_scaling_types_stay_in_range_and_follow_their_scale():
    import random
    params, _ = tuning.parse_ranges({
        "ContinuousParameterRanges": [
            {"Name": "lin", "MinValue": "0.001", "MaxValue": "1", "ScalingType": "Linear"},
            {"Name": "log", "MinValue": "0.001", "MaxValue": "1", "ScalingType": "Logarithmic"},
            {"Name": "rev", "MinValue": "0.9", "MaxValue": "0.999", "ScalingType": "ReverseLogarithmic"},
            {"Name": "auto", "MinValue": "0.0001", "MaxValue": "1", "ScalingType": "Auto"}],
        "IntegerParameterRanges": [{"Name": "ilog", "MinValue": "1", "MaxValue": "1000",
                                    "ScalingType": "Logarithmic"}],
        "CategoricalParameterRanges": [{"Name": "cat", "Values": ["a", "b"]}]})
    by_name = {p.name: p for p in params}
    rng = random.Random(1)
    draws = {p.name: [p.sample(rng) for _ in range(2000)] for p in params}
    lin = [float(v) for v in draws["lin"]]
    log = [float(v) for v in draws["log"]]
    rev = [float(v) for v in draws["rev"]]
    assert all(0.001 <= v <= 1 for v in lin + log) and all(0.9 <= v <= 0.999 for v in rev)
    assert sum(v < 0.1 for v in lin) < 300 and sum(v < 0.1 for v in log) > 1000   # log favours small values
    assert sum(v > 0.99 for v in rev) > 800                                        # reverse log: near 1
    assert by_name["auto"].scaling == "Logarithmic"
    assert all(v.isdigit() and 1 <= int(v) <= 1000 for v in draws["ilog"])
    assert sum(int(v) < 32 for v in draws["ilog"]) > 800
    assert set(draws["cat"]) == {"a", "b"}


def test_bayesian_search_converges_with_optuna(services):
    late = {}
    for strategy in ("Bayesian", "Random"):
        name = strategy.lower()
        req = request(name, strategy=strategy, max_jobs=24, parallel=1, seed=3, ranges={
            "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "10"}]})
        tuning.create_tuning_job(services, "us-east-1", req)
        desc = play(services, name, timeout=60)
        assert desc["HyperParameterTuningJobStatus"] == "Completed"
        assert desc["ObjectiveStatusCounters"]["Succeeded"] == 24
        xs = [float(s["TunedHyperParameters"]["x"]) for s in summaries(services, name)]
        late[strategy] = sum(abs(x - 3) for x in xs[8:]) / 16
        if strategy == "Bayesian":
            assert abs(float(desc["BestTrainingJob"]["TunedHyperParameters"]["x"]) - 3) < 0.5
    # Once TPE has a model its candidates concentrate around the optimum (x = 3); random ones do not.
    assert late["Bayesian"] < 0.7 * late["Random"], late


def test_grid_runs_every_combination_and_the_best_is_known(services):
    ranges = {"CategoricalParameterRanges": [{"Name": "x", "Values": ["1", "3", "5"]},
                                             {"Name": "n", "Values": ["1", "2"]}]}
    tuning.create_tuning_job(services, "us-east-1",
                             request("grid", strategy="Grid", max_jobs=None, parallel=3, ranges=ranges))
    desc = play(services, "grid")
    combos = {(s["TunedHyperParameters"]["x"], s["TunedHyperParameters"]["n"])
              for s in summaries(services, "grid")}
    assert combos == {(x, n) for x in ("1", "3", "5") for n in ("1", "2")}
    assert desc["BestTrainingJob"]["TunedHyperParameters"] == {"x": "3", "n": "2"}
    with pytest.raises(ValidationException, match="categorical"):
        tuning.create_tuning_job(services, "us-east-1", request("grid2", strategy="Grid", max_jobs=None))
    with pytest.raises(ValidationException, match="combinations"):
        tuning.create_tuning_job(services, "us-east-1",
                                 request("grid3", strategy="Grid", max_jobs=4, ranges=ranges))


def test_hyperband_searches_like_random_and_minimize_picks_the_lowest(services):
    req = request("hb", strategy="Hyperband", objective="Minimize", max_jobs=5, config={
        "StrategyConfig": {"HyperbandStrategyConfig": {"MinResource": 1, "MaxResource": 3}}})
    tuning.create_tuning_job(services, "us-east-1", req)
    desc = play(services, "hb")
    values = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in summaries(services, "hb")]
    assert desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == min(values)
    ranked = summaries(services, "hb", SortBy="FinalObjectiveMetricValue")  # Ascending by default
    assert ranked[0]["TrainingJobName"] == desc["BestTrainingJob"]["TrainingJobName"]


def test_parallelism_limit_is_respected(services):
    tuning.create_tuning_job(services, "us-east-1", request("par", max_jobs=7, parallel=3))
    running = lambda: [j for j in services.records.list("TrainingJob")
                       if j["TrainingJobStatus"] == "InProgress"]
    wait_until(lambda: len(running()) == 3)
    assert len(services.records.list("TrainingJob")) == 3
    peak = []
    desc = play(services, "par", on_tick=lambda: peak.append(len(running())))
    assert max(peak) <= 3
    assert desc["TrainingJobStatusCounters"]["Completed"] == 7


def test_failures_counters_and_no_training_job_succeeded(services):
    # Two of six fail: counted, excluded from the best, the tuning job still completes.
    tuning.create_tuning_job(services, "us-east-1", request("somefail", max_jobs=6, parallel=1))
    seen = []

    def fail(hp):
        seen.append(hp)
        return len(seen) in (2, 4)
    desc = play(services, "somefail", fail=fail)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"]["NonRetryableError"] == 2
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 2}
    failed = summaries(services, "somefail", StatusEquals="Failed")
    assert len(failed) == 2 and all(s["ObjectiveStatus"] == "Failed" and s["FailureReason"] for s in failed)
    assert len(summaries(services, "somefail", SortBy="FinalObjectiveMetricValue")) == 4

    # Nothing succeeds: AWS gives up after 5 attempts and fails the tuning job.
    tuning.create_tuning_job(services, "us-east-1", request("allfail", max_jobs=20, parallel=2))
    desc = play(services, "allfail", fail=lambda hp: True)
    assert desc["HyperParameterTuningJobStatus"] == "Failed"
    assert desc["FailureReason"].startswith("No training job succeeded after ")
    assert 5 <= desc["TrainingJobStatusCounters"]["NonRetryableError"] <= 6
    assert "BestTrainingJob" not in desc


def test_completion_criteria_end_the_search_early(services):
    req = request("target", max_jobs=50, parallel=1, ranges={
        "CategoricalParameterRanges": [{"Name": "x", "Values": ["3"]}]},
        config={"TuningJobCompletionCriteria": {"TargetObjectiveMetricValue": -1.0}})
    tuning.create_tuning_job(services, "us-east-1", req)
    desc = play(services, "target")
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"]["Completed"] == 1
    criteria = {"BestObjectiveNotImproving": {"MaxNumberOfTrainingJobsNotImproving": 3}}
    req = request("plateau", max_jobs=50, parallel=1, config={"TuningJobCompletionCriteria": criteria})
    tuning.create_tuning_job(services, "us-east-1", req)
    desc = play(services, "plateau", fn=lambda hp: 1.0)  # the first job is never beaten
    assert desc["TrainingJobStatusCounters"]["Completed"] == 4
    assert desc["TuningJobCompletionDetails"] == {"NumberOfTrainingJobsObjectiveNotImproving": 3}


def test_stop_stops_running_training_jobs(services):
    from emulator.core.events import delivery, rules
    rules.put_rule(services, "us-east-1", {"Name": "tuning-events", "EventPattern": json.dumps({
        "source": ["aws.sagemaker"], "detail-type": ["SageMaker HyperParameter Tuning Job State Change"]})})
    rules.put_targets(services, {"Rule": "tuning-events", "Targets": [
        {"Id": "topic", "Arn": "arn:aws:sns:us-east-1:000000000000:tuning"}]})
    tuning.create_tuning_job(services, "us-east-1", request("stopme", max_jobs=10, parallel=2))
    wait_until(lambda: len(services.records.list("TrainingJob")) == 2)
    tuning.stop_tuning_job(services, "stopme")
    tuning.stop_tuning_job(services, "stopme")  # idempotent while Stopping
    assert tuning.describe_tuning_job(services, "stopme")["HyperParameterTuningJobStatus"] == "Stopping"
    wait_until(lambda: all(j["TrainingJobStatus"] == "Stopping"
                           for j in services.records.list("TrainingJob")))
    desc = play(services, "stopme")
    assert desc["HyperParameterTuningJobStatus"] == "Stopped"
    assert desc["TrainingJobStatusCounters"]["Stopped"] == 2
    assert len(services.records.list("TrainingJob")) == 2
    with pytest.raises(ValidationException, match="status Stopped"):
        tuning.stop_tuning_job(services, "stopme")
    # Each status change sent its state-change event, the record (Describe's fields) as detail.
    def delivered() -> list[dict] | None:
        found = [json.loads(d["result"]["input"]) for d in reversed(delivery.recent(services))
                 if d["rule"] == "tuning-events" and d["result"]]
        return found if len(found) == 3 else None
    sent = wait_until(delivered, what="three tuning job events")
    assert [e["detail"]["HyperParameterTuningJobStatus"] for e in sent] == ["InProgress", "Stopping", "Stopped"]
    assert sent[2]["detail"]["HyperParameterTuningJobName"] == "stopme"
    assert "_trials" not in sent[2]["detail"]


def test_max_runtime_stops_the_search(services):
    # 120 s is the API's minimum MaxRuntimeInSeconds; the core takes a shorter one.
    req = request("timed", max_jobs=10, parallel=2, config={"ResourceLimits": {
        "MaxNumberOfTrainingJobs": 10, "MaxParallelTrainingJobs": 2, "MaxRuntimeInSeconds": 3}})
    tuning.create_tuning_job(services, "us-east-1", req)
    wait_until(lambda: len(services.records.list("TrainingJob")) == 2)
    done = services.records.list("TrainingJob")[0]["TrainingJobName"]
    jobs.finish_job(services, TRAINING, done, "Completed",
                    final_metrics=[{"MetricName": "score", "Value": 1.0, "Timestamp": time.time()}])
    wait_until(lambda: len(services.records.list("TrainingJob")) == 3)
    desc = play(services, "timed", keep_running=10, timeout=15)  # only the emulator's stop ends them
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert desc["TrainingJobStatusCounters"] == {"Completed": 1, "InProgress": 0, "RetryableError": 0,
                                                 "NonRetryableError": 0, "Stopped": 2}
    assert desc["BestTrainingJob"]["TrainingJobName"] == done
    assert desc["HyperParameterTuningEndTime"] - desc["CreationTime"] >= 3


def test_tuning_jobs_resume_after_restart(tmp_path):
    data = tmp_path / "data"
    first = Services(Settings(data_dir=data, run_jobs=False))
    start_runtime(first)
    tuning.create_tuning_job(first, "us-east-1", request("resume", max_jobs=6, parallel=2))
    wait_until(lambda: len(first.records.list("TrainingJob")) == 2)
    # Finish one job, then "crash" with the other still running.
    running = first.records.list("TrainingJob")
    jobs.finish_job(first, TRAINING, running[0]["TrainingJobName"], "Completed",
                    final_metrics=[{"MetricName": "score", "Value": 1.0, "Timestamp": time.time()}])
    wait_until(lambda: len(first.records.list("TrainingJob")) == 3)
    first.shutdown()

    second = Services(Settings(data_dir=data, run_jobs=False))
    try:
        start_runtime(second)  # its start-up resync continues the tuning job
        desc = play(second, "resume")
        assert desc["HyperParameterTuningJobStatus"] == "Completed"
        names = [s["TrainingJobName"] for s in summaries(second, "resume")]
        assert len(names) == 6 == len(set(names))
        assert [int(n.split("-")[1]) for n in names] == [1, 2, 3, 4, 5, 6]
    finally:
        second.shutdown()


def test_validation_errors(services):
    create = lambda req: tuning.create_tuning_job(services, "us-east-1", req)
    create(request("dup"))
    with pytest.raises(ResourceInUse, match="A hyperparameter tuning job with the name, dup, already exists"):
        create(request("dup"))
    with pytest.raises(ResourceNotFound, match="can't find a tuning job with name nope"):
        tuning.describe_tuning_job(services, "nope")
    with pytest.raises(ResourceNotFound):
        tuning.list_training_jobs_for_tuning_job(services, {"HyperParameterTuningJobName": "nope"})
    bad = [
        (request("b1", TrainingJobDefinition=definition(StaticHyperParameters={"x": "1"})),
         "both static and tunable"),
        (request("b2", ranges={"IntegerParameterRanges": [{"Name": "n", "MinValue": "5", "MaxValue": "1"}]}),
         "MinValue"),
        (request("b3", ranges={"ContinuousParameterRanges": [
            {"Name": "x", "MinValue": "0", "MaxValue": "1", "ScalingType": "Logarithmic"}]}),
         "greater than 0"),
        (request("b4", ranges={"IntegerParameterRanges": [
            {"Name": "n", "MinValue": "1.5", "MaxValue": "3"}]}), "not a valid integer"),
        (request("b5", ranges={"ContinuousParameterRanges": [
            {"Name": "x", "MinValue": "0", "MaxValue": "2", "ScalingType": "ReverseLogarithmic"}]}),
         "0 <= x < 1"),
        (request("b6", config={"HyperParameterTuningJobObjective": {"Type": "Maximize",
                                                                    "MetricName": "acc"}}),
         "isn't valid"),
        (request("b7", max_jobs=None), "MaxNumberOfTrainingJobs is required"),
        (request("b8", TrainingJobDefinition=definition(), TrainingJobDefinitions=[definition()]),
         "exactly one"),
        (request("b9", WarmStartConfig={
            "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "ghost"}],
            "WarmStartType": "IdenticalDataAndAlgorithm"}), "does not exist"),
    ]
    for req, message in bad:
        with pytest.raises(ValidationException, match=message):
            create(req)
    assert tuning.describe_tuning_job(services, "dup")["HyperParameterTuningJobStatus"] == "InProgress"


def test_definitions_list_hpo_resource_config_and_listing(services):
    multi = definition(DefinitionName="def-a", TuningObjective={"Type": "Minimize", "MetricName": "score"},
                       HyperParameterRanges={"IntegerParameterRanges": [{"Name": "n", "MinValue": "1",
                                                                         "MaxValue": "3"}]})
    del multi["ResourceConfig"]
    multi["HyperParameterTuningResourceConfig"] = {"InstanceConfigs": [
        {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5}],
        "AllocationStrategy": "Prioritized"}
    req = request("multi", max_jobs=2, TrainingJobDefinitions=[multi])
    del req["HyperParameterTuningJobConfig"]["HyperParameterTuningJobObjective"]
    del req["HyperParameterTuningJobConfig"]["ParameterRanges"]
    tuning.create_tuning_job(services, "us-east-1", req)
    desc = play(services, "multi")
    assert desc["BestTrainingJob"]["TrainingJobDefinitionName"] == "def-a"
    assert set(desc["BestTrainingJob"]["TunedHyperParameters"]) == {"n"}
    job = jobs.get_job(services, TRAINING, desc["BestTrainingJob"]["TrainingJobName"])
    assert job["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 5}

    tuning.create_tuning_job(services, "us-east-1", request("another", max_jobs=1))
    listed, _ = tuning.list_tuning_jobs(services, {})
    assert [s["HyperParameterTuningJobName"] for s in listed] == ["another", "multi"]
    summary = next(s for s in listed if s["HyperParameterTuningJobName"] == "multi")
    assert summary["Strategy"] == "Random" and summary["HyperParameterTuningJobStatus"] == "Completed"
    assert summary["ResourceLimits"]["MaxNumberOfTrainingJobs"] == 2
    assert summary["TrainingJobStatusCounters"]["Completed"] == 2
    listed, _ = tuning.list_tuning_jobs(services, {"StatusEquals": "InProgress", "NameContains": "anot"})
    assert [s["HyperParameterTuningJobName"] for s in listed] == ["another"]


def test_warm_start_reports_overall_best(services):
    tuning.create_tuning_job(services, "us-east-1", request("parent", max_jobs=3))
    parent = play(services, "parent", fn=lambda hp: 100.0)
    child = request("child", strategy="Bayesian", max_jobs=3, WarmStartConfig={
        "ParentHyperParameterTuningJobs": [{"HyperParameterTuningJobName": "parent"}],
        "WarmStartType": "IdenticalDataAndAlgorithm"})
    tuning.create_tuning_job(services, "us-east-1", child)
    desc = play(services, "child")
    assert desc["OverallBestTrainingJob"]["TrainingJobName"] == parent["BestTrainingJob"]["TrainingJobName"]
    assert desc["BestTrainingJob"]["TuningJobName"] == "child"


def test_pipeline_job_name_fits_the_tuning_name_limit():
    from emulator.pipelines.steps import tuning_job_name
    for step in ("T", "Tune-Model-With-A-Very-Long-Step-Name", "x_y z"):
        name = tuning_job_name("abcdefghij12", step)
        assert len(name) <= 32 and re.fullmatch(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,31}", name), name
        assert name.startswith("abcdefghij12-")


def test_pipeline_step_runs_resumes_and_stops(tmp_path):
    from emulator.core import pipelines as store
    from emulator.pipelines import control
    data = tmp_path / "data"
    first = Services(Settings(data_dir=data, run_jobs=False))
    start_runtime(first)
    arguments = request("ignored", max_jobs=3)
    del arguments["HyperParameterTuningJobName"]
    definition = json.dumps({"Version": "2020-12-01", "Parameters": [],
                             "Steps": [{"Name": "Tune", "Type": "Tuning", "Arguments": arguments}]})
    store.create_pipeline(first, "us-east-1", {"PipelineName": "tune"}, definition)

    def step(svc, arn):
        return store.get_execution(svc, arn).get("_steps", {}).get("Tune", {})

    def status(svc, arn):
        return store.get_execution(svc, arn)["PipelineExecutionStatus"]
    arn = control.start_execution(first, "us-east-1", {"PipelineName": "tune"})
    wait_until(lambda: "_job" in step(first, arn))
    name = step(first, arn)["_job"]["name"]
    assert step(first, arn)["_job"]["kind"] == "HyperParameterTuningJob"
    assert name.startswith(arn.rsplit("/", 1)[-1] + "-Tune-")
    # After a restart the execution re-waits the recorded job instead of creating another.
    first.shutdown()
    second = Services(Settings(data_dir=data, run_jobs=False))
    start_runtime(second)
    try:
        play(second, name)
        wait_until(lambda: status(second, arn) == "Succeeded")
        state = step(second, arn)
        assert state["Metadata"] == {"TuningJob": {"Arn": tuning.describe_tuning_job(second, name)[tuning.ARN]}}
        assert state["_cache_key"]
        props = state["_properties"]
        ranked = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in props["TrainingJobSummaries"]]
        assert ranked == sorted(ranked, reverse=True) and len(ranked) == 3  # Maximize: best first
        assert props["TrainingJobSummaries"][0]["TrainingJobName"] == props["BestTrainingJob"]["TrainingJobName"]
        assert props["HyperParameterTuningJobStatus"] == "Completed" and not any(k.startswith("_") for k in props)
        assert [t["HyperParameterTuningJobName"] for t in tuning.list_tuning_jobs(second, {})[0]] == [name]

        # Stopping the execution stops the tuning job, and the step ends Stopped.
        arn2 = control.start_execution(second, "us-east-1", {"PipelineName": "tune"})
        wait_until(lambda: "_job" in step(second, arn2))
        name2 = step(second, arn2)["_job"]["name"]
        wait_until(lambda: second.records.get(tuning.KIND, name2) is not None)
        control.stop_execution(second, arn2)
        play(second, name2, keep_running=10)
        wait_until(lambda: status(second, arn2) == "Stopped")
        assert step(second, arn2)["StepStatus"] == "Stopped"
        assert list(step(second, arn2)["Metadata"]) == ["TuningJob"]
    finally:
        second.shutdown()


# --- live emulator with real containers ----------------------------------------------------------

TUNING_IMAGE = "smemu-test-tuning:latest"


@pytest.fixture(scope="module")
def tuning_image(byo_image):
    """The bring-your-own image plus a `train` program that runs $TRAIN_SCRIPT (tuning jobs cannot set
    a ContainerEntrypoint: HyperParameterAlgorithmSpecification has none)."""
    import docker
    base = byo_image
    dockerfile = (f"FROM {base}\n"
                  "RUN printf '#!/bin/sh\\nexec sh -c \"$TRAIN_SCRIPT\"\\n' > /usr/local/bin/train "
                  "&& chmod +x /usr/local/bin/train\n")
    docker.from_env().images.build(fileobj=io.BytesIO(dockerfile.encode()), tag=TUNING_IMAGE, rm=True)
    return TUNING_IMAGE


def score_script(expression: str, sleep: float = 0) -> str:
    """A training script printing `score=<expression over h, the hyperparameters.json dict>`."""
    code = ("import json; h = json.load(open(\"/opt/ml/input/config/hyperparameters.json\")); "
            f"print(\"score=%r\" % float({expression}))")
    return f"sleep {sleep}; python3 -c '{code}'"


SCORE = "-(float(h[\"x\"]) - 3) ** 2 - (int(h[\"n\"]) - 2) ** 2"


def live_definition(image: str, bucket: str, script: str) -> dict:
    return {
        "StaticHyperParameters": {"static": "1"},
        "AlgorithmSpecification": {"TrainingImage": image, "TrainingInputMode": "File",
                                   "MetricDefinitions": [{"Name": "score", "Regex": METRIC_REGEX}]},
        "RoleArn": ROLE,
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/tuning"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
        "Environment": {"TRAIN_SCRIPT": script},
    }


def live_config(strategy: str, max_jobs: int, parallel: int, **extra) -> dict:
    return {"Strategy": strategy, "RandomSeed": 5,
            "HyperParameterTuningJobObjective": {"Type": "Maximize", "MetricName": "score"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": max_jobs, "MaxParallelTrainingJobs": parallel},
            "ParameterRanges": {
                "ContinuousParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "6"}],
                "IntegerParameterRanges": [{"Name": "n", "MinValue": "1", "MaxValue": "4"}]}, **extra}


def wait_tuning(sagemaker, name: str, timeout: float = 300,
                statuses=("Completed", "Failed", "Stopped")) -> dict:
    return wait_for_status(lambda: sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=name),
                           "HyperParameterTuningJobStatus", timeout=timeout, statuses=statuses, interval=0.5)


@pytest.fixture(scope="module")
def bucket(server):
    name = unique("tuning")
    server.client("s3").create_bucket(Bucket=name)
    return name


@pytest.mark.docker
def test_random_tuning_job_runs_containers_in_parallel(server, sagemaker, bucket, tuning_image):
    name = unique("rnd")
    arn = sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=live_config("Random", 4, 2),
        TrainingJobDefinition=live_definition(tuning_image, bucket, score_script(SCORE, sleep=3)),
        Tags=[{"Key": "team", "Value": "ml"}])["HyperParameterTuningJobArn"]
    assert arn.endswith(f":hyper-parameter-tuning-job/{name}")
    desc = wait_tuning(sagemaker, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["TrainingJobStatusCounters"] == {"Completed": 4, "InProgress": 0, "RetryableError": 0,
                                                 "NonRetryableError": 0, "Stopped": 0}
    assert desc["ObjectiveStatusCounters"] == {"Succeeded": 4, "Pending": 0, "Failed": 0}
    jobs_ = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, SortBy="FinalObjectiveMetricValue", SortOrder="Descending",
        MaxResults=100)["TrainingJobSummaries"]
    assert len(jobs_) == 4
    for summary in jobs_:
        expected = -(float(summary["TunedHyperParameters"]["x"]) - 3) ** 2 - \
            (int(summary["TunedHyperParameters"]["n"]) - 2) ** 2
        assert math.isclose(summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"], expected,
                            rel_tol=1e-6, abs_tol=1e-6)
    assert desc["BestTrainingJob"]["TrainingJobName"] == jobs_[0]["TrainingJobName"]
    assert desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["MetricName"] == "score"
    best = sagemaker.describe_training_job(TrainingJobName=jobs_[0]["TrainingJobName"])
    assert best["TuningJobArn"] == arn
    assert best["HyperParameters"]["_tuning_objective_metric"] == "score"
    assert re.fullmatch(rf"{name}-\d{{3}}-[0-9a-f]{{8}}", best["TrainingJobName"])
    # MaxParallelTrainingJobs 2: the first two jobs ran at the same time.
    by_number = sorted(jobs_, key=lambda s: s["TrainingJobName"])
    first, second = by_number[0], by_number[1]
    assert max(first["TrainingStartTime"], second["TrainingStartTime"]) < \
        min(first["TrainingEndTime"], second["TrainingEndTime"])
    listed = sagemaker.list_hyper_parameter_tuning_jobs(NameContains=name)["HyperParameterTuningJobSummaries"]
    assert [s["HyperParameterTuningJobName"] for s in listed] == [name]
    assert listed[0]["Strategy"] == "Random" and listed[0]["TrainingJobStatusCounters"]["Completed"] == 4
    assert sagemaker.list_tags(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "ml"}]


@pytest.mark.docker
def test_bayesian_tuning_job_and_stop(server, sagemaker, bucket, tuning_image):
    name = unique("bay")
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=live_config("Bayesian", 3, 2),
        TrainingJobDefinition=live_definition(tuning_image, bucket, score_script(SCORE)))
    desc = wait_tuning(sagemaker, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["ObjectiveStatusCounters"]["Succeeded"] == 3
    hp = desc["BestTrainingJob"]["TunedHyperParameters"]
    assert math.isclose(desc["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
                        -(float(hp["x"]) - 3) ** 2 - (int(hp["n"]) - 2) ** 2, rel_tol=1e-6, abs_tol=1e-6)

    slow = unique("stop")
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=slow, HyperParameterTuningJobConfig=live_config("Random", 6, 2),
        TrainingJobDefinition=live_definition(tuning_image, bucket, "sleep 120"))
    def both_training() -> bool:
        running = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=slow)["TrainingJobSummaries"]
        started = [sagemaker.describe_training_job(TrainingJobName=s["TrainingJobName"]) for s in running]
        return len(started) == 2 and all(j["SecondaryStatus"] == "Training" for j in started)
    wait_until(both_training, timeout=120, interval=0.5, what="two training jobs running")
    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=slow)
    desc = wait_tuning(sagemaker, slow, timeout=120)
    assert desc["HyperParameterTuningJobStatus"] == "Stopped"
    assert desc["TrainingJobStatusCounters"]["Stopped"] == 2
    for s in sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=slow)["TrainingJobSummaries"]:
        assert s["TrainingJobStatus"] == "Stopped"
    with pytest.raises(sagemaker.exceptions.ResourceNotFound):
        sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=unique("missing"))


@pytest.mark.docker
def test_tuning_step_in_a_pipeline(server, sagemaker, bucket, tuning_image):
    from tests.pipelinehelpers import definition as pipeline_definition
    from tests.pipelinehelpers import steps_by_name, wait_execution
    tune = {"Name": "T", "Type": "Tuning", "Arguments": {
        "HyperParameterTuningJobConfig": live_config("Random", 2, 2),
        "TrainingJobDefinition": live_definition(tuning_image, bucket, score_script(SCORE))}}
    check = {"Name": "Check", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "Equals", "LeftValue": {"Get": "Steps.T.BestTrainingJob.TrainingJobName"},
                        "RightValue": {"Get": "Steps.T.TrainingJobSummaries[0].TrainingJobName"}}],
        "IfSteps": [{"Name": "Report", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
            "On": " ", "Values": ["best", {"Get": "Steps.T.BestTrainingJob.TrainingJobName"},
                                  {"Get": "Steps.T.HyperParameterTuningJobStatus"}]}}}}],
        "ElseSteps": [{"Name": "Mismatch", "Type": "Fail", "Arguments": {"ErrorMessage": "mismatch"}}]}}
    pipeline = unique("tune-pipe")
    sagemaker.create_pipeline(PipelineName=pipeline, RoleArn=ROLE,
                              PipelineDefinition=pipeline_definition([tune, check]))
    arn = sagemaker.start_pipeline_execution(PipelineName=pipeline)["PipelineExecutionArn"]
    wait_execution(sagemaker, arn, timeout=300)
    found = steps_by_name(sagemaker, arn)
    assert found["T"]["StepStatus"] == "Succeeded", found["T"].get("FailureReason")
    tuning_arn = found["T"]["Metadata"]["TuningJob"]["Arn"]
    tuning_name = tuning_arn.rsplit("/", 1)[-1]
    assert tuning_name.startswith(arn.rsplit("/", 1)[-1] + "-") and len(tuning_name) <= 32
    desc = sagemaker.describe_hyper_parameter_tuning_job(HyperParameterTuningJobName=tuning_name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert found["Check"]["Metadata"] == {"Condition": {"Outcome": "True"}}
    assert found["Report"]["FailureReason"] == f"best {desc['BestTrainingJob']['TrainingJobName']} Completed"
    assert "Mismatch" not in found


@pytest.mark.docker
@pytest.mark.slow
def test_sdk_hyperparameter_tuner(sagemaker_session, tuning_image):
    from sagemaker.estimator import Estimator
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter

    session = sagemaker_session
    bucket = session.default_bucket()
    estimator = Estimator(image_uri=tuning_image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{bucket}/out", sagemaker_session=session,
                          environment={"TRAIN_SCRIPT": score_script(SCORE)}, hyperparameters={"static": 1})
    tuner = HyperparameterTuner(estimator, objective_metric_name="score",
                                hyperparameter_ranges={"x": ContinuousParameter(0, 6),
                                                       "n": IntegerParameter(1, 4)},
                                metric_definitions=[{"Name": "score", "Regex": METRIC_REGEX}],
                                strategy="Bayesian", objective_type="Maximize", max_jobs=3,
                                max_parallel_jobs=2, base_tuning_job_name="sdk-tune")
    tuner.fit(wait=True)
    best = tuner.best_training_job()
    desc = tuner.describe()
    assert desc["HyperParameterTuningJobStatus"] == "Completed"
    assert best == desc["BestTrainingJob"]["TrainingJobName"]
    assert best.startswith(tuner.latest_tuning_job.name + "-")
    ranked = session.sagemaker_client.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuner.latest_tuning_job.name, SortBy="FinalObjectiveMetricValue",
        SortOrder="Descending")["TrainingJobSummaries"]
    assert ranked[0]["TrainingJobName"] == best and len(ranked) == 3
    analytics = json.loads(json.dumps(tuner.analytics().dataframe().to_dict(orient="records"), default=str))
    assert len(analytics) == 3 and {"x", "n", "FinalObjectiveValue"} <= set(analytics[0])
    # attach() reads StaticHyperParameters["_tuning_objective_metric"]; best_estimator() attaches the
    # best training job, reading OutputDataConfig["KmsKeyId"].
    static = desc["TrainingJobDefinition"]["StaticHyperParameters"]
    assert static == {"static": "1", "_tuning_objective_metric": "score"}
    attached = HyperparameterTuner.attach(tuner.latest_tuning_job.name, sagemaker_session=session)
    assert attached.objective_metric_name == "score" and attached.max_jobs == 3
    assert attached.estimator.hyperparameters() == {"static": "1"}
    best_estimator = attached.best_estimator()
    assert best_estimator.latest_training_job.name == best and best_estimator.output_kms_key == ""


@pytest.mark.docker
@pytest.mark.slow
def test_sdk_tuning_step_pipeline(server, monkeypatch, tmp_path, tuning_image):
    """A TuningStep as the SDK builds it: BestTrainingJob and get_top_model_s3_uri downstream."""
    from sagemaker.estimator import Estimator
    from sagemaker.tuner import ContinuousParameter, HyperparameterTuner, IntegerParameter
    from sagemaker.workflow.condition_step import ConditionStep
    from sagemaker.workflow.conditions import ConditionGreaterThan
    from sagemaker.workflow.fail_step import FailStep
    from sagemaker.workflow.functions import Join
    from sagemaker.workflow.pipeline import Pipeline
    from sagemaker.workflow.steps import TuningStep

    from emulator.testing.sdk import sdk_environment, sdk_session
    from tests.pipelinehelpers import steps_by_name, wait_execution
    sdk_environment(monkeypatch, server, tmp_path)
    bucket = unique("sdk-tune-pipe")
    server.client("s3").create_bucket(Bucket=bucket)
    session = sdk_session(server, bucket, pipeline=True)
    estimator = Estimator(image_uri=tuning_image, role=ROLE, instance_count=1, instance_type="ml.m5.large",
                          output_path=f"s3://{bucket}/out", sagemaker_session=session,
                          environment={"TRAIN_SCRIPT": score_script(SCORE)})
    ranges = {"x": ContinuousParameter(0, 6), "n": IntegerParameter(1, 4)}
    tuner = HyperparameterTuner(estimator, "score", ranges,
                                metric_definitions=[{"Name": "score", "Regex": METRIC_REGEX}], max_jobs=2,
                                max_parallel_jobs=2, objective_type="Maximize")
    tune = TuningStep(name="HPTune", step_args=tuner.fit())
    report = FailStep(name="Report", error_message=Join(on=" ", values=[
        tune.properties.BestTrainingJob.TrainingJobName, tune.get_top_model_s3_uri(0, bucket, "out")]))
    check = ConditionStep(name="Good", conditions=[ConditionGreaterThan(
        left=tune.properties.BestTrainingJob.FinalHyperParameterTuningJobObjectiveMetric.Value,
        right=-100.0)],
        if_steps=[report], else_steps=[])
    pipeline = Pipeline(name=unique("sdk-tune"), steps=[tune, check], sagemaker_session=session)
    pipeline.upsert(role_arn=ROLE)
    execution = pipeline.start()
    sagemaker = server.client("sagemaker")
    wait_execution(sagemaker, execution.arn, timeout=300)
    found = steps_by_name(sagemaker, execution.arn)
    assert found["HPTune"]["StepStatus"] == "Succeeded", found["HPTune"].get("FailureReason")
    tuning_name = found["HPTune"]["Metadata"]["TuningJob"]["Arn"].rsplit("/", 1)[-1]
    best = sagemaker.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=tuning_name)["BestTrainingJob"]
    model = sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])["ModelArtifacts"]
    assert found["Report"]["FailureReason"] == f"{best['TrainingJobName']} {model['S3ModelArtifacts']}"


def gated_definition(tuning_image: str, bucket: str, gate: str) -> dict:
    """Training jobs that report their score only once the object `gate` exists in S3."""
    definition = live_definition(tuning_image, bucket, f"{barrier('wait', gate)}; {score_script(SCORE)}")
    definition["Environment"].update(BARRIER_ENV)
    return definition


def first_job_training(sagemaker, tuning_name: str) -> str:
    def probe() -> str | None:
        try:
            listed = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
                HyperParameterTuningJobName=tuning_name)["TrainingJobSummaries"]
        except sagemaker.exceptions.ResourceNotFound:  # a pipeline step names its tuning job before creating it
            return None
        if listed and sagemaker.describe_training_job(
                TrainingJobName=listed[0]["TrainingJobName"])["SecondaryStatus"] == "Training":
            return listed[0]["TrainingJobName"]
        return None
    return wait_until(probe, timeout=120, interval=0.3, what=f"the first training job of {tuning_name} running")


@pytest.mark.docker
def test_in_progress_tuning_job_continues_after_the_server_is_killed(own_server, tuning_image):
    sagemaker = own_server.client("sagemaker")
    own_server.client("s3").create_bucket(Bucket="tune-kill")
    name = unique("across")
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=live_config("Random", 3, 1),
        TrainingJobDefinition=gated_definition(tuning_image, "tune-kill", "tune-kill/gate"))
    first = first_job_training(sagemaker, name)
    assert sagemaker.describe_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["HyperParameterTuningJobStatus"] == "InProgress"
    own_server.restart(kill=True)  # kill -9: no shutdown hook runs
    own_server.client("s3").put_object(Bucket="tune-kill", Key="gate", Body=b"")
    desc = wait_tuning(sagemaker, name)
    assert desc["HyperParameterTuningJobStatus"] == "Completed", desc.get("FailureReason")
    assert desc["TrainingJobStatusCounters"]["Completed"] == 3
    names = [s["TrainingJobName"] for s in sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name)["TrainingJobSummaries"]]
    assert [n.split("-")[-2] for n in names] == ["001", "002", "003"] and first in names
    # Nothing ran twice: the running job was re-attached, not started again under a new name.
    assert len(sagemaker.list_training_jobs(NameContains=name, MaxResults=100)["TrainingJobSummaries"]) == 3


@pytest.mark.docker
def test_pipeline_tuning_step_resumes_its_job_after_the_server_is_killed(own_server, tuning_image):
    from tests.pipelinehelpers import definition as pipeline_definition
    from tests.pipelinehelpers import steps_by_name, wait_execution
    sagemaker = own_server.client("sagemaker")
    own_server.client("s3").create_bucket(Bucket="tune-step-kill")
    tune = {"Name": "T", "Type": "Tuning", "Arguments": {
        "HyperParameterTuningJobConfig": live_config("Random", 2, 1),
        "TrainingJobDefinition": gated_definition(tuning_image, "tune-step-kill", "tune-step-kill/gate")}}
    sagemaker.create_pipeline(PipelineName="tune-kill", RoleArn=ROLE,
                              PipelineDefinition=pipeline_definition([tune]))
    arn = sagemaker.start_pipeline_execution(PipelineName="tune-kill")["PipelineExecutionArn"]
    tuning_arn = wait_until(lambda: steps_by_name(sagemaker, arn).get("T", {}).get("Metadata", {}).get("TuningJob"),
                            what="the step's tuning job")["Arn"]
    tuning_name = tuning_arn.rsplit("/", 1)[-1]
    first_job_training(sagemaker, tuning_name)
    own_server.restart(kill=True)
    own_server.client("s3").put_object(Bucket="tune-step-kill", Key="gate", Body=b"")
    desc = wait_execution(sagemaker, arn, timeout=300)
    step = steps_by_name(sagemaker, arn)["T"]
    assert desc["PipelineExecutionStatus"] == "Succeeded", step.get("FailureReason")
    assert step["Metadata"]["TuningJob"]["Arn"] == tuning_arn  # the same tuning job, not a second one
    listed = sagemaker.list_hyper_parameter_tuning_jobs(MaxResults=100)["HyperParameterTuningJobSummaries"]
    assert [s["HyperParameterTuningJobName"].lower() for s in listed] == [tuning_name]  # ARNs: lower case
    assert listed[0]["TrainingJobStatusCounters"]["Completed"] == 2
