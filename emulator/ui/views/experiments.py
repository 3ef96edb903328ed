"""Experiments -> runs: a table of the experiment's runs (trial components) with their parameters
and final metrics as sortable columns; a run's page; several runs compared (parameter diff and one
chart per metric with a line per run)."""

from __future__ import annotations

from typing import Any

from emulator.aws.errors import AwsError
from emulator.core import browse, experiments, metrics
from emulator.ui import svg
from emulator.ui.pages import Ctx, Html, NotFound, page

PAGE_SIZE = 50
MAX_COMPARED = 8


@page("/experiments", nav="Experiments", order=30)
def experiment_list(ctx: Ctx) -> Html:
    listing = browse.page(ctx.services, experiments.EXPERIMENT, ["ExperimentName", "DisplayName", "Description",
                                                                 "CreationTime"],
                          name_contains=ctx.arg("name") or None, offset=ctx.int_arg("offset"), limit=PAGE_SIZE)
    return Html("experiments.html", {"section": "experiments", "page": listing, "name": ctx.arg("name"),
                                     "trials": browse.trial_counts(ctx.services)})


def _experiment(ctx: Ctx, name: str) -> dict[str, Any]:
    try:
        return experiments.get(ctx.services, experiments.EXPERIMENT, name, ctx.region)
    except AwsError:
        raise NotFound(f"There is no experiment named {name!r}.") from None


def parameter_text(value: dict[str, Any] | None) -> str:
    """A TrialComponentParameterValue as text (NumberValue or StringValue)."""
    if not value:
        return ""
    if "NumberValue" in value:
        number = value["NumberValue"]
        return str(int(number)) if float(number).is_integer() else f"{number:.6g}"
    return str(value.get("StringValue", ""))


def _runs(ctx: Ctx, experiment: str) -> list[dict[str, Any]]:
    runs = browse.experiment_components(ctx.services, experiment)
    for run in runs:
        run["_metrics"] = {m["MetricName"]: m for m in metrics.summaries(ctx.services, run["TrialComponentName"])}
    return runs


def _sort_key(column: str):
    kind, _, name = column.partition(":")

    def key(run: dict[str, Any]) -> tuple:
        if kind == "param":
            value = (run.get("Parameters") or {}).get(name)
            if value is None:
                return (2, 0, "")
            if "NumberValue" in value:
                return (0, value["NumberValue"], "")
            return (1, 0, str(value.get("StringValue", "")))
        if kind == "metric":
            found = run["_metrics"].get(name)
            return (0, found["Last"], "") if found else (2, 0, "")
        if kind == "status":
            return (0, 0, (run.get("Status") or {}).get("PrimaryStatus", ""))
        if kind == "created":
            return (0, run.get("CreationTime") or 0, "")
        return (0, 0, (run.get("DisplayName") or run["TrialComponentName"]).lower())
    return key


@page("/experiments/{name}")
def experiment_detail(ctx: Ctx, name: str) -> Html:
    experiment = _experiment(ctx, name)
    runs = _runs(ctx, experiment["ExperimentName"])
    parameters = sorted({p for r in runs for p in r.get("Parameters") or {} if not p.startswith("SageMaker.")})
    metric_names = sorted({m for r in runs for m in r["_metrics"]})
    sort = ctx.arg("sort", "created")
    order = ctx.arg("order", "asc")
    runs.sort(key=_sort_key(sort), reverse=order == "desc")
    return Html("experiment.html", {"section": "experiments", "experiment": experiment, "runs": runs,
                                    "parameters": parameters, "metric_names": metric_names, "sort": sort,
                                    "order": order, "param_text": parameter_text})


def _run(ctx: Ctx, experiment: str, run: str) -> dict[str, Any]:
    for found in browse.experiment_components(ctx.services, experiment):
        if found["TrialComponentName"].lower() == run.lower():
            return found
    raise NotFound(f"Experiment {experiment!r} has no run {run!r}.")


def _metric_charts(ctx: Ctx, runs: list[dict[str, Any]]) -> list[Any]:
    """One chart per metric, one line per run: every point by step (by arrival when a point has none)."""
    by_metric: dict[str, list[svg.Series]] = {}
    for run in runs:
        label = run.get("DisplayName") or run["TrialComponentName"]
        for metric, points in sorted(metrics.series(ctx.services, run["TrialComponentName"]).items()):
            xy = [(step if step is not None else i, value) for i, (_, step, value) in enumerate(points)]
            xy.sort(key=lambda p: p[0])
            by_metric.setdefault(metric, []).append(svg.Series(label, xy))
    return [svg.line_chart(series, title=metric, x_label="step") for metric, series in sorted(by_metric.items())]


@page("/experiments/{name}/runs/{run}")
def run_detail(ctx: Ctx, name: str, run: str) -> Html:
    experiment = _experiment(ctx, name)
    found = _run(ctx, experiment["ExperimentName"], run)
    summaries = metrics.summaries(ctx.services, found["TrialComponentName"])
    return Html("run.html", {"section": "experiments", "experiment": experiment, "run": found,
                             "summaries": summaries, "charts": _metric_charts(ctx, [found]),
                             "param_text": parameter_text})


@page("/experiments/{name}/compare")
def compare(ctx: Ctx, name: str) -> Html:
    experiment = _experiment(ctx, name)
    wanted = list(dict.fromkeys(ctx.query.getlist("run")))[:MAX_COMPARED]
    runs = [_run(ctx, experiment["ExperimentName"], r) for r in wanted]
    parameters = sorted({p for r in runs for p in r.get("Parameters") or {}})
    rows = []
    for parameter in parameters:
        values = [parameter_text((r.get("Parameters") or {}).get(parameter)) for r in runs]
        rows.append({"name": parameter, "cells": values, "differs": len(set(values)) > 1})
    rows.sort(key=lambda row: (not row["differs"], row["name"]))
    return Html("compare.html", {"section": "experiments", "experiment": experiment, "runs": runs, "rows": rows,
                                 "charts": _metric_charts(ctx, runs) if runs else []})
