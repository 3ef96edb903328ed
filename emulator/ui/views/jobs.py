"""Jobs: one list per job type (filter by status and name, paged in SQL) and a page per job with its
status timeline, configuration, outputs, metric charts and live log tail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.responses import Response, StreamingResponse

from emulator.aws.errors import AwsError
from emulator.core import browse, jobs, tuning
from emulator.ui import format as fmt
from emulator.ui import joblogs, svg
from emulator.ui.pages import Ctx, Html, NotFound, page, url

PAGE_SIZE = 50


@dataclass(frozen=True)
class JobType:
    slug: str               # URL segment
    label: str
    kind: str               # record kind; fields are <kind>Name, <kind>Status, <kind>Arn
    statuses: tuple[str, ...]
    end_field: str
    log_group: str | None   # CloudWatch Logs group of its containers

    @property
    def name_field(self) -> str:
        return f"{self.kind}Name"

    @property
    def status_field(self) -> str:
        return f"{self.kind}Status"


_JOB_STATUSES = ("InProgress", "Completed", "Failed", "Stopping", "Stopped")
JOB_TYPES = {t.slug: t for t in (
    JobType("training", "Training", "TrainingJob", _JOB_STATUSES, "TrainingEndTime", jobs.TRAINING.log_group),
    JobType("processing", "Processing", "ProcessingJob", _JOB_STATUSES, "ProcessingEndTime",
            jobs.PROCESSING.log_group),
    JobType("transform", "Transform", "TransformJob", _JOB_STATUSES, "TransformEndTime", jobs.TRANSFORM.log_group),
    JobType("tuning", "Tuning", "HyperParameterTuningJob", _JOB_STATUSES, "HyperParameterTuningEndTime", None),
)}


def job_type(slug: str) -> JobType:
    found = JOB_TYPES.get(slug)
    if found is None:
        raise NotFound(f"There is no job type {slug!r}; the console lists {', '.join(JOB_TYPES)} jobs.")
    return found


def describe(ctx: Ctx, kind: JobType, name: str) -> dict[str, Any]:
    """The job's Describe response, read through the functions the API handlers use."""
    try:
        if kind.slug == "tuning":
            return tuning.describe_tuning_job(ctx.services, name)
        return jobs.describe_job(ctx.services, jobs.KINDS[kind.kind], name)
    except AwsError:
        raise NotFound(f"There is no {kind.label.lower()} job named {name!r}.") from None


@page("/jobs", nav="Jobs", order=20)
def jobs_home(ctx: Ctx) -> Html:
    return job_list(ctx, "training")


@page("/jobs/{type}")
def job_list(ctx: Ctx, type: str) -> Html:
    kind = job_type(type)
    status = ctx.arg("status")
    status = status if status in kind.statuses else ""
    fields = [kind.name_field, kind.status_field, "CreationTime", kind.end_field, "FailureReason"]
    if kind.slug == "training":
        fields.append("SecondaryStatus")
    listing = browse.page(ctx.services, kind.kind, fields, equals={kind.status_field: status} if status else None,
                          name_contains=ctx.arg("name") or None, offset=ctx.int_arg("offset"), limit=PAGE_SIZE)
    return Html("jobs.html", {"section": "jobs", "kind": kind, "types": JOB_TYPES.values(), "page": listing,
                              "status": status, "name": ctx.arg("name")})


@page("/jobs/{type}/{name}")
def job_detail(ctx: Ctx, type: str, name: str) -> Html:
    kind = job_type(type)
    job = describe(ctx, kind, name)
    context = {"section": "jobs", "kind": kind, "job": job, **live_context(ctx, kind, job)}
    if kind.log_group:
        context["tail"] = joblogs.tail(ctx.services, kind.log_group, job[kind.name_field], after=None,
                                       ended=job.get(kind.end_field), hosts=joblogs.instance_count(job))
        context["log_url"] = url("jobs", kind.slug, job[kind.name_field], "logs")
    return Html(f"{kind.slug}_job.html", context)


@page("/jobs/{type}/{name}/live")
def job_live(ctx: Ctx, type: str, name: str) -> Html:
    """The part of a job page that changes while it runs (polled until the job ends)."""
    kind = job_type(type)
    job = describe(ctx, kind, name)
    return Html(f"_{kind.slug}_live.html", {"kind": kind, "job": job, **live_context(ctx, kind, job)})


def live_context(ctx: Ctx, kind: JobType, job: dict[str, Any]) -> dict[str, Any]:
    status = job[kind.status_field]
    out: dict[str, Any] = {"status": status, "live": not fmt.is_terminal(status),
                           "live_url": url("jobs", kind.slug, job[kind.name_field], "live")}
    if kind.slug == "training":
        out["charts"] = training_charts(ctx, job)
    elif kind.slug == "tuning":
        out.update(tuning_trials(ctx, job))
    elif kind.slug == "transform":
        out.update(transform_outputs(ctx, job))
    return out


OUTPUT_LIMIT = 100


def transform_outputs(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """The `.out` objects under the job's S3OutputPath (the first OUTPUT_LIMIT)."""
    uri = job["TransformOutput"]["S3OutputPath"]
    bucket, _, prefix = uri[5:].partition("/")
    found = []
    if ctx.services.objects.bucket_exists(bucket):
        prefix = prefix.rstrip("/") + "/" if prefix.strip("/") else ""
        for info in ctx.services.objects.list_objects(bucket, prefix):
            if info.key.endswith(".out"):
                found.append({"uri": f"s3://{bucket}/{info.key}", "size": info.size})
                if len(found) >= OUTPUT_LIMIT:
                    break
    return {"outputs": found, "output_limit": OUTPUT_LIMIT}


def training_charts(ctx: Ctx, job: dict[str, Any]) -> list[Any]:
    """One chart per metric: every point the job logged, by the order it was logged in."""
    series = joblogs.metric_series(ctx.services, jobs.TRAINING.log_group, job)
    return [svg.line_chart([svg.Series(name, [(i, v) for i, (_, v) in enumerate(points)])],
                           title=name, x_label="step (n-th value logged)")
            for name, points in sorted(series.items())]


def tuning_trials(ctx: Ctx, job: dict[str, Any]) -> dict[str, Any]:
    """Trials sorted by the objective (best first, unevaluated last) and the objective over trials."""
    record = ctx.services.records.get(tuning.KIND, job[tuning.NAME]) or {}
    summaries = tuning.evaluate(ctx.services, record).summaries if record else []
    objective = (job["HyperParameterTuningJobConfig"].get("HyperParameterTuningJobObjective") or {})
    maximize = objective.get("Type") == "Maximize"

    def value(s: dict[str, Any]) -> float | None:
        return (s.get("FinalHyperParameterTuningJobObjectiveMetric") or {}).get("Value")
    evaluated = [s for s in summaries if value(s) is not None]
    ranked = sorted(evaluated, key=value, reverse=maximize) + [s for s in summaries if value(s) is None]
    best = (job.get("BestTrainingJob") or {}).get("TrainingJobName")
    order = sorted(evaluated, key=lambda s: s["CreationTime"])
    best_index = next((i for i, s in enumerate(order) if s["TrainingJobName"] == best), None)
    chart = svg.line_chart([svg.Series(objective.get("MetricName", "objective"),
                                       [(i + 1, value(s)) for i, s in enumerate(order)])],
                           title=f"{objective.get('MetricName', 'objective')} by trial ({objective.get('Type', '')})",
                           x_label="trial (in creation order)", highlight=best_index)
    hyperparameters = sorted({k for s in summaries for k in s.get("TunedHyperParameters") or {}})
    return {"trials": ranked, "best": best, "objective_chart": chart, "tuned": hyperparameters,
            "objective": objective}


def _logged_job(ctx: Ctx, type: str, name: str) -> tuple[JobType, dict[str, Any], str]:
    """A job of a type that writes logs, and its log group."""
    kind = job_type(type)
    if kind.log_group is None:
        raise NotFound(f"{kind.label} jobs have no log.")
    return kind, describe(ctx, kind, name), kind.log_group


@page("/jobs/{type}/{name}/logs")
def job_logs(ctx: Ctx, type: str, name: str) -> Html:
    """New log lines after `after` (the tail's poller swaps itself for them and a new poller)."""
    kind, job, group = _logged_job(ctx, type, name)
    tail = joblogs.tail(ctx.services, group, job[kind.name_field], after=ctx.int_arg("after"),
                        ended=job.get(kind.end_field), hosts=joblogs.instance_count(job))
    return Html("_log_lines.html", {"tail": tail, "log_url": url("jobs", kind.slug, job[kind.name_field], "logs")})


@page("/jobs/{type}/{name}/logs.txt")
def job_log_text(ctx: Ctx, type: str, name: str) -> Response:
    kind, job, group = _logged_job(ctx, type, name)
    return StreamingResponse(joblogs.all_lines(ctx.services, group, job[kind.name_field]),
                             media_type="text/plain; charset=utf-8",
                             headers={"Content-Disposition": f'inline; filename="{job[kind.name_field]}.log"'})
