"""Search: resources filtered, sorted and paged by emulator.core.search."""

from __future__ import annotations

from emulator.aws.handlers import RequestContext, handler
from emulator.core import search as core


@handler("sagemaker", "Search")
def search(ctx: RequestContext, req: dict) -> dict:
    return core.search(ctx.services, ctx.region, req)
