"""S3 errors on the wire: `<Error><Code/><Message/>...<RequestId/></Error>` (no body for HEAD or 304)."""

from __future__ import annotations

from starlette.responses import Response

from emulator.api.s3.xml import XML_TYPE, document, text
from emulator.core.objectstore import S3Error

__all__ = ["S3Error", "error_response"]


def error_response(error: S3Error, *, request_id: str, head: bool = False) -> Response:
    headers = dict(error.headers)
    if head or error.status == 304:
        # HEAD responses carry no body; botocore maps the bare status to the code ("404", "412"...).
        return Response(status_code=error.status, headers=headers)
    fields = "".join(text(name, value) for name, value in error.extra.items())
    body = document("Error", text("Code", error.code), text("Message", error.message), fields,
                    text("RequestId", request_id), namespace=False)
    return Response(body, status_code=error.status, media_type=XML_TYPE, headers=headers)
