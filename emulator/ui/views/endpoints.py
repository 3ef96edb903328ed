"""Endpoints: the list (status, configuration, invocations in the last hour) and a page per endpoint with its
variants (instances, weights, images), its traffic (invocations per minute, errors), the data-capture files
it wrote last and the tail of its log. The live part of the page polls while the endpoint changes."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from emulator.core import browse, invocation_stats
from emulator.core.endpoints import ENDPOINT
from emulator.core.monitoring import executions, schedules
from emulator.ui import svg
from emulator.ui.pages import Ctx, Html, NotFound, page, url

PAGE_SIZE = 50
WINDOW_SECONDS = 3600        # "recent" traffic: the last hour
CAPTURE_FILES = 20           # newest capture files shown
CAPTURE_HOURS = 24           # hour folders looked into for them
LOG_LINES = 200
STATUSES = ("Creating", "InService", "Updating", "Deleting", "Failed")
CHANGING = ("Creating", "Updating", "Deleting", "SystemUpdating", "RollingBack")


@page("/endpoints", nav="Endpoints", order=50)
def endpoint_list(ctx: Ctx) -> Html:
    status = ctx.arg("status")
    status = status if status in STATUSES else ""
    listing = browse.page(ctx.services, ENDPOINT, ["EndpointName", "EndpointStatus", "EndpointConfigName",
                                                   "CreationTime", "FailureReason"],
                          equals={"EndpointStatus": status} if status else None,
                          name_contains=ctx.arg("name") or None, offset=ctx.int_arg("offset"), limit=PAGE_SIZE)
    counts = invocation_stats.totals(ctx.services.db, [r["name"] for r in listing.rows], time.time() - WINDOW_SECONDS)
    return Html("endpoints.html", {"section": "endpoints", "page": listing, "statuses": STATUSES, "status": status,
                                   "name": ctx.arg("name"), "invocations": counts})


def _endpoint(ctx: Ctx, name: str) -> dict[str, Any]:
    record = ctx.services.records.get(ENDPOINT, name)
    if record is None:
        raise NotFound(f"There is no endpoint named {name!r}.")
    return record


@page("/endpoints/{name}")
def endpoint_detail(ctx: Ctx, name: str) -> Html:
    record = _endpoint(ctx, name)
    context = {"section": "endpoints", "endpoint": record, **live_context(ctx, record)}
    context["log"] = ctx.services.logs.prefix_events(f"/aws/sagemaker/Endpoints/{record['EndpointName']}", "",
                                                     limit=LOG_LINES, newest=True)
    context["schedules"] = watching(ctx, record["EndpointName"])
    return Html("endpoint.html", context)


def watching(ctx: Ctx, endpoint: str) -> list[dict[str, Any]]:
    """The monitoring schedules of the endpoint, each with its last execution."""
    listing = browse.page(ctx.services, schedules.KIND, ["MonitoringScheduleName", "MonitoringType",
                                                         "MonitoringScheduleStatus"],
                          equals={"EndpointName": endpoint}, limit=PAGE_SIZE)
    return [{**row, "last": executions.latest(ctx.services, row["name"])} for row in listing.rows]


@page("/endpoints/{name}/live")
def endpoint_live(ctx: Ctx, name: str) -> Html:
    record = _endpoint(ctx, name)
    return Html("_endpoint_live.html", {"endpoint": record, **live_context(ctx, record)})


def live_context(ctx: Ctx, record: dict[str, Any]) -> dict[str, Any]:
    name = record["EndpointName"]
    now = time.time()
    minutes = invocation_stats.recent(ctx.services.db, name, now - WINDOW_SECONDS)
    totals = {"invocations": sum(m.invocations for m in minutes), "errors_4xx": sum(m.errors_4xx for m in minutes),
              "errors_5xx": sum(m.errors_5xx for m in minutes)}
    latency = sum(m.model_latency_us for m in minutes) / totals["invocations"] if totals["invocations"] else None
    by_variant: dict[str, list[tuple[float, float]]] = {}
    for m in minutes:
        by_variant.setdefault(m.variant, []).append(((m.minute * 60 - now) / 60, m.invocations))
    chart = svg.line_chart([svg.Series(v, points) for v, points in sorted(by_variant.items())],
                           title="Invocations per minute", x_label="minutes ago (negative)") if by_variant else None
    deployment = record.get("_deployment") or {}
    models = {v["VariantName"]: v for v in deployment.get("Variants", [])}
    variants = [{**summary, "deployed": models.get(summary["VariantName"], {})}
                for summary in record.get("ProductionVariants", [])]
    return {"status": record["EndpointStatus"], "live": True, "changing": record["EndpointStatus"] in CHANGING,
            "live_url": url("endpoints", name, "live"), "variants": variants, "totals": totals,
            "model_latency_us": latency, "chart": chart, "capture": capture_files(ctx, record, now)}


def capture_files(ctx: Ctx, record: dict[str, Any], now: float) -> list[dict[str, Any]]:
    """The newest data-capture files of the endpoint (looked for in its last CAPTURE_HOURS hour folders)."""
    capture = record.get("DataCaptureConfig")
    if not capture:
        return []
    bucket, _, prefix = capture["DestinationS3Uri"][5:].partition("/")
    if not ctx.services.objects.bucket_exists(bucket):
        return []
    base = "/".join(p for p in (prefix.strip("/"), record["EndpointName"]) if p) + "/"
    found: list[dict[str, Any]] = []
    variants = [v["VariantName"] for v in record.get("ProductionVariants", [])]
    for hours in range(CAPTURE_HOURS):
        hour = dt.datetime.fromtimestamp(now - hours * 3600, dt.UTC).strftime("%Y/%m/%d/%H")
        for variant in variants:
            for info in ctx.services.objects.list_objects(bucket, f"{base}{variant}/{hour}/"):
                found.append({"uri": f"s3://{bucket}/{info.key}", "size": info.size, "key": info.key})
        if len(found) >= CAPTURE_FILES:
            break
    found.sort(key=lambda f: f["key"].rsplit("/", 5)[-5:], reverse=True)
    return found[:CAPTURE_FILES]
