"""Multipart uploads: Create, UploadPart, UploadPartCopy, ListParts, ListMultipartUploads, Complete, Abort.

The upload keeps the checksum algorithm of CreateMultipartUpload; every part is checked against it and
the completed object carries S3's COMPOSITE checksum (`base64(crc(concat(part crcs)))-N`), returned
identically by GET and HEAD."""

from __future__ import annotations

from starlette.responses import Response

from emulator.api.s3 import xml
from emulator.api.s3.checksums import (
    ChecksumSpec,
    content_md5,
    expected_object_checksums,
    request_spec,
    response_headers,
    supported_algorithm,
)
from emulator.api.s3.context import S3Request, in_thread
from emulator.api.s3.download import check_conditions, parse_range
from emulator.api.s3.objects import check_key, object_fields, parse_copy_source, write_precondition
from emulator.api.s3.payload import read_document, receive
from emulator.core.objectstore import CompletedPart, S3Error
from emulator.core.objectstore import checksums as algos
from emulator.core.objectstore.blobs import md5
from emulator.core.objectstore.multipart import MAX_PARTS

MAX_PART_SIZE = 5 * 1024 ** 3


def _int_param(ctx: S3Request, name: str, default: int, *, low: int = 0, high: int | None = None) -> int:
    value = ctx.query.get(name)
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise S3Error("InvalidArgument", f"Provided {name} not an integer or within integer range",
                      ArgumentName=name, ArgumentValue=value) from None
    if number < low:
        raise S3Error("InvalidArgument", f"Argument {name} must be an integer between {low} and 2147483647",
                      ArgumentName=name, ArgumentValue=value)
    return min(number, high) if high is not None else number


def _owner(ctx: S3Request, name: str) -> str:
    return xml.node(name, xml.text("ID", ctx.owner_id), xml.text("DisplayName", "emulator"))


async def create_multipart_upload(ctx: S3Request) -> Response:
    check_key(ctx.key)
    algorithm = ctx.headers.get("x-amz-checksum-algorithm")
    algorithm = supported_algorithm(algorithm) if algorithm else None
    if algorithm and algorithm not in algos.DIGEST_SIZES:
        raise S3Error("InvalidRequest", f"The {algorithm} checksum algorithm needs the awscrt package on the "
                      "emulator.")
    checksum_type = (ctx.headers.get("x-amz-checksum-type") or "").upper() or None
    if checksum_type not in (None, "COMPOSITE", "FULL_OBJECT"):
        raise S3Error("InvalidRequest", "Value for x-amz-checksum-type header is invalid.")
    if checksum_type == "FULL_OBJECT" and algorithm not in algos.CRC_ALGORITHMS:
        raise S3Error("InvalidRequest", f"The FULL_OBJECT checksum type cannot be used with the "
                      f"{(algorithm or 'none').lower()} checksum algorithm.")
    if checksum_type == "COMPOSITE" and algorithm == "CRC64NVME":
        raise S3Error("InvalidRequest", "The COMPOSITE checksum type cannot be used with the crc64nvme checksum "
                      "algorithm.")
    content_type, metadata, stored = object_fields(ctx.headers)
    upload = await in_thread(ctx.store.uploads.create, ctx.bucket, ctx.key, content_type=content_type,
                             metadata=metadata, headers=stored, checksum_algorithm=algorithm,
                             checksum_type=checksum_type)
    headers = {"x-amz-server-side-encryption": "AES256"}
    if upload.checksum_algorithm:
        headers["x-amz-checksum-algorithm"] = upload.checksum_algorithm
        headers["x-amz-checksum-type"] = upload.checksum_type
    return xml.xml_response("InitiateMultipartUploadResult", xml.text("Bucket", ctx.bucket),
                            xml.text("Key", ctx.key), xml.text("UploadId", upload.upload_id), headers=headers)


def _part_number(ctx: S3Request) -> int:
    value = ctx.query.get("partNumber", "")
    try:
        number = int(value)
    except ValueError:
        number = 0
    if not 1 <= number <= MAX_PARTS:
        raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                      ArgumentName="partNumber", ArgumentValue=value)
    return number


async def upload_part(ctx: S3Request) -> Response:
    number = _part_number(ctx)
    upload = ctx.store.uploads.get(ctx.bucket, ctx.key, ctx.query["uploadId"])
    spec = request_spec(ctx.headers, required=upload.checksum_algorithm)
    staged = ctx.store.stage()
    try:
        payload = await receive(ctx.request, staged.write, spec, max_size=MAX_PART_SIZE)
    except BaseException:
        staged.discard()
        raise
    part = await in_thread(ctx.store.uploads.commit_part, ctx.bucket, ctx.key, upload.upload_id, number, staged,
                           etag=payload.md5_hex, checksum=payload.checksum if spec.requested else None)
    headers = {"ETag": f'"{part.etag}"', "x-amz-server-side-encryption": "AES256"}
    if part.checksum and payload.algorithm:
        headers[f"x-amz-checksum-{payload.algorithm.lower()}"] = part.checksum
    return Response(status_code=200, headers=headers)


async def upload_part_copy(ctx: S3Request) -> Response:
    number = _part_number(ctx)
    upload = ctx.store.uploads.get(ctx.bucket, ctx.key, ctx.query["uploadId"])
    src_bucket, src_key = parse_copy_source(ctx.headers["x-amz-copy-source"])
    source = ctx.store.get_object(src_bucket, src_key)
    check_conditions(ctx.headers, source, prefix="x-amz-copy-source-")
    offset, length = 0, source.size
    range_header = ctx.headers.get("x-amz-copy-source-range")
    if range_header:
        try:
            selected = parse_range(range_header, source.size)
        except S3Error:
            selected = None
        if selected is None or not range_header.strip().startswith("bytes=") or \
                range_header.split("=", 1)[1].strip().startswith("-"):
            raise S3Error("InvalidArgument", f"Range specified is not valid for source object of size: "
                          f"{source.size}", ArgumentName="x-amz-copy-source-range", ArgumentValue=range_header)
        offset, length = selected[0], selected[1] - selected[0] + 1
    algorithm = upload.checksum_algorithm

    def copy_range():
        digest = md5()
        hasher = algos.Hasher(algorithm) if algorithm else None
        staged = ctx.store.stage()
        try:
            staged.append_file(source.path, offset, length, hashers=[h for h in (digest, hasher) if h])
        except BaseException:
            staged.discard()
            raise
        return ctx.store.uploads.commit_part(ctx.bucket, ctx.key, upload.upload_id, number, staged,
                                     etag=digest.hexdigest(), checksum=hasher.b64() if hasher else None)

    part = await in_thread(copy_range)
    checksum = xml.text(f"Checksum{algorithm}", part.checksum) if algorithm and part.checksum else ""
    return xml.xml_response("CopyPartResult", xml.text("ETag", f'"{part.etag}"'),
                            xml.text("LastModified", xml.iso(part.last_modified)), checksum)


async def list_parts(ctx: S3Request) -> Response:
    upload = ctx.store.uploads.get(ctx.bucket, ctx.key, ctx.query["uploadId"])
    marker = _int_param(ctx, "part-number-marker", 0)
    max_parts = _int_param(ctx, "max-parts", 1000, high=1000)
    parts, truncated = ctx.store.uploads.list_parts(ctx.bucket, ctx.key, upload.upload_id, marker=marker,
                                            max_parts=max_parts)
    items = []
    for part in parts:
        checksum = xml.text(f"Checksum{upload.checksum_algorithm}", part.checksum) \
            if upload.checksum_algorithm and part.checksum else ""
        items.append(xml.node("Part", xml.text("PartNumber", part.part_number),
                              xml.text("LastModified", xml.iso(part.last_modified)),
                              xml.text("ETag", f'"{part.etag}"'), xml.text("Size", part.size), checksum))
    return xml.xml_response(
        "ListPartsResult", xml.text("Bucket", ctx.bucket), xml.text("Key", ctx.key),
        xml.text("UploadId", upload.upload_id), xml.text("PartNumberMarker", marker),
        xml.text("NextPartNumberMarker", parts[-1].part_number if parts else marker),
        xml.text("MaxParts", max_parts), xml.text("IsTruncated", truncated), "".join(items),
        _owner(ctx, "Initiator"), _owner(ctx, "Owner"), xml.text("StorageClass", "STANDARD"),
        xml.text("ChecksumAlgorithm", upload.checksum_algorithm), xml.text("ChecksumType", upload.checksum_type))


async def list_multipart_uploads(ctx: S3Request) -> Response:
    prefix = ctx.query.get("prefix", "")
    key_marker = ctx.query.get("key-marker", "")
    upload_id_marker = ctx.query.get("upload-id-marker", "")
    max_uploads = _int_param(ctx, "max-uploads", 1000, high=1000)
    uploads, truncated = ctx.store.uploads.list_uploads(ctx.bucket, prefix=prefix, key_marker=key_marker,
                                                          upload_id_marker=upload_id_marker,
                                                          max_uploads=max_uploads)
    items = "".join(
        xml.node("Upload", xml.text("Key", u.key), xml.text("UploadId", u.upload_id), _owner(ctx, "Initiator"),
                 _owner(ctx, "Owner"), xml.text("StorageClass", "STANDARD"),
                 xml.text("Initiated", xml.iso(u.initiated)), xml.text("ChecksumAlgorithm", u.checksum_algorithm),
                 xml.text("ChecksumType", u.checksum_type))
        for u in uploads)
    next_markers = ""
    if truncated and uploads:
        next_markers = xml.text("NextKeyMarker", uploads[-1].key) + xml.text("NextUploadIdMarker",
                                                                              uploads[-1].upload_id)
    return xml.xml_response(
        "ListMultipartUploadsResult", xml.text("Bucket", ctx.bucket), xml.text("KeyMarker", key_marker),
        xml.text("UploadIdMarker", upload_id_marker), next_markers, xml.text("Prefix", prefix),
        xml.text("MaxUploads", max_uploads), xml.text("IsTruncated", truncated), items)


async def complete_multipart_upload(ctx: S3Request) -> Response:
    upload_id = ctx.query["uploadId"]
    ctx.store.uploads.get(ctx.bucket, ctx.key, upload_id)
    body = await read_document(ctx.request, ChecksumSpec(content_md5=content_md5(ctx.headers)))
    root = xml.parse(body)
    if root.tag != "CompleteMultipartUpload":
        raise S3Error("MalformedXML")
    requested = []
    for elem in root.findall("Part"):
        number = xml.child_text(elem, "PartNumber")
        try:
            part_number = int(number or "")
        except ValueError:
            raise S3Error("MalformedXML") from None
        sums = {child.tag[len("Checksum"):]: (child.text or "").strip() for child in elem
                if child.tag.startswith("Checksum") and child.tag != "ChecksumType"}
        requested.append(CompletedPart(part_number, xml.child_text(elem, "ETag"), sums))
    info = await in_thread(ctx.store.uploads.complete, ctx.bucket, ctx.key, upload_id, requested,
                           precondition=write_precondition(ctx.headers, ctx.key),
                           expected_checksums=expected_object_checksums(ctx.headers))
    checksum = "".join(xml.text(f"Checksum{alg}", value) for alg, value in info.checksums.items())
    location = f"{str(ctx.request.base_url).rstrip('/')}/{ctx.bucket}/{ctx.key}"
    return xml.xml_response(
        "CompleteMultipartUploadResult", xml.text("Location", location), xml.text("Bucket", ctx.bucket),
        xml.text("Key", ctx.key), xml.text("ETag", info.quoted_etag), checksum,
        xml.text("ChecksumType", info.checksum_type) if checksum else "",
        headers={"x-amz-server-side-encryption": "AES256",
                 **response_headers(info.checksums, info.checksum_type)})


async def abort_multipart_upload(ctx: S3Request) -> Response:
    await in_thread(ctx.store.uploads.abort, ctx.bucket, ctx.key, ctx.query["uploadId"])
    return Response(status_code=204)
