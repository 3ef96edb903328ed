"""The S3 entry point: address the request, check query auth expiry and the expected bucket owner,
pick the operation from method + sub-resource, and turn S3Errors into S3's XML errors."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from functools import partial

from starlette.requests import Request
from starlette.responses import Response

from emulator.api.s3 import buckets, multipart, objects
from emulator.api.s3.context import S3Request
from emulator.api.s3.errors import error_response
from emulator.api.s3.presign import check_presigned
from emulator.aws import signing
from emulator.aws.signing import SignedRequest
from emulator.core.objectstore import S3Error

log = logging.getLogger(__name__)

Handler = Callable[[S3Request], Awaitable[Response]]

# Sub-resources S3 has but the emulator does not implement: S3's own answer is 501 NotImplemented.
UNSUPPORTED = {"analytics", "inventory", "metrics", "intelligent-tiering", "torrent", "restore", "select",
               "retention", "legal-hold", "attributes", "metadataTable", "session"}


async def handle_s3(request: Request, services) -> Response:
    head = request.method == "HEAD"
    request_id = "0000000000000000"
    try:
        ctx = S3Request.from_request(request, services)
        request_id = ctx.request_id
        authenticate(ctx)
        check_presigned(ctx.query)
        owner = ctx.headers.get("x-amz-expected-bucket-owner")
        if owner is not None and owner != ctx.account_id:
            raise S3Error("AccessDenied")
        handler = route(ctx)
        response = await handler(ctx)
    except S3Error as error:
        response = error_response(error, request_id=request_id, head=head)
    except Exception:  # a bug, not a client mistake: S3's InternalError (botocore retries it)
        log.exception("S3 %s %s failed", request.method, request.url.path)
        response = error_response(S3Error("InternalError"), request_id=request_id, head=head)
    response.headers["x-amz-request-id"] = request_id
    response.headers["x-amz-id-2"] = request_id
    if _body_left_unread(request):
        # Answering before reading a body (an error, usually with Expect: 100-continue unanswered, so the
        # client never sends it) leaves uvicorn expecting those bytes on the keep-alive connection: the
        # next request would be parsed as body. Closing the connection keeps client and server in step.
        response.headers["Connection"] = "close"
    return response


def authenticate(ctx: S3Request) -> None:
    """Every S3 call is signed (header or presigned URL); see emulator.aws.signing."""
    signed = SignedRequest.from_scope(ctx.request.scope)
    auth_path = f"/{ctx.bucket}{signed.raw_path}" if ctx.virtual_host else None
    try:
        signing.authenticate(signed, "s3", ctx.services.settings.accepted_credentials, s3_auth_path=auth_path)
    except signing.AuthFailure as failure:
        raise S3Error(failure.code, failure.message, status=failure.status) from None


def _body_left_unread(request: Request) -> bool:
    if getattr(request.state, "s3_body_read", False):
        return False
    headers = request.headers
    if "transfer-encoding" in headers:
        return True
    try:
        return int(headers.get("content-length") or 0) > 0
    except ValueError:
        return True


def _not_implemented(what: str) -> Handler:
    async def handler(ctx: S3Request) -> Response:
        raise S3Error("NotImplemented", f"The emulator does not implement {what}.")
    return handler


def _method_not_allowed(ctx: S3Request) -> Handler:
    async def handler(_: S3Request) -> Response:
        raise S3Error("MethodNotAllowed", Method=ctx.method,
                      ResourceType="OBJECT" if ctx.key else "BUCKET" if ctx.bucket else "SERVICE")
    return handler


def route(ctx: S3Request) -> Handler:
    method, query = ctx.method, ctx.query
    if ctx.bucket is None:
        return buckets.list_buckets if method in ("GET", "HEAD") else _method_not_allowed(ctx)
    unsupported = UNSUPPORTED.intersection(query)
    if unsupported:
        return _not_implemented(f"the ?{min(unsupported)} sub-resource")
    if ctx.key is None:
        return _bucket_route(ctx)
    return _object_route(ctx)


def _bucket_route(ctx: S3Request) -> Handler:
    method, query = ctx.method, ctx.query
    config = next((name for name in buckets.CONFIGS if name in query), None)
    if method in ("GET", "HEAD"):
        if config:
            return partial(buckets.get_bucket_config, name=config)
        if method == "HEAD":
            return buckets.head_bucket
        if "location" in query:
            return buckets.get_bucket_location
        if "acl" in query:
            return buckets.get_bucket_acl
        if "uploads" in query:
            return multipart.list_multipart_uploads
        if "versions" in query:
            return buckets.list_object_versions
        if query.get("list-type") == "2":
            return buckets.list_objects_v2
        return buckets.list_objects
    if method == "PUT":
        if config:
            return partial(buckets.put_bucket_config, name=config)
        if "acl" in query:
            return buckets.put_bucket_acl
        return buckets.create_bucket
    if method == "DELETE":
        if config:
            return partial(buckets.delete_bucket_config, name=config)
        return buckets.delete_bucket
    if method == "POST" and "delete" in query:
        return objects.delete_objects
    return _method_not_allowed(ctx)


def _object_route(ctx: S3Request) -> Handler:
    method, query, headers = ctx.method, ctx.query, ctx.headers
    if method in ("GET", "HEAD"):
        if "uploadId" in query and method == "GET":
            return multipart.list_parts
        if "acl" in query:
            return objects.get_object_acl
        if "tagging" in query:
            return objects.get_object_tagging
        return partial(objects.get_object, head=method == "HEAD")
    if method == "PUT":
        if "uploadId" in query or "partNumber" in query:
            if "uploadId" not in query:
                return _missing_upload_id
            if "x-amz-copy-source" in headers:
                return multipart.upload_part_copy
            return multipart.upload_part
        if "acl" in query:
            return objects.put_object_acl
        if "tagging" in query:
            return _not_implemented("object tagging")
        if "x-amz-copy-source" in headers:
            return objects.copy_object
        return objects.put_object
    if method == "DELETE":
        if "uploadId" in query:
            return multipart.abort_multipart_upload
        if "tagging" in query:
            return _no_content
        return objects.delete_object
    if method == "POST":
        if "uploads" in query:
            return multipart.create_multipart_upload
        if "uploadId" in query:
            return multipart.complete_multipart_upload
    return _method_not_allowed(ctx)


async def _missing_upload_id(ctx: S3Request) -> Response:
    raise S3Error("InvalidRequest", "A part number was given without an upload id.")


async def _no_content(ctx: S3Request) -> Response:
    ctx.store.get_object(ctx.bucket, ctx.key)
    return Response(status_code=204)
