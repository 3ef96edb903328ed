"""The web console in a real browser: Debian's chromium driven by Playwright (never `playwright
install`, which downloads a browser). Few, deep tests: a running pipeline turns green in front of
us, a step's log, a training job's metric chart, two runs compared, a model version approved, the
monitoring page followed to a schedule and an alarm.
Each page is screenshotted under the test's tmp dir; assertions read the DOM, not pixels."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from tests.jobhelpers import ROLE, ensure_byo_image, unique
from tests.pipelinehelpers import definition, processing_step, training_step
from tests.test_ui import monitored_schedule, remove_monitoring, run_schedule

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]

pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason="needs Debian's chromium (make test installs it: scripts/ensure-chromium.sh)")]


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, server, tmp_path):
    """A tab that may talk to the emulator only: any other request is refused and remembered."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    foreign: list[str] = []

    def guard(route) -> None:
        if route.request.url.startswith(server.endpoint) or route.request.url.startswith("data:"):
            route.continue_()
        else:
            foreign.append(route.request.url)
            route.abort()
    context.route("**/*", guard)
    tab = context.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda exc: errors.append(str(exc)))
    tab.set_default_timeout(30_000)
    yield tab
    context.close()
    assert not foreign, f"the console asked for {foreign}"
    assert not errors, errors


def ui(server, path: str = "") -> str:
    return f"{server.endpoint}/_emulator/ui/{path}"


def shot(tab, tmp_path: Path, name: str) -> None:
    tab.screenshot(path=str(tmp_path / f"{name}.png"), full_page=True)


def test_watch_a_pipeline_turn_green_read_a_step_log_and_a_metric_chart(server, page, tmp_path):
    sagemaker, s3 = server.client("sagemaker"), server.client("s3")
    ensure_byo_image()
    bucket = unique("ui-browser")
    s3.create_bucket(Bucket=bucket)
    train_script = ("for i in 1 2 3 4 5 6; do echo \"epoch $i loss=0.$((10 - i))\"; sleep 0.5; done; "
                    "echo train-log-marker; mkdir -p /opt/ml/model; echo m > /opt/ml/model/m.txt")
    steps = [
        processing_step("Prep", "sleep 4; echo prep-log-marker"),
        {"Name": "Check", "Type": "Condition", "DependsOn": ["Prep"], "Arguments": {
            "Conditions": [{"Type": "GreaterThanOrEqualTo", "LeftValue": {"Get": "Parameters.Threshold"},
                            "RightValue": 1}],
            "IfSteps": [training_step("Train", train_script, f"s3://{bucket}/out", arguments={
                "AlgorithmSpecification": {"TrainingImage": "smemu-test-byo:latest", "TrainingInputMode": "File",
                                           "ContainerEntrypoint": ["sh", "-c", train_script],
                                           "MetricDefinitions": [{"Name": "loss", "Regex": r"loss=([0-9.]+)"}]}})],
            "ElseSteps": [{"Name": "TooLow", "Type": "Fail", "Arguments": {"ErrorMessage": "threshold too low"}}]}},
    ]
    name = unique("ui-live")
    sagemaker.create_pipeline(PipelineName=name, RoleArn=ROLE, PipelineDefinition=definition(
        steps, [{"Name": "Threshold", "Type": "Integer", "DefaultValue": 2}]))
    arn = sagemaker.start_pipeline_execution(PipelineName=name)["PipelineExecutionArn"]
    execution_id = arn.rsplit("/", 1)[-1]

    page.goto(ui(server, f"pipelines/{name}/executions/{execution_id}"))
    page.evaluate("window.__sameDocument = true")   # gone if the page reloads or navigates
    assert page.locator("svg.dag a.step").count() == 4
    assert page.get_attribute('a.step[data-step="Train"]', "data-status") != "Succeeded"
    shot(page, tmp_path, "execution-running")
    page.wait_for_selector('a.step[data-step="Train"][data-status="Succeeded"]', timeout=300_000)
    page.wait_for_selector('#execution-live[data-status="Succeeded"]', timeout=30_000)
    assert page.evaluate("window.__sameDocument === true"), "the page reloaded instead of updating in place"
    statuses = {step: page.get_attribute(f'a.step[data-step="{step}"]', "data-status")
                for step in ("Prep", "Check", "Train", "TooLow")}
    assert statuses == {"Prep": "Succeeded", "Check": "Succeeded", "Train": "Succeeded", "TooLow": "NotStarted"}
    shot(page, tmp_path, "execution-succeeded")

    page.click('a.step[data-step="Train"]')
    page.wait_for_selector('#step-panel .step-panel[data-step="Train"]')
    page.click('#step-panel a[data-tab="logs"]')
    page.wait_for_selector('#step-panel .step-panel[data-tab="logs"]')
    page.wait_for_function("document.querySelector('#step-panel pre.log').textContent.includes('train-log-marker')")
    assert "epoch 6 loss=0.4" in page.text_content("#step-panel pre.log")
    assert page.evaluate("window.__sameDocument === true")
    shot(page, tmp_path, "step-logs")

    page.click('#step-panel a[href*="/jobs/training/"]')
    page.wait_for_selector('svg.chart[data-title="loss"]')
    polyline = page.locator('svg.chart[data-title="loss"] polyline')
    assert polyline.get_attribute("data-points") == "6"
    assert len(polyline.get_attribute("points").split()) == 6
    assert page.locator('svg.chart[data-title="loss"] circle.dot').count() == 6
    assert "train-log-marker" in page.text_content("pre.log")
    shot(page, tmp_path, "training-job")

    for path, selector in ((f"pipelines/{name}", "#executions"), ("pipelines", "table.list"),
                           ("jobs/training", "#jobs"), ("", "#activity")):
        page.goto(ui(server, path))
        page.wait_for_selector(selector)
        shot(page, tmp_path, path.replace("/", "-") or "home")


def test_compare_two_runs(server, page, tmp_path):
    sagemaker, metrics = server.client("sagemaker"), server.client("sagemaker-metrics")
    experiment = unique("ui-cmp")
    sagemaker.create_experiment(ExperimentName=experiment)
    sagemaker.create_trial(TrialName=f"{experiment}-trial", ExperimentName=experiment)
    runs = []
    for index, lr in enumerate((0.1, 0.03)):
        run = f"{experiment}-{index}"
        sagemaker.create_trial_component(TrialComponentName=run, Parameters={
            "lr": {"NumberValue": lr}, "batch": {"NumberValue": 32}})
        sagemaker.associate_trial_component(TrialComponentName=run, TrialName=f"{experiment}-trial")
        metrics.batch_put_metrics(TrialComponentName=run, MetricData=[
            {"MetricName": "accuracy", "Timestamp": time.time(), "Step": step, "Value": 0.5 + step * lr}
            for step in range(4)])
        runs.append(run)
    page.goto(ui(server, "experiments"))
    page.click(f'a[href$="/experiments/{experiment}"]')
    page.wait_for_selector("#runs")
    shot(page, tmp_path, "experiment")
    for run in runs:
        page.check(f'input[name="run"][value="{run}"]')
    page.click("#compare")
    page.wait_for_selector("#param-diff")
    assert page.locator('tr[data-param="lr"][data-differs="true"]').count() == 1
    assert page.locator('tr[data-param="batch"][data-differs="true"]').count() == 0
    lines = page.locator('svg.chart[data-title="accuracy"] polyline.line')
    assert lines.count() == 2 and {lines.nth(i).get_attribute("data-points") for i in range(2)} == {"4"}
    shot(page, tmp_path, "compare")


def test_approve_a_model_version_and_see_it_through_boto3(server, page, tmp_path):
    sagemaker = server.client("sagemaker")
    group = unique("ui-approve")
    sagemaker.create_model_package_group(ModelPackageGroupName=group)
    arn = sagemaker.create_model_package(ModelPackageGroupName=group, InferenceSpecification={
        "Containers": [{"Image": "123.dkr.ecr.us-east-1.amazonaws.com/x:1"}],
        "SupportedContentTypes": ["text/csv"], "SupportedResponseMIMETypes": ["text/csv"]})["ModelPackageArn"]
    page.goto(ui(server, "models"))
    page.click(f'a[href$="/models/{group}"]')
    page.wait_for_selector("#versions")
    shot(page, tmp_path, "model-group")
    page.click('tr[data-version="1"] a')
    page.wait_for_selector('#approval[data-status="PendingManualApproval"]')
    page.select_option("#approval-status", "Approved")
    page.fill("#approval-comment", "metrics look good")
    page.click("#approval-submit")
    page.wait_for_selector('#approval[data-status="Approved"]')
    assert "metrics look good" in page.text_content("#approval")
    shot(page, tmp_path, "model-version")
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    assert described["ModelApprovalStatus"] == "Approved"
    assert described["ApprovalDescription"] == "metrics look good"


def test_follow_the_monitoring_page_to_a_schedule_and_an_alarm(server, page, tmp_path):
    sagemaker, cloudwatch = server.client("sagemaker"), server.client("cloudwatch")
    _, endpoint, schedule = monitored_schedule(server, "ui-browser-monitor")
    alarm, namespace = unique("ui-browser-alarm"), unique("UiBrowser")
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": "drift", "Timestamp": time.time() - minutes * 60, "Value": value}
        for minutes, value in ((4, 0.1), (3, 0.3), (2, 0.2), (1, 0.7))])
    cloudwatch.put_metric_alarm(AlarmName=alarm, Namespace=namespace, MetricName="drift",
                                Statistic="Maximum", Period=60, EvaluationPeriods=1, Threshold=0.5,
                                ComparisonOperator="GreaterThanThreshold")
    try:
        run_schedule(server, schedule)
        page.goto(ui(server, "monitoring"))
        page.wait_for_selector(f'tr[data-schedule="{schedule}"] .last-execution .status[data-status="Failed"]')
        shot(page, tmp_path, "monitoring")
        page.click(f'a[href$="/monitoring/schedules/{schedule}"]')
        page.wait_for_selector('#executions tr[data-status="Failed"]')
        assert "Job inputs had no data" in page.text_content("#executions")
        shot(page, tmp_path, "schedule")
        page.go_back()
        page.click(f'a[href$="/monitoring/alarms/{alarm}"]')
        page.wait_for_selector('#alarm-history tr[data-type="ConfigurationUpdate"]')
        assert page.get_attribute("svg.chart polyline", "data-points") == "4"
        assert page.get_attribute("svg.chart line.threshold", "data-threshold") == "0.5"
        shot(page, tmp_path, "alarm")
    finally:
        cloudwatch.delete_alarms(AlarmNames=[alarm])
        remove_monitoring(sagemaker, endpoint, schedule)
