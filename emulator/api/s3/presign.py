"""Query-string auth (presigned URLs). Like LocalStack's default, signatures are not verified, but an
expired URL is refused as S3 refuses it: 403 AccessDenied "Request has expired".

botocore presigns SigV2 (`AWSAccessKeyId`, `Signature`, `Expires` = epoch) for a custom S3 endpoint by
default, SigV4 (`X-Amz-Date` + `X-Amz-Expires` seconds) when asked to."""

from __future__ import annotations

import calendar
import time

from emulator.api.s3.xml import iso
from emulator.core.objectstore import S3Error

MAX_SIGV4_EXPIRES = 604800


def check_presigned(query: dict[str, str], now: float | None = None) -> None:
    now = time.time() if now is None else now
    if "X-Amz-Algorithm" in query or "X-Amz-Signature" in query:
        date, expires = query.get("X-Amz-Date"), query.get("X-Amz-Expires")
        if not date or expires is None:
            return
        try:
            seconds = int(expires)
        except ValueError:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires should be a number",
                          status=400) from None
        if seconds < 0:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be non-negative", status=400)
        if seconds > MAX_SIGV4_EXPIRES:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Expires must be less than a week (in "
                          "seconds) that is; 604800", status=400)
        try:
            signed = calendar.timegm(time.strptime(date, "%Y%m%dT%H%M%SZ"))
        except ValueError:
            raise S3Error("AuthorizationQueryParametersError", "X-Amz-Date must be in the ISO8601 Long Format "
                          "\"yyyyMMdd'T'HHmmss'Z'\"", status=400) from None
        if now > signed + seconds:
            raise S3Error("AccessDenied", "Request has expired", **{"X-Amz-Expires": seconds},
                          Expires=iso(signed + seconds), ServerTime=iso(now))
    elif "Signature" in query and "AWSAccessKeyId" in query and "Expires" in query:
        try:
            expires_at = int(query["Expires"])
        except ValueError:
            raise S3Error("AccessDenied", "Query-string authentication requires the Signature, Expires and "
                          "AWSAccessKeyId parameters") from None
        if now > expires_at:
            raise S3Error("AccessDenied", "Request has expired", Expires=iso(expires_at), ServerTime=iso(now))
