"""Bucket operations: Create/Head/Delete/ListBuckets/GetBucketLocation, ListObjects v1 and v2,
ListObjectVersions (an unversioned view), and the configuration sub-resources the emulator stores
verbatim (tagging, policy, cors, ...)."""

from __future__ import annotations

import base64
import binascii
from urllib.parse import quote
from xml.sax.saxutils import escape

from starlette.responses import Response

from emulator.api.s3 import xml
from emulator.api.s3.checksums import request_spec
from emulator.api.s3.context import S3Request, in_thread
from emulator.api.s3.objects import acl_document
from emulator.api.s3.payload import read_document
from emulator.core.objectstore import ObjectInfo, S3Error

# sub-resource -> (error when unset, or None with a default document)
CONFIGS: dict[str, tuple[str, int, str] | None] = {
    "tagging": ("NoSuchTagSet", 404, "The TagSet does not exist"),
    "policy": ("NoSuchBucketPolicy", 404, "The bucket policy does not exist"),
    "cors": ("NoSuchCORSConfiguration", 404, "The CORS configuration does not exist"),
    "lifecycle": ("NoSuchLifecycleConfiguration", 404, "The lifecycle configuration does not exist"),
    "website": ("NoSuchWebsiteConfiguration", 404, "The specified bucket does not have a website configuration"),
    "publicAccessBlock": ("NoSuchPublicAccessBlockConfiguration", 404,
                          "The public access block configuration was not found"),
    "replication": ("ReplicationConfigurationNotFoundError", 404, "The replication configuration was not found"),
    "object-lock": ("ObjectLockConfigurationNotFoundError", 404,
                    "Object Lock configuration does not exist for this bucket"),
    "versioning": None, "encryption": None, "ownershipControls": None, "notification": None,
    "logging": None, "requestPayment": None, "accelerate": None,
}
DEFAULT_CONFIGS = {
    "versioning": xml.document("VersioningConfiguration"),
    "encryption": xml.document("ServerSideEncryptionConfiguration", xml.node(
        "Rule", xml.node("ApplyServerSideEncryptionByDefault", xml.text("SSEAlgorithm", "AES256")),
        xml.text("BucketKeyEnabled", False))),
    "ownershipControls": xml.document("OwnershipControls", xml.node(
        "Rule", xml.text("ObjectOwnership", "BucketOwnerEnforced"))),
    "notification": xml.document("NotificationConfiguration"),
    "logging": xml.document("BucketLoggingStatus"),
    "requestPayment": xml.document("RequestPaymentConfiguration", xml.text("Payer", "BucketOwner")),
    "accelerate": xml.document("AccelerateConfiguration"),
}
MAX_KEYS = 1000


def _owner(ctx: S3Request) -> str:
    return xml.node("Owner", xml.text("ID", ctx.owner_id), xml.text("DisplayName", "emulator"))


async def create_bucket(ctx: S3Request) -> Response:
    body = await read_document(ctx.request, request_spec(ctx.headers), limit=1024 * 1024)
    region = "us-east-1"
    if body.strip():
        root = xml.parse(body)
        region = (xml.child_text(root, "LocationConstraint") or "").strip() or "us-east-1"
    created = await in_thread(ctx.store.create_bucket, ctx.bucket, region)
    if not created:
        # AWS: re-creating your own bucket is a no-op 200 in us-east-1 (legacy), a 409 elsewhere.
        existing = ctx.store.get_bucket(ctx.bucket)
        if existing.region != "us-east-1" or region != "us-east-1":
            raise S3Error("BucketAlreadyOwnedByYou", BucketName=ctx.bucket)
    return Response(status_code=200, headers={"Location": f"/{ctx.bucket}"})


async def head_bucket(ctx: S3Request) -> Response:
    bucket = ctx.store.get_bucket(ctx.bucket)
    return Response(status_code=200, headers={"x-amz-bucket-region": bucket.region,
                                              "x-amz-access-point-alias": "false"})


async def delete_bucket(ctx: S3Request) -> Response:
    await in_thread(ctx.store.delete_bucket, ctx.bucket)
    return Response(status_code=204)


async def get_bucket_location(ctx: S3Request) -> Response:
    bucket = ctx.store.get_bucket(ctx.bucket)
    region = "" if bucket.region == "us-east-1" else bucket.region
    return Response(xml.document("LocationConstraint", escape(region)), media_type=xml.XML_TYPE)


async def list_buckets(ctx: S3Request) -> Response:
    prefix = ctx.query.get("prefix", "")
    region = ctx.query.get("bucket-region")
    start = _decode_token(ctx.query.get("continuation-token")) if ctx.query.get("continuation-token") else ""
    limit = _int(ctx, "max-buckets", 10000, high=10000)
    buckets = [b for b in ctx.store.list_buckets() if b.name.startswith(prefix) and b.name > start
               and (region is None or b.region == region)]
    page, more = buckets[:limit], len(buckets) > limit
    items = "".join(xml.node("Bucket", xml.text("Name", b.name), xml.text("CreationDate", xml.iso(b.created)),
                             xml.text("BucketRegion", b.region)) for b in page)
    token = xml.text("ContinuationToken", _encode_token(page[-1].name)) if more and page else ""
    return xml.xml_response("ListAllMyBucketsResult", _owner(ctx), xml.node("Buckets", items), token,
                            xml.text("Prefix", prefix) if prefix else "")


def _int(ctx: S3Request, name: str, default: int, *, high: int) -> int:
    value = ctx.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range",
                      ArgumentName=name, ArgumentValue=value) from None
    if number < 0:
        raise S3Error("InvalidArgument", f"Argument {name} must be an integer between 0 and 2147483647",
                      ArgumentName=name, ArgumentValue=value)
    return min(number, high)


def _encode_token(marker: str) -> str:
    return base64.urlsafe_b64encode(marker.encode("utf-8", "surrogatepass")).decode()


def _decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode()).decode("utf-8", "surrogatepass")
    except (binascii.Error, ValueError):
        raise S3Error("InvalidArgument", "The continuation token provided is incorrect",
                      ArgumentName="continuation-token", ArgumentValue=token) from None


def _encoder(ctx: S3Request):
    encoding = ctx.query.get("encoding-type")
    if encoding is None:
        return lambda v: v
    if encoding != "url":
        raise S3Error("InvalidArgument", "Invalid Encoding Method specified in Request",
                      ArgumentName="encoding-type", ArgumentValue=encoding)
    # botocore decodes these with unquote_plus, so '+' must travel as %2B.
    return lambda v: quote(v, safe="/") if v else v


def _contents(obj: ObjectInfo, enc, owner: str = "") -> str:
    algorithms = "".join(xml.text("ChecksumAlgorithm", alg) for alg in obj.checksums)
    return xml.node("Contents", xml.text("Key", enc(obj.key)), xml.text("LastModified", xml.iso(obj.last_modified)),
                    xml.text("ETag", obj.quoted_etag), algorithms,
                    xml.text("ChecksumType", obj.checksum_type) if algorithms else "",
                    xml.text("Size", obj.size), xml.text("StorageClass", "STANDARD"), owner)


async def list_objects(ctx: S3Request) -> Response:
    """ListObjects (v1): Marker / NextMarker (NextMarker only with a delimiter, as S3)."""
    enc = _encoder(ctx)
    prefix, delimiter = ctx.query.get("prefix", ""), ctx.query.get("delimiter", "")
    marker, max_keys = ctx.query.get("marker", ""), _int(ctx, "max-keys", MAX_KEYS, high=MAX_KEYS)
    page = ctx.store.list_page(ctx.bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)
    owner = _owner(ctx)
    return xml.xml_response(
        "ListBucketResult", xml.text("Name", ctx.bucket), xml.text("Prefix", enc(prefix)),
        xml.text("Marker", enc(marker)),
        xml.text("NextMarker", enc(page.last)) if page.is_truncated and delimiter else "",
        xml.text("MaxKeys", max_keys), xml.text("Delimiter", enc(delimiter)) if delimiter else "",
        xml.text("IsTruncated", page.is_truncated),
        xml.text("EncodingType", ctx.query.get("encoding-type")) if "encoding-type" in ctx.query else "",
        "".join(_contents(o, enc, owner) for o in page.objects),
        "".join(xml.node("CommonPrefixes", xml.text("Prefix", enc(p))) for p in page.common_prefixes))


async def list_objects_v2(ctx: S3Request) -> Response:
    enc = _encoder(ctx)
    prefix, delimiter = ctx.query.get("prefix", ""), ctx.query.get("delimiter", "")
    token, start_after = ctx.query.get("continuation-token"), ctx.query.get("start-after", "")
    max_keys = _int(ctx, "max-keys", MAX_KEYS, high=MAX_KEYS)
    marker = _decode_token(token) if token else start_after
    page = ctx.store.list_page(ctx.bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)
    owner = _owner(ctx) if ctx.query.get("fetch-owner", "").lower() == "true" else ""
    return xml.xml_response(
        "ListBucketResult", xml.text("Name", ctx.bucket), xml.text("Prefix", enc(prefix)),
        xml.text("MaxKeys", max_keys), xml.text("Delimiter", enc(delimiter)) if delimiter else "",
        xml.text("KeyCount", len(page.objects) + len(page.common_prefixes)),
        xml.text("IsTruncated", page.is_truncated),
        xml.text("EncodingType", ctx.query.get("encoding-type")) if "encoding-type" in ctx.query else "",
        xml.text("ContinuationToken", token) if token else "",
        xml.text("NextContinuationToken", _encode_token(page.last)) if page.is_truncated and page.last else "",
        xml.text("StartAfter", enc(start_after)) if start_after else "",
        "".join(_contents(o, enc, owner) for o in page.objects),
        "".join(xml.node("CommonPrefixes", xml.text("Prefix", enc(p))) for p in page.common_prefixes))


async def list_object_versions(ctx: S3Request) -> Response:
    """Buckets are unversioned: every object is its single "null" version."""
    enc = _encoder(ctx)
    prefix, delimiter = ctx.query.get("prefix", ""), ctx.query.get("delimiter", "")
    marker, max_keys = ctx.query.get("key-marker", ""), _int(ctx, "max-keys", MAX_KEYS, high=MAX_KEYS)
    page = ctx.store.list_page(ctx.bucket, prefix=prefix, delimiter=delimiter, marker=marker, max_keys=max_keys)
    owner = _owner(ctx)
    versions = "".join(
        xml.node("Version", xml.text("Key", enc(o.key)), xml.text("VersionId", "null"),
                 xml.text("IsLatest", True), xml.text("LastModified", xml.iso(o.last_modified)),
                 xml.text("ETag", o.quoted_etag), xml.text("Size", o.size), xml.text("StorageClass", "STANDARD"),
                 owner) for o in page.objects)
    return xml.xml_response(
        "ListVersionsResult", xml.text("Name", ctx.bucket), xml.text("Prefix", enc(prefix)),
        xml.text("KeyMarker", enc(marker)), xml.text("VersionIdMarker", ctx.query.get("version-id-marker", "")),
        xml.text("NextKeyMarker", enc(page.last)) if page.is_truncated else "",
        xml.text("MaxKeys", max_keys), xml.text("Delimiter", enc(delimiter)) if delimiter else "",
        xml.text("IsTruncated", page.is_truncated), versions,
        "".join(xml.node("CommonPrefixes", xml.text("Prefix", enc(p))) for p in page.common_prefixes))


async def get_bucket_acl(ctx: S3Request) -> Response:
    ctx.store.get_bucket(ctx.bucket)
    return acl_document(ctx)


async def put_bucket_acl(ctx: S3Request) -> Response:
    ctx.store.get_bucket(ctx.bucket)
    await read_document(ctx.request)
    return Response(status_code=200)


async def get_bucket_config(ctx: S3Request, name: str) -> Response:
    body = ctx.store.get_bucket_config(ctx.bucket, name)
    if body is None:
        missing = CONFIGS[name]
        if missing is None:
            return Response(DEFAULT_CONFIGS[name], media_type=xml.XML_TYPE)
        code, status, message = missing
        raise S3Error(code, message, status, BucketName=ctx.bucket)
    media = "application/json" if name == "policy" else xml.XML_TYPE
    return Response(body, media_type=media)


async def put_bucket_config(ctx: S3Request, name: str) -> Response:
    ctx.store.get_bucket(ctx.bucket)
    body = await read_document(ctx.request, request_spec(ctx.headers), limit=1024 * 1024)
    if name != "policy":
        xml.parse(body)  # MalformedXML, as S3, for a document that is not XML
    await in_thread(ctx.store.put_bucket_config, ctx.bucket, name, body)
    return Response(status_code=204 if name == "policy" else 200)


async def delete_bucket_config(ctx: S3Request, name: str) -> Response:
    await in_thread(ctx.store.put_bucket_config, ctx.bucket, name, None)
    return Response(status_code=204)
