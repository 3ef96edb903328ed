"""Downloads from the emulator's S3 for the console's output links: an object is streamed from the
object store (read-only; no signature needed on the same origin), a prefix lists its objects."""

from __future__ import annotations

from urllib.parse import quote

from starlette.responses import Response

from emulator.api.s3.download import BlobResponse
from emulator.core.objectstore import S3Error
from emulator.ui.pages import Ctx, Html, NotFound, page

LISTED = 1000


@page("/s3/{bucket}/{key:path}")
def s3_object(ctx: Ctx, bucket: str, key: str) -> Response | Html:
    store = ctx.services.objects
    try:
        info = store.head_object(bucket, key) if key and not key.endswith("/") else None
        if info is not None:
            info, handle = store.open_object_info(bucket, key)
            filename = quote(key.rsplit("/", 1)[-1] or "object")
            return BlobResponse(handle, 0, info.size, 200, {
                "Content-Type": info.content_type or "application/octet-stream",
                "Content-Disposition": f"attachment; filename*=UTF-8''{filename}",
                "X-Content-Type-Options": "nosniff"})
        prefix = key if not key or key.endswith("/") else key + "/"
        listing = store.list_page(bucket, prefix=prefix, delimiter="/", max_keys=LISTED)
    except S3Error:
        raise NotFound(f"s3://{bucket}/{key} does not exist in the emulator's S3.") from None
    if not listing.objects and not listing.common_prefixes and key:
        raise NotFound(f"s3://{bucket}/{key} does not exist in the emulator's S3.")
    return Html("s3_listing.html", {"section": "", "bucket": bucket, "prefix": prefix, "listing": listing})
