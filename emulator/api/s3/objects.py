"""Object operations: PutObject, GetObject, HeadObject, DeleteObject, DeleteObjects, CopyObject and the
object ACL/tagging stubs."""

from __future__ import annotations

from urllib.parse import unquote

from starlette.responses import Response

from emulator.api.s3 import xml
from emulator.api.s3.checksums import request_spec, response_headers, supported_algorithm
from emulator.api.s3.context import S3Request, in_thread
from emulator.api.s3.download import BlobResponse, check_conditions, object_headers, parse_range
from emulator.api.s3.payload import read_document, receive
from emulator.core.objectstore import ObjectInfo, S3Error
from emulator.core.objectstore import checksums as algos
from emulator.core.objectstore.store import MAX_KEY_BYTES

STORED_HEADERS = ("Content-Encoding", "Content-Disposition", "Cache-Control", "Content-Language", "Expires")
MAX_DELETE_KEYS = 1000


def object_fields(headers) -> tuple[str | None, dict[str, str], dict[str, str]]:
    """(Content-Type, user metadata, stored system headers) from a PutObject/CreateMultipartUpload/
    CopyObject(REPLACE) request. `aws-chunked` is transport framing, not a stored Content-Encoding."""
    metadata = {k.lower()[len("x-amz-meta-"):]: v for k, v in headers.items()
                if k.lower().startswith("x-amz-meta-")}
    stored: dict[str, str] = {}
    for name in STORED_HEADERS:
        value = headers.get(name)
        if value is None:
            continue
        if name == "Content-Encoding":
            value = ",".join(p.strip() for p in value.split(",") if p.strip() and p.strip() != "aws-chunked")
            if not value:
                continue
        stored[name] = value
    return headers.get("content-type"), metadata, stored


def write_precondition(headers, key: str):
    """Conditional writes: `If-None-Match: *` (create only) and `If-Match: <etag>` (replace only)."""
    if_none_match, if_match = headers.get("if-none-match"), headers.get("if-match")
    if if_none_match is None and if_match is None:
        return None

    def check(current: ObjectInfo | None) -> None:
        if if_none_match is not None and current is not None and \
                (if_none_match.strip() == "*" or current.etag == if_none_match.strip().strip('"')):
            raise S3Error("PreconditionFailed", Condition="If-None-Match")
        if if_match is not None:
            if current is None:
                raise S3Error("NoSuchKey", Key=key)
            if if_match.strip() != "*" and current.etag != if_match.strip().strip('"'):
                raise S3Error("PreconditionFailed", Condition="If-Match")
    return check


def check_key(key: str) -> None:
    if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", Size=len(key.encode("utf-8", "surrogatepass")),
                      MaxSizeAllowed=MAX_KEY_BYTES)


async def put_object(ctx: S3Request) -> Response:
    store, bucket, key = ctx.store, ctx.bucket, ctx.key
    store.get_bucket(bucket)  # NoSuchBucket before the body is read (no 100-continue is sent)
    check_key(key)
    spec = request_spec(ctx.headers, default=algos.DEFAULT_ALGORITHM)
    content_type, metadata, stored = object_fields(ctx.headers)
    precondition = write_precondition(ctx.headers, key)
    staged = store.stage()
    try:
        payload = await receive(ctx.request, staged.write, spec)
    except BaseException:
        staged.discard()
        raise
    info = await in_thread(store.commit_object, bucket, key, staged, etag=payload.md5_hex,
                           checksums=payload.checksums(), checksum_type="FULL_OBJECT",
                           content_type=content_type, metadata=metadata, headers=stored,
                           precondition=precondition)
    headers = {"ETag": info.quoted_etag, "x-amz-server-side-encryption": "AES256"}
    if spec.requested:
        headers.update(response_headers(info.checksums, info.checksum_type))
    return Response(status_code=200, headers=headers)


async def get_object(ctx: S3Request, *, head: bool = False) -> Response:
    store, bucket, key = ctx.store, ctx.bucket, ctx.key
    if head:
        info, file = store.get_object(bucket, key), None
    else:
        info, file = store.open_object_info(bucket, key)
    try:
        check_conditions(ctx.headers, info)
        checksum_mode = ctx.headers.get("x-amz-checksum-mode", "").upper() == "ENABLED"
        part_number = ctx.query.get("partNumber")
        status, offset, length = 200, 0, info.size
        extra: dict[str, str] = {}
        if part_number is not None:
            offset, length, count = _part_range(info, part_number)
            extra["x-amz-mp-parts-count"] = str(count)
            if info.parts is not None:
                status = 206
                extra["Content-Range"] = f"bytes {offset}-{offset + length - 1}/{info.size}" if length else \
                    f"bytes */{info.size}"
            checksum_mode = checksum_mode and info.parts is None
        else:
            selected = parse_range(ctx.headers.get("range"), info.size)
            if selected is not None:
                start, end = selected
                status, offset, length = 206, start, end - start + 1
                extra["Content-Range"] = f"bytes {start}-{end}/{info.size}"
                checksum_mode = False  # S3 returns no checksum for a range
        headers = object_headers(info, ctx.query, checksum_mode=checksum_mode)
        headers.update(extra)
        return BlobResponse(file, offset, length, status, headers, head=head)
    except BaseException:
        if file is not None:
            file.close()
        raise


def _part_range(info: ObjectInfo, value: str) -> tuple[int, int, int]:
    try:
        number = int(value)
    except ValueError:
        number = 0
    parts = info.parts or [info.size]
    if not 1 <= number <= 10000:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      ArgumentName="partNumber", ArgumentValue=value)
    if number > len(parts):
        raise S3Error("InvalidPartNumber", "The requested partnumber is not satisfiable", status=416,
                      PartNumberRequested=number, ActualPartCount=len(parts))
    return sum(parts[:number - 1]), parts[number - 1], len(parts)


async def delete_object(ctx: S3Request) -> Response:
    await in_thread(ctx.store.delete_object, ctx.bucket, ctx.key)
    return Response(status_code=204)


async def delete_objects(ctx: S3Request) -> Response:
    ctx.store.get_bucket(ctx.bucket)
    # botocore 1.36+ sends x-amz-checksum-crc32 instead of Content-MD5; either is checked when present.
    body = await read_document(ctx.request, request_spec(ctx.headers))
    root = xml.parse(body)
    if root.tag != "Delete":
        raise S3Error("MalformedXML")
    quiet = (xml.child_text(root, "Quiet") or "").strip().lower() == "true"
    keys = [xml.child_text(obj, "Key") for obj in root.findall("Object")]
    if not keys or len(keys) > MAX_DELETE_KEYS or any(k is None for k in keys):
        raise S3Error("MalformedXML")
    await in_thread(ctx.store.delete_objects, ctx.bucket, keys)
    deleted = "" if quiet else "".join(xml.node("Deleted", xml.text("Key", k)) for k in keys)
    return xml.xml_response("DeleteResult", deleted)


def parse_copy_source(value: str) -> tuple[str, str]:
    """`x-amz-copy-source: /bucket/key?versionId=...` (URL-encoded; versionId ignored: no versioning)."""
    path = value.split("?", 1)[0]
    path = unquote(path).lstrip("/")
    bucket, _, key = path.partition("/")
    if not bucket or not key:
        raise S3Error("InvalidArgument", "Invalid copy source object key", ArgumentName="x-amz-copy-source",
                      ArgumentValue=value)
    return bucket, key


async def copy_object(ctx: S3Request) -> Response:
    src_bucket, src_key = parse_copy_source(ctx.headers["x-amz-copy-source"])
    check_key(ctx.key)
    directive = ctx.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error("InvalidArgument", "Unknown metadata directive.", ArgumentName="x-amz-metadata-directive",
                      ArgumentValue=directive)
    algorithm = ctx.headers.get("x-amz-checksum-algorithm")
    algorithm = supported_algorithm(algorithm) if algorithm else None
    if algorithm and algorithm not in algos.DIGEST_SIZES:
        raise S3Error("InvalidRequest", f"The {algorithm} checksum algorithm needs the awscrt package on the "
                      "emulator.")
    if (src_bucket, src_key) == (ctx.bucket, ctx.key) and directive == "COPY" and not algorithm:
        raise S3Error("InvalidRequest", "This copy request is illegal because it is trying to copy an object to "
                      "itself without changing the object's metadata, storage class, website redirect location "
                      "or encryption attributes.")
    content_type, metadata, stored = object_fields(ctx.headers)
    headers = ctx.headers

    def source_check(source: ObjectInfo) -> None:
        check_conditions(headers, source, prefix="x-amz-copy-source-")

    info = await in_thread(ctx.store.copy_object, src_bucket, src_key, ctx.bucket, ctx.key,
                           content_type=content_type, metadata=metadata, headers=stored,
                           replace_metadata=directive == "REPLACE", checksum_algorithm=algorithm,
                           source_check=source_check, precondition=write_precondition(ctx.headers, ctx.key))
    checksum = "".join(xml.text(f"Checksum{alg}", v) for alg, v in info.checksums.items())
    return xml.xml_response("CopyObjectResult", xml.text("ETag", info.quoted_etag),
                            xml.text("LastModified", xml.iso(info.last_modified)), checksum,
                            xml.text("ChecksumType", info.checksum_type) if checksum else "",
                            headers={"x-amz-server-side-encryption": "AES256"})


def acl_document(ctx: S3Request) -> Response:
    owner = xml.node("Owner", xml.text("ID", ctx.owner_id), xml.text("DisplayName", "emulator"))
    grant = xml.node(
        "Grant",
        f'<Grantee xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser">'
        f'{xml.text("ID", ctx.owner_id)}{xml.text("DisplayName", "emulator")}</Grantee>',
        xml.text("Permission", "FULL_CONTROL"))
    return xml.xml_response("AccessControlPolicy", owner, xml.node("AccessControlList", grant))


async def get_object_acl(ctx: S3Request) -> Response:
    ctx.store.get_object(ctx.bucket, ctx.key)
    return acl_document(ctx)


async def put_object_acl(ctx: S3Request) -> Response:
    """Accepted and ignored: every object is private to the one emulator account."""
    ctx.store.get_object(ctx.bucket, ctx.key)
    await read_document(ctx.request)
    return Response(status_code=200)


async def get_object_tagging(ctx: S3Request) -> Response:
    ctx.store.get_object(ctx.bucket, ctx.key)
    return xml.xml_response("Tagging", "<TagSet></TagSet>")
