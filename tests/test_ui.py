"""The web console over plain HTTP: every page and fragment, status colours by data-status, links,
empty states, 404s, CSRF on writes, downloads, and nothing loaded from the network."""

from __future__ import annotations

import hashlib
import json
import re
import time
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote

import networkx as nx
import pytest
import requests

from emulator.testing.waiting import wait_until
from emulator.ui.layout import NODE_H, NODE_W, layout
from emulator.ui.svg import Series, line_chart
from tests.jobhelpers import ROLE, ensure_byo_image, unique
from tests.pipelinehelpers import definition, wait_execution
from tests.test_tuning import SCORE, live_config, live_definition, score_script, tuning_image, wait_tuning  # noqa: F401

UI = Path(__file__).resolve().parents[1] / "emulator" / "ui"


class Elements(HTMLParser):
    """Every start tag of a page as (tag, attrs), plus the text, for assertions on the DOM."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str | None = None, **attrs: str) -> list[dict[str, str]]:
        return [a for t, a in self.tags if (tag is None or t == tag)
                and all(a.get(k.replace("_", "-")) == v for k, v in attrs.items())]

    @property
    def all_text(self) -> str:
        return " ".join(" ".join(self.text).split())


def get(server, path: str, status: int = 200, **kwargs) -> requests.Response:
    response = requests.get(f"{server.endpoint}/_emulator/ui{path}", timeout=30, **kwargs)
    assert response.status_code == status, (path, response.status_code, response.text[-2000:])
    return response


def page(server, path: str, status: int = 200) -> Elements:
    return Elements(get(server, path, status).text)


def csrf_token(server) -> str:
    html = get(server, "/").text
    return json.loads(re.search(r"hx-headers='([^']+)'", html).group(1))["X-CSRF-Token"]


def post(server, path: str, data: dict | None = None, token: str | None = None) -> requests.Response:
    headers = {"X-CSRF-Token": token} if token else {}
    return requests.post(f"{server.endpoint}/_emulator/ui{path}", data=data or {}, headers=headers, timeout=30)


# --- the shell -----------------------------------------------------------------------------------

def test_console_address_redirects_and_home_links_every_section(server):
    response = requests.get(f"{server.endpoint}/_emulator/ui", allow_redirects=False, timeout=10)
    assert response.status_code == 308 and response.headers["location"] == "/_emulator/ui/"
    response = get(server, "/")
    assert "default-src 'self'" in response.headers["content-security-policy"]
    assert response.headers["x-frame-options"] == "DENY"
    dom = Elements(response.text)
    nav = [a["href"] for a in dom.find("a") if a.get("href", "").startswith("/_emulator/ui/")]
    for section in ("pipelines", "jobs", "experiments", "models", "endpoints", "monitoring"):
        assert f"/_emulator/ui/{section}" in nav
    assert dom.find("a", data_kind="Training jobs")
    assert "Recent activity" in dom.all_text


def test_templates_and_pages_load_nothing_from_the_network(server):
    remote = re.compile(r"""(?:src|href|action|hx-get|hx-post)\s*=\s*["']\s*(?:https?:)?//|url\(\s*["']?https?:""", re.IGNORECASE)
    files = list((UI / "templates").glob("*.html")) + list((UI / "static").glob("*.css"))
    assert len(files) > 10
    for path in files:
        assert not remote.search(path.read_text()), path
    for path in ("/", "/pipelines", "/jobs", "/experiments", "/models", "/endpoints", "/monitoring"):
        dom = page(server, path)
        for tag, attrs in dom.tags:
            for key in ("src", "href"):
                assert not attrs.get(key, "").lower().startswith(("http:", "https:", "//")), (path, tag, attrs)


def test_vendored_htmx_is_the_recorded_version_and_is_served_immutable(server):
    record = (UI / "static" / "vendor" / "VENDORED.md").read_text()
    digest = hashlib.sha256((UI / "static" / "vendor" / "htmx.min.js").read_bytes()).hexdigest()
    assert digest in record and "htmx.org" in record
    script = page(server, "/").find("script")[0]["src"]
    response = requests.get(server.endpoint + script, timeout=10)
    assert response.status_code == 200 and hashlib.sha256(response.content).hexdigest() == digest
    assert "immutable" in response.headers["cache-control"]
    assert "javascript" in response.headers["content-type"]
    for bad in ("/static/../__init__.py", "/static/vendor/VENDORED.md", "/static/nope.css"):
        assert requests.get(f"{server.endpoint}/_emulator/ui{bad}", timeout=10).status_code == 404


@pytest.mark.parametrize("path", ["/nope", "/jobs/bogus", "/jobs/training/no-such-job", "/jobs/tuning/no-such-job",
                                  "/pipelines/no-such-pipeline", "/pipelines/no-such-pipeline/executions/abc",
                                  "/pipelines/no-such-pipeline/versions/3", "/experiments/no-such-experiment",
                                  "/experiments/no-such-experiment/compare", "/models/no-such-group",
                                  "/models/no-such-group/1", "/endpoints/no-such-endpoint",
                                  "/s3/no-such-bucket/key", "/jobs/processing/no-such-job/logs",
                                  "/monitoring/schedules/no-such-schedule", "/monitoring/alarms/no-such-alarm",
                                  "/monitoring/alarms/no/such/alarm"])
def test_unknown_pages_and_resources_get_the_404_page(server, path):
    dom = page(server, path, 404)
    assert dom.find("p", data_kind="not-found")
    assert dom.find("a", href="/_emulator/ui/")


def test_writes_need_post_and_the_csrf_token(server):
    assert requests.get(f"{server.endpoint}/_emulator/ui/models/g/1/approval", timeout=10).status_code == 405
    response = post(server, "/models/g/1/approval", {"status": "Approved"})
    assert response.status_code == 403 and "CSRF" in response.text
    assert post(server, "/models/g/1/approval", {"status": "Approved"}, token="forged").status_code == 403


def test_empty_states_say_so(server):
    assert "No endpoints yet" in page(server, "/endpoints").all_text
    nothing = unique("zz-nothing")
    assert "No training job matches these filters" in page(server, f"/jobs/training?name={nothing}").all_text
    assert "No tuning job matches" in page(server, f"/jobs/tuning?status=Failed&name={nothing}").all_text
    assert f"No pipeline name contains “{nothing}”" in page(server, f"/pipelines?name={nothing}").all_text
    assert "No experiment name contains" in page(server, f"/experiments?name={nothing}").all_text
    assert "No model package group name contains" in page(server, f"/models?name={nothing}").all_text


# --- pipelines -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def failed_execution(server):
    """A pipeline that needs no container: a Condition on a parameter whose true branch is a Fail step."""
    sagemaker = server.client("sagemaker")
    name = unique("ui-pipe")
    steps = [{"Name": "Check", "Type": "Condition", "Arguments": {
        "Conditions": [{"Type": "GreaterThan", "LeftValue": {"Get": "Parameters.N"}, "RightValue": 1}],
        "IfSteps": [{"Name": "Boom", "Type": "Fail", "Arguments": {"ErrorMessage": {"Std:Join": {
            "On": " ", "Values": ["N was", {"Get": "Parameters.N"}]}}}}],
        "ElseSteps": [{"Name": "Quiet", "Type": "Fail", "Arguments": {"ErrorMessage": "unused"}}]}}]
    sagemaker.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDescription="console test",
                              PipelineDefinition=definition(steps, [{"Name": "N", "Type": "Integer",
                                                                     "DefaultValue": 2}]))
    sagemaker.update_pipeline(PipelineName=name, PipelineDisplayName="second-version")
    arn = sagemaker.start_pipeline_execution(PipelineName=name, PipelineParameters=[
        {"Name": "N", "Value": "5"}])["PipelineExecutionArn"]
    assert wait_execution(sagemaker, arn, 60)["PipelineExecutionStatus"] == "Failed"
    return name, arn.rsplit("/", 1)[-1], arn


def test_pipeline_list_and_page_show_executions_versions_and_graph(server, failed_execution):
    name, execution_id, _ = failed_execution
    listing = page(server, f"/pipelines?name={name}")
    assert listing.find("a", href=f"/_emulator/ui/pipelines/{name}")
    dom = page(server, f"/pipelines/{name}")
    assert dom.find("a", href=f"/_emulator/ui/pipelines/{name}/executions/{execution_id}")
    assert dom.find("span", data_status="Failed")
    assert dom.find("a", href=f"/_emulator/ui/pipelines/{name}/versions/1")
    assert dom.find("a", href=f"/_emulator/ui/pipelines/{name}/versions/2")
    assert {g["data-step"] for g in dom.find("g", data_status="Defined")} == {"Check", "Boom", "Quiet"}
    version = page(server, f"/pipelines/{name}/versions/1")
    assert '"Name": "Check"' in " ".join(version.text)


def test_execution_page_colours_steps_by_status_and_stops_polling_when_done(server, failed_execution):
    name, execution_id, _ = failed_execution
    base = f"/pipelines/{name}/executions/{execution_id}"
    dom = page(server, base)
    steps = {a["data-step"]: a for a in dom.find("a", **{"class": "step"})}
    assert steps["Check"]["data-status"] == "Succeeded"
    assert steps["Boom"]["data-status"] == "Failed"
    assert steps["Quiet"]["data-status"] == "NotStarted"   # the branch not taken
    assert steps["Boom"]["hx-get"] == f"/_emulator/ui{base}?step=Boom&fragment=1"
    live = dom.find("section", id="execution-live")[0]
    assert live["data-status"] == "Failed" and "hx-trigger" not in live   # terminal: no polling
    assert "Step failure: One or multiple steps failed." in dom.all_text
    assert dom.find("button", **{"hx-post": f"/_emulator/ui{base}/retry"})
    assert not dom.find("button", **{"hx-post": f"/_emulator/ui{base}/stop"})
    assert dom.find("table", id="parameters") and "N 5" in dom.all_text
    fragment = page(server, f"{base}/live")
    assert fragment.find("section", id="execution-live") and not fragment.find("html")


@pytest.mark.parametrize("tab", ["input", "output", "logs", "info"])
def test_step_panel_tabs(server, failed_execution, tab):
    name, execution_id, _ = failed_execution
    dom = page(server, f"/pipelines/{name}/executions/{execution_id}?step=Boom&tab={tab}&fragment=1")
    panel = dom.find("div", **{"class": "step-panel"})[0]
    assert panel["data-step"] == "Boom" and panel["data-status"] == "Failed" and panel["data-tab"] == tab
    assert not dom.find("html")
    text = dom.all_text
    assert "N was 5" in text   # the failure reason, shown on every tab
    expected = {"input": "Parameters this step uses", "output": "Metadata",
                "logs": "start no job, so they have no log stream", "info": "Attempts"}[tab]
    assert expected in text, text
    if tab == "input":
        assert '"Std:Join"' in text and "N 5" in text   # as defined, and the parameter it used


def test_step_panel_for_an_unknown_step_is_404(server, failed_execution):
    name, execution_id, _ = failed_execution
    page(server, f"/pipelines/{name}/executions/{execution_id}?step=Nope", 404)


def test_retry_and_stop_go_through_the_pipeline_control_functions(server, failed_execution):
    name, execution_id, arn = failed_execution
    base = f"/pipelines/{name}/executions/{execution_id}"
    token = csrf_token(server)
    assert post(server, f"{base}/retry").status_code == 403
    refused = post(server, f"{base}/stop", token=token)
    assert refused.status_code == 400 and "already in status Failed" in refused.text
    assert Elements(refused.text).find("section", id="execution-live")   # the graph stays on the page
    retried = post(server, f"{base}/retry", token=token)
    assert retried.status_code == 200, retried.text
    sagemaker = server.client("sagemaker")
    final = wait_execution(sagemaker, arn, 60)
    assert final["PipelineExecutionStatus"] == "Failed"
    boom = [s for s in sagemaker.list_pipeline_execution_steps(PipelineExecutionArn=arn)["PipelineExecutionSteps"]
            if s["StepName"] == "Boom"]
    assert boom and boom[0]["FailureReason"] == "N was 5"


# --- jobs ----------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def logged_training_job(server):
    """A training job whose image does not exist (it fails at once, no container), with log lines put
    through the Logs API as its container would have written them."""
    sagemaker, logs = server.client("sagemaker"), server.client("logs")
    name = unique("ui-train")
    sagemaker.create_training_job(
        TrainingJobName=name, RoleArn=ROLE,
        AlgorithmSpecification={"TrainingImage": "smemu-ui-no-such-image:latest", "TrainingInputMode": "File",
                                "MetricDefinitions": [{"Name": "train:loss", "Regex": r"loss=([0-9.]+)"},
                                                      {"Name": "never", "Regex": r"never=([0-9.]+)"}]},
        HyperParameters={"epochs": "7", "eta": "0.3"},
        InputDataConfig=[{"ChannelName": "train", "DataSource": {"S3DataSource": {
            "S3DataType": "S3Prefix", "S3Uri": "s3://ui-data/train/"}}}],
        OutputDataConfig={"S3OutputPath": "s3://ui-data/output"},
        ResourceConfig={"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        StoppingCondition={"MaxRuntimeInSeconds": 60})
    stream = f"{name}/algo-1-1700000000"
    try:
        logs.create_log_group(logGroupName="/aws/sagemaker/TrainingJobs")
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.create_log_stream(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream)
    now = int(time.time() * 1000)
    lines = [f"epoch {i} loss={1 / (i + 1):.4f}" for i in range(7)] + ["done <b>not markup</b>"]
    logs.put_log_events(logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=stream,
                        logEvents=[{"timestamp": now + i, "message": m} for i, m in enumerate(lines)])
    deadline = time.time() + 120
    while sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "InProgress":
        assert time.time() < deadline
        time.sleep(0.3)
    return name, lines


def test_job_lists_filter_by_status_and_name(server, logged_training_job):
    name, _ = logged_training_job
    dom = page(server, f"/jobs/training?status=Failed&name={name}")
    rows = dom.find("tr", data_status="Failed")
    assert len(rows) == 1 and dom.find("a", href=f"/_emulator/ui/jobs/training/{name}")
    assert "No training job matches" in page(server, f"/jobs/training?status=Completed&name={name}").all_text
    for kind in ("processing", "tuning"):
        assert page(server, f"/jobs/{kind}").find("form", **{"class": "filters"})


def test_training_job_page_charts_every_logged_point_and_tails_the_log(server, logged_training_job):
    name, lines = logged_training_job
    response = get(server, f"/jobs/training/{name}")
    dom = Elements(response.text)
    assert dom.find("p", **{"class": "failure"})   # FailureReason, prominently
    assert "smemu-ui-no-such-image" in dom.all_text
    charts = dom.find("svg", data_title="train:loss")
    assert charts and not dom.find("svg", data_title="never")
    polyline = dom.find("polyline", data_points="7")
    assert len(polyline) == 1 and len(polyline[0]["points"].split()) == 7
    assert dom.find("table", id="hyperparameters") and "eta 0.3" in dom.all_text
    assert dom.find("a", href="/_emulator/ui/s3/ui-data/train/")
    assert dom.find("ol", id="timeline") and dom.find("li", data_status="Failed")
    assert "done <b>not markup</b>" in dom.all_text and "<b>not markup" not in response.text   # escaped
    assert len(dom.find("span", **{"class": "line"})) == len(lines)
    text = get(server, f"/jobs/training/{name}/logs.txt")
    assert text.headers["content-type"].startswith("text/plain")
    assert [line.split("\t", 1)[1] for line in text.text.splitlines()] == lines
    last = max(int(s["data-id"]) for s in dom.find("span", **{"class": "line"}))
    newer = Elements(get(server, f"/jobs/training/{name}/logs?after={last}").text)
    assert not newer.find("span", **{"class": "line"})
    live = Elements(get(server, f"/jobs/training/{name}/live").text)
    assert live.find("section", id="job-live", data_status="Failed")
    assert "hx-trigger" not in live.find("section", id="job-live")[0]


def test_tuning_job_page_ranks_trials_by_the_objective_and_charts_it(server, tuning_image):  # noqa: F811
    sagemaker = server.client("sagemaker")
    bucket, name = unique("ui-tune"), unique("ui-tune")
    server.client("s3").create_bucket(Bucket=bucket)
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName=name, HyperParameterTuningJobConfig=live_config("Random", 3, 3),
        TrainingJobDefinition=live_definition(tuning_image, bucket, score_script(SCORE)))
    described = wait_tuning(sagemaker, name)
    assert described["HyperParameterTuningJobStatus"] == "Completed", described.get("FailureReason")
    dom = page(server, f"/jobs/tuning/{name}")
    rows = [r for r in dom.find("tr") if "data-trial" in r]
    values = [float(r["data-value"]) for r in rows]
    assert len(rows) == 3 and values == sorted(values, reverse=True)   # Maximize: best first
    assert rows[0].get("data-best") == "true"
    assert rows[0]["data-trial"] == described["BestTrainingJob"]["TrainingJobName"]
    assert dom.find("polyline", data_points="3") and dom.find("circle", **{"class": "best"})
    assert dom.find("a", href=f"/_emulator/ui/jobs/training/{rows[0]['data-trial']}")


# --- experiments ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def experiment_runs(server):
    sagemaker, metrics = server.client("sagemaker"), server.client("sagemaker-metrics")
    experiment, trial = unique("ui-exp"), unique("ui-trial")
    sagemaker.create_experiment(ExperimentName=experiment)
    sagemaker.create_trial(TrialName=trial, ExperimentName=experiment)
    runs = []
    for index, (lr, depth) in enumerate([(0.1, 3), (0.01, 3)]):
        run = f"{experiment}-run-{index}"
        sagemaker.create_trial_component(
            TrialComponentName=run, Parameters={"lr": {"NumberValue": lr}, "depth": {"NumberValue": depth},
                                                "optimizer": {"StringValue": "adam"}},
            OutputArtifacts={"model": {"Value": f"s3://ui-data/{run}/model.tar.gz"}},
            Status={"PrimaryStatus": "Completed"})
        sagemaker.associate_trial_component(TrialComponentName=run, TrialName=trial)
        metrics.batch_put_metrics(TrialComponentName=run, MetricData=[
            {"MetricName": "loss", "Timestamp": time.time() + step, "Step": step, "Value": (index + 1) / (step + 1)}
            for step in range(5)])
        runs.append(run)
    return experiment, runs


def test_experiment_runs_table_has_params_and_metrics_and_sorts(server, experiment_runs):
    experiment, runs = experiment_runs
    assert page(server, f"/experiments?name={experiment}").find("a", href=f"/_emulator/ui/experiments/{experiment}")
    dom = page(server, f"/experiments/{experiment}")
    assert [r["data-run"] for r in dom.find("tr") if "data-run" in r] == runs
    headers = " ".join(dom.text)
    assert "lr" in headers and "loss" in headers and "depth" in headers
    by_lr = page(server, f"/experiments/{experiment}?sort=param:lr&order=asc")
    assert [r["data-run"] for r in by_lr.find("tr") if "data-run" in r] == runs[::-1]
    by_loss = page(server, f"/experiments/{experiment}?sort=metric:loss&order=desc")
    assert [r["data-run"] for r in by_loss.find("tr") if "data-run" in r] == runs[::-1]
    run = page(server, f"/experiments/{experiment}/runs/{runs[0]}")
    assert run.find("a", href=f"/_emulator/ui/s3/ui-data/{runs[0]}/model.tar.gz")
    assert run.find("polyline", data_points="5")


def test_compare_diffs_parameters_and_overlays_metric_lines(server, experiment_runs):
    experiment, runs = experiment_runs
    dom = page(server, f"/experiments/{experiment}/compare?run={runs[0]}&run={runs[1]}")
    assert dom.find("tr", data_param="lr", data_differs="true")
    same = dom.find("tr", data_param="depth")
    assert same and "data-differs" not in same[0]
    chart = dom.find("svg", data_title="loss")
    assert chart
    assert len(dom.find("polyline", data_points="5")) == 2
    assert {g["data-series"] for g in dom.find("g") if "data-series" in g} == set(runs)
    assert "Select at least two runs" in page(server, f"/experiments/{experiment}/compare?run={runs[0]}").all_text
    page(server, f"/experiments/{experiment}/compare?run=not-a-run", 404)


# --- model registry ------------------------------------------------------------------------------

@pytest.fixture
def model_group(server):
    sagemaker = server.client("sagemaker")
    group = unique("ui-group")
    sagemaker.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="console")
    for _ in range(2):
        sagemaker.create_model_package(ModelPackageGroupName=group, InferenceSpecification={
            "Containers": [{"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1",
                            "ModelDataUrl": "s3://ui-data/model.tar.gz"}],
            "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})
    return group


def test_model_group_lists_versions_with_approval_status(server, model_group):
    assert page(server, f"/models?name={model_group}").find("a", href=f"/_emulator/ui/models/{model_group}")
    dom = page(server, f"/models/{model_group}")
    assert {r["data-version"] for r in dom.find("tr") if "data-version" in r} == {"1", "2"}
    assert len(dom.find("span", data_status="PendingManualApproval")) == 2
    assert "No version is Approved" in page(server, f"/models/{model_group}?status=Approved").all_text
    version = page(server, f"/models/{model_group}/2")
    assert version.find("section", id="approval", data_status="PendingManualApproval")
    assert version.find("a", href="/_emulator/ui/s3/ui-data/model.tar.gz")


def test_approving_in_the_console_is_update_model_package(server, model_group):
    token = csrf_token(server)
    response = post(server, f"/models/{model_group}/1/approval", {"status": "Approved", "comment": "ship it"}, token)
    assert response.status_code == 200, response.text
    assert Elements(response.text).find("section", id="approval", data_status="Approved")
    described = server.client("sagemaker").describe_model_package(ModelPackageName=f"{model_group}/1")
    assert described["ModelApprovalStatus"] == "Approved" and described["ApprovalDescription"] == "ship it"
    bad = post(server, f"/models/{model_group}/1/approval", {"status": "Maybe"}, token)
    assert bad.status_code == 400 and "modelApprovalStatus" in bad.text   # botocore-model validation
    assert page(server, f"/models/{model_group}?status=Approved").find("tr", data_version="1")


# --- downloads -----------------------------------------------------------------------------------

def test_output_links_download_through_the_object_store(server):
    s3 = server.client("s3")
    bucket = unique("ui-dl")
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="out/run 1/model.tar.gz", Body=b"\x1f\x8bmodel-bytes")
    response = get(server, f"/s3/{bucket}/out/run%201/model.tar.gz")
    assert response.content == b"\x1f\x8bmodel-bytes"
    assert "attachment" in response.headers["content-disposition"]
    listing = page(server, f"/s3/{bucket}/out/")
    assert listing.find("a", href=f"/_emulator/ui/s3/{bucket}/out/run%201/")
    assert page(server, f"/s3/{bucket}/out/run%201").find("a", href=f"/_emulator/ui/s3/{bucket}/out/run%201/model.tar.gz")
    page(server, f"/s3/{bucket}/missing", 404)


# --- drawing (pure) ------------------------------------------------------------------------------

def _overlaps(boxes) -> bool:
    items = list(boxes.values())
    return any(abs(a[0] - b[0]) < NODE_W and abs(a[1] - b[1]) < NODE_H
               for i, a in enumerate(items) for b in items[i + 1:])


def test_fifty_step_graphs_lay_out_without_overlaps_in_layers():
    chain = nx.DiGraph([(f"s{i:02d}", f"s{i + 1:02d}") for i in range(49)])
    fan = nx.DiGraph([("start", f"w{i:02d}") for i in range(48)] + [(f"w{i:02d}", "end") for i in range(48)])
    mixed = nx.gnp_random_graph(50, 0.06, seed=7, directed=True)
    mixed = nx.DiGraph([(f"n{u:02d}", f"n{v:02d}") for u, v in mixed.edges if u < v])
    mixed.add_nodes_from(f"n{i:02d}" for i in range(50))
    for graph in (chain, fan, mixed):
        drawn = layout(graph)
        assert len(drawn.boxes) == 50 and not _overlaps(drawn.boxes)
        assert len(drawn.edges) == graph.number_of_edges()
        assert layout(graph).boxes == drawn.boxes   # deterministic
    assert layout(chain).vertical and not layout(fan).vertical   # a wide fan-out reads as columns
    assert layout(fan).width < 1000   # legible at 1:1, no 10,000-pixel row


def test_barycentre_sweeps_untangle_crossings():
    # Two chains whose second layer starts in the crossing order (sorted names).
    graph = nx.DiGraph([("a", "z"), ("b", "y"), ("z", "p"), ("y", "q")])
    drawn = layout(graph)
    x = {name: box[0] for name, box in drawn.boxes.items()}
    assert (x["a"] < x["b"]) == (x["z"] < x["y"]) == (x["p"] < x["q"])


def test_line_chart_keeps_every_point():
    points = [(i, (i * 7919) % 13 / 10) for i in range(1000)]
    svg = str(line_chart([Series("loss", points)], title="loss", x_label="step"))
    dom = Elements(svg)
    polyline = dom.find("polyline")[0]
    assert polyline["data-points"] == "1000" and len(polyline["points"].split()) == 1000
    assert not dom.find("circle")   # too many to mark individually
    assert "no points yet" in str(line_chart([], title="empty", x_label="step"))


def test_a_failed_job_step_opens_on_its_log(server):
    """Two clicks from the execution list to a failed step's log: its panel opens on the Logs tab."""
    sagemaker = server.client("sagemaker")
    name = unique("ui-fail")
    step = {"Name": "Prep", "Type": "Processing", "Arguments": {
        "ProcessingResources": {"ClusterConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1,
                                                  "VolumeSizeInGB": 1}},
        "AppSpecification": {"ImageUri": "smemu-ui-no-such-image:latest"}, "RoleArn": ROLE}}
    sagemaker.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition([step]))
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    assert wait_execution(sagemaker, arn, 120)["PipelineExecutionStatus"] == "Failed"
    dom = page(server, f"/pipelines/{name}/executions/{arn.rsplit('/', 1)[-1]}?step=Prep&fragment=1")
    assert dom.find("div", **{"class": "step-panel"})[0]["data-tab"] == "logs"
    job = [a["href"] for a in dom.find("a") if "/jobs/processing/" in a.get("href", "")]
    assert job and "smemu-ui-no-such-image" in dom.all_text
    assert page(server, job[0].removeprefix("/_emulator/ui")).find("p", **{"class": "failure"})


def test_step_graph_marks_status_cache_hits_and_links_each_step():
    from emulator.ui.svg import StepNode, dag
    graph = nx.DiGraph([("A", "B")])
    nodes = {"A": StepNode("A", "Processing", "Succeeded", "/x?step=A", cache_hit=True),
             "B": StepNode("B", "Training", "Executing", "/x?step=B")}
    dom = Elements(str(dag(layout(graph), nodes)))
    a, b = dom.find("a", data_step="A")[0], dom.find("a", data_step="B")[0]
    assert a["data-cache"] == "hit" and a["data-status"] == "Succeeded" and "data-cache" not in b
    assert b["hx-get"] == "/x?step=B&fragment=1" and b["href"] == "/x?step=B"
    assert dom.find("path", data_from="A", data_to="B")
    static = Elements(str(dag(layout(graph), nodes, interactive=False)))
    assert not static.find("a") and len(static.find("g", **{"class": "step"})) == 2


def test_a_multi_instance_job_log_says_which_host_wrote_each_line(server):
    sagemaker, logs = server.client("sagemaker"), server.client("logs")
    name = unique("ui-hosts")
    sagemaker.create_processing_job(
        ProcessingJobName=name, RoleArn=ROLE, AppSpecification={"ImageUri": "smemu-ui-no-such-image:latest"},
        ProcessingResources={"ClusterConfig": {"InstanceCount": 2, "InstanceType": "ml.m5.large",
                                               "VolumeSizeInGB": 1}})
    try:
        logs.create_log_group(logGroupName="/aws/sagemaker/ProcessingJobs")
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    now = int(time.time() * 1000)
    for turn in range(2):
        for host in (1, 2):
            stream = f"{name}/algo-{host}-1700000000"
            if turn == 0:
                logs.create_log_stream(logGroupName="/aws/sagemaker/ProcessingJobs", logStreamName=stream)
            logs.put_log_events(logGroupName="/aws/sagemaker/ProcessingJobs", logStreamName=stream,
                                logEvents=[{"timestamp": now + turn, "message": f"host {host} line {turn}"}])
    dom = page(server, f"/jobs/processing/{name}")
    assert "multi" in dom.find("pre", data_log="")[0]["class"]
    lines = dom.find("span", **{"class": "line"})
    assert [s["data-host"] for s in lines] == ["algo-1", "algo-2", "algo-1", "algo-2"]   # in arrival order


# --- monitoring ----------------------------------------------------------------------------------

def test_an_empty_emulator_says_it_has_no_monitoring_yet(own_server):
    text = page(own_server, "/monitoring").all_text
    for wording in ("No monitoring schedules yet", "No CloudWatch alarms yet", "No EventBridge rules yet"):
        assert wording in text


def monitored_endpoint(sagemaker, capture_uri: str) -> str:
    """An endpoint record with data capture on (its model's image does not exist: it never serves, and
    schedules only need the record)."""
    name = unique("ui-monitored")
    sagemaker.create_model(ModelName=name, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": "smemu-ui-no-such-image:1"})
    sagemaker.create_endpoint_config(EndpointConfigName=name, ProductionVariants=[{
        "VariantName": "AllTraffic", "ModelName": name, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}],
        DataCaptureConfig={"EnableCapture": True, "InitialSamplingPercentage": 100, "DestinationS3Uri": capture_uri,
                           "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}]})
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=name)
    return name


def data_quality_definition(name: str, endpoint: str, bucket: str, app: dict) -> dict:
    return {"JobDefinitionName": name, "RoleArn": ROLE, "DataQualityAppSpecification": app,
            "JobResources": {"ClusterConfig": {"InstanceCount": 1, "InstanceType": "ml.m5.xlarge", "VolumeSizeInGB": 1}},
            "DataQualityBaselineConfig": {"ConstraintsResource": {"S3Uri": f"s3://{bucket}/baseline/constraints.json"}},
            "DataQualityJobInput": {"EndpointInput": {"EndpointName": endpoint,
                                                      "LocalPath": "/opt/ml/processing/input/endpoint"}},
            "DataQualityJobOutputConfig": {"MonitoringOutputs": [{"S3Output": {
                "S3Uri": f"s3://{bucket}/reports", "LocalPath": "/opt/ml/processing/output"}}]},
            "StoppingCondition": {"MaxRuntimeInSeconds": 600}}


ANALYZER = {"ImageUri": "156813124566.dkr.ecr.us-east-1.amazonaws.com/sagemaker-model-monitor-analyzer"}


def monitored_schedule(server, prefix: str, app: dict = ANALYZER, schedule_config: dict | None = None) -> \
        tuple[str, str, str]:
    """A bucket, an endpoint record capturing into it and a data quality schedule on that endpoint whose
    monitoring image is `app`: (bucket, endpoint, schedule)."""
    sagemaker = server.client("sagemaker")
    bucket = unique(prefix)
    server.client("s3").create_bucket(Bucket=bucket)
    endpoint = monitored_endpoint(sagemaker, f"s3://{bucket}/capture")
    job_definition = unique(f"{prefix}-dq")
    sagemaker.create_data_quality_job_definition(**data_quality_definition(job_definition, endpoint, bucket, app))
    schedule = unique(f"{prefix}-schedule")
    sagemaker.create_monitoring_schedule(MonitoringScheduleName=schedule, MonitoringScheduleConfig={
        "MonitoringJobDefinitionName": job_definition, "MonitoringType": "DataQuality",
        **({"ScheduleConfig": schedule_config} if schedule_config else {})})
    return bucket, endpoint, schedule


def run_schedule(server, name: str) -> dict:
    answer = requests.post(f"{server.endpoint}/_emulator/monitoring-schedules/{name}/run", json={}, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()


def schedule_status(sagemaker, name: str) -> str:
    return sagemaker.describe_monitoring_schedule(MonitoringScheduleName=name)["MonitoringScheduleStatus"]


def remove_monitoring(sagemaker, endpoint: str, schedule: str) -> None:
    """The shared emulator's other tests expect no endpoints: delete the schedule, then the endpoint."""
    wait_until(lambda: schedule_status(sagemaker, schedule) != "Pending", timeout=60)
    sagemaker.delete_monitoring_schedule(MonitoringScheduleName=schedule)
    sagemaker.delete_endpoint(EndpointName=endpoint)
    sagemaker.get_waiter("endpoint_deleted").wait(EndpointName=endpoint, WaiterConfig={"Delay": 0.5, "MaxAttempts": 120})


@pytest.fixture(scope="module")
def monitoring(server):
    """A schedule on an endpoint with one execution (failed: nothing was captured), an alarm in ALARM on a metric
    with datapoints, and an EventBridge rule on its state changes."""
    sagemaker, cloudwatch, events = server.client("sagemaker"), server.client("cloudwatch"), server.client("events")
    bucket, endpoint, schedule = monitored_schedule(server, "ui-monitor",
                                                    schedule_config={"ScheduleExpression": "cron(0 * ? * * *)"})
    run_schedule(server, schedule)

    namespace, metric = unique("UiMonitoring"), "feature_baseline_drift_x"
    dimensions = [{"Name": "Endpoint", "Value": endpoint}, {"Name": "MonitoringSchedule", "Value": schedule}]
    now = time.time()
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": metric, "Dimensions": dimensions, "Timestamp": now - minutes * 60, "Value": value}
        for minutes, value in ((3, 0.1), (2, 0.2), (1, 0.9), (0, 0.9))])
    alarm = f"{unique('ui-drift')}/{metric} high"   # alarm names may hold slashes and spaces
    cloudwatch.put_metric_alarm(AlarmName=alarm, Namespace=namespace, MetricName=metric, Dimensions=dimensions,
                                Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=0.5,
                                ComparisonOperator="GreaterThanThreshold", TreatMissingData="ignore")
    wait_until(lambda: cloudwatch.describe_alarms(AlarmNames=[alarm])["MetricAlarms"][0]["StateValue"] == "ALARM",
               timeout=60)
    rule = unique("ui-on-drift")
    events.put_rule(Name=rule, EventPattern=json.dumps({"source": ["aws.cloudwatch"],
                                                        "detail": {"alarmName": [alarm]}}))
    target = f"arn:aws:sagemaker:us-east-1:000000000000:pipeline/{unique('retrain')}"
    events.put_targets(Rule=rule, Targets=[{"Id": "retrain", "Arn": target, "RoleArn": ROLE}])
    yield {"endpoint": endpoint, "schedule": schedule, "alarm": alarm, "rule": rule, "target": target,
           "metric": metric, "bucket": bucket}
    events.remove_targets(Rule=rule, Ids=["retrain"])
    events.delete_rule(Name=rule)
    cloudwatch.delete_alarms(AlarmNames=[alarm])
    remove_monitoring(sagemaker, endpoint, schedule)


def test_monitoring_page_lists_schedules_alarms_and_rules(server, monitoring):
    m = monitoring
    dom = page(server, "/monitoring")
    assert dom.find("a", href=f"/_emulator/ui/monitoring/schedules/{m['schedule']}")
    assert dom.find("a", href=f"/_emulator/ui/endpoints/{m['endpoint']}")
    assert dom.find("a", href=f"/_emulator/ui/monitoring/alarms/{quote(m['alarm'], safe='')}")
    assert dom.find("section", id="monitoring-live", hx_get="/_emulator/ui/monitoring/live")
    html = get(server, "/monitoring/live").text
    row = html[html.index(f'data-schedule="{m["schedule"]}"'):].split("</tr>")[0]
    assert "Data quality" in row and "cron(0 * ? * * *)" in row and 'data-status="Failed"' in row
    assert 'data-status="Pending"' in row or 'data-status="Scheduled"' in row
    alarm_row = html[html.index(f'data-alarm="{m["alarm"]}"'):].split("</tr>")[0]
    assert 'data-status="ALARM"' in alarm_row and "Threshold Crossed" in alarm_row
    assert m["metric"] in alarm_row and f"MonitoringSchedule={m['schedule']}" in alarm_row
    rule_row = html[html.index(f'data-rule="{m["rule"]}"'):].split("</tr>")[0]
    assert "aws.cloudwatch" in rule_row and m["target"] in rule_row and 'data-status="ENABLED"' in rule_row


def test_schedule_page_shows_its_definition_and_executions(server, monitoring):
    m = monitoring
    dom = page(server, f"/monitoring/schedules/{m['schedule']}")
    text = dom.all_text
    assert "cron(0 * ? * * *)" in text and "Data quality" in text
    assert f"s3://{m['bucket']}/baseline/constraints.json" in text
    assert dom.find("a", href=f"/_emulator/ui/endpoints/{m['endpoint']}")
    failed = dom.find("tr", data_status="Failed")
    assert len(failed) == 1
    assert "Job inputs had no data" in text   # no processing job was started, so none is linked
    assert not [a for a in dom.find("a") if a.get("href", "").startswith("/_emulator/ui/jobs/processing/")]
    fragment = Elements(get(server, f"/monitoring/schedules/{m['schedule']}?fragment=1").text)
    home = page(server, "/")
    assert home.find("a", href=f"/_emulator/ui/monitoring/schedules/{m['schedule']}")   # its run is recent activity
    assert home.find("a", data_kind="Monitoring schedules")
    assert fragment.find("section", id="executions-live") and not fragment.find("header")


def test_endpoint_page_links_the_schedules_watching_it(server, monitoring):
    dom = page(server, f"/endpoints/{monitoring['endpoint']}")
    assert dom.find("a", href=f"/_emulator/ui/monitoring/schedules/{monitoring['schedule']}")


def test_alarm_page_shows_history_and_charts_the_metric_against_the_threshold(server, monitoring):
    m = monitoring
    dom = page(server, f"/monitoring/alarms/{quote(m['alarm'], safe='')}")
    assert dom.find("section", id="alarm-live", data_status="ALARM")
    history = [a["data-type"] for a in dom.find("tr") if "data-type" in a]
    assert "StateUpdate" in history and history[-1] == "ConfigurationUpdate"   # newest first: creation is the oldest
    assert "Threshold Crossed" in dom.all_text
    assert dom.find("polyline", data_points="4")           # one point per minute with data
    assert dom.find("line", data_threshold="0.5")
    assert dom.find("a", href="/_emulator/ui/monitoring")
    fragment = Elements(get(server, f"/monitoring/alarms/{quote(m['alarm'], safe='')}?fragment=1").text)
    assert fragment.find("section", id="alarm-live") and not fragment.find("header")


@pytest.mark.docker
def test_an_execution_with_violations_links_its_job_and_tables_its_report(server):
    """A schedule whose (bring-your-own) monitoring image writes a constraint_violations.json: the execution
    turns CompletedWithViolations and its page shows the violations read from the report."""
    sagemaker, s3 = server.client("sagemaker"), server.client("s3")
    # The image copies its baseline constraints file (the report below, staged like any baseline) to its output.
    script = ('cp "$baseline_constraints" /opt/ml/processing/output/constraint_violations.json && mkdir -p '
              "/opt/ml/output && echo 'CompletedWithViolations: 2 violations.' > /opt/ml/output/message")
    bucket, endpoint, schedule = monitored_schedule(server, "ui-violations", {
        "ImageUri": ensure_byo_image(), "ContainerEntrypoint": ["sh", "-c", script]})
    hour = time.strftime("%Y/%m/%d/%H", time.gmtime())
    s3.put_object(Bucket=bucket, Key=f"capture/{endpoint}/AllTraffic/{hour}/records.jsonl", Body=b"{}\n")
    report = {"violations": [{"feature_name": "age", "constraint_check_type": "baseline_drift_check",
                              "description": "Baseline drift distance 0.4 exceeds threshold 0.1"},
                             {"feature_name": "income", "constraint_check_type": "data_type_check",
                              "description": "Data type of income is Fractional in 20% of rows"}]}
    s3.put_object(Bucket=bucket, Key="baseline/constraints.json", Body=json.dumps(report).encode())
    try:
        job = run_schedule(server, schedule)["ProcessingJobArn"].rsplit("/", 1)[-1]
        wait_until(lambda: sagemaker.list_monitoring_executions(MonitoringScheduleName=schedule)[
            "MonitoringExecutionSummaries"][0]["MonitoringExecutionStatus"] == "CompletedWithViolations", timeout=300)
        dom = page(server, f"/monitoring/schedules/{schedule}")
        assert dom.find("tr", data_status="CompletedWithViolations")
        assert dom.find("a", href=f"/_emulator/ui/jobs/processing/{job}")
        assert dom.find("table", data_violations="2")
        assert [a["data-feature"] for a in dom.find("tr") if "data-feature" in a] == ["age", "income"]
        assert "Baseline drift distance 0.4 exceeds threshold 0.1" in dom.all_text
        page(server, f"/jobs/processing/{job}")
    finally:
        remove_monitoring(sagemaker, endpoint, schedule)
