"""Endpoints. The emulator does not host endpoints yet, so this page lists whatever Endpoint records
exist (none today) and says so; a dedicated endpoint page is one template and one view away."""

from __future__ import annotations

from emulator.core import browse
from emulator.ui.pages import Ctx, Html, NotFound, page

ENDPOINT = "Endpoint"
PAGE_SIZE = 50


@page("/endpoints", nav="Endpoints", order=50)
def endpoint_list(ctx: Ctx) -> Html:
    listing = browse.page(ctx.services, ENDPOINT, ["EndpointName", "EndpointStatus", "EndpointConfigName",
                                                   "CreationTime", "FailureReason"],
                          offset=ctx.int_arg("offset"), limit=PAGE_SIZE)
    return Html("endpoints.html", {"section": "endpoints", "page": listing})


@page("/endpoints/{name}")
def endpoint_detail(ctx: Ctx, name: str) -> Html:
    record = ctx.services.records.get(ENDPOINT, name)
    if record is None:
        raise NotFound(f"There is no endpoint named {name!r}.")
    return Html("resource.html", {"section": "endpoints", "title": f"Endpoint {name}", "record": record})
