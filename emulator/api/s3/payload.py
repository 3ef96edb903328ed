"""Receiving a request body as a stream: aws-chunked decoding, MD5 + checksum while the bytes pass,
each piece handed to a sink (a staged blob file, or a buffer for small XML documents). The body is never
held in memory, so a multi-GiB upload costs one read buffer."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request

from emulator.api.s3.checksums import ChecksumSpec, verify
from emulator.api.s3.chunked import AwsChunkedDecoder, is_aws_chunked
from emulator.core.objectstore import S3Error
from emulator.core.objectstore import checksums as algos
from emulator.core.objectstore.blobs import md5 as new_md5

MAX_SINGLE_UPLOAD = 5 * 1024 ** 3
MAX_DOCUMENT = 20 * 1024 * 1024


@dataclass
class Payload:
    size: int
    md5_hex: str
    algorithm: str | None
    checksum: str | None  # the verified (or computed) value to store

    def checksums(self) -> dict[str, str]:
        return {self.algorithm: self.checksum} if self.algorithm and self.checksum else {}


def declared_size(headers) -> int | None:
    name = "x-amz-decoded-content-length" if is_aws_chunked(headers) else "content-length"
    value = headers.get(name)
    if value is None:
        return None
    try:
        size = int(value)
    except ValueError:
        raise S3Error("InvalidArgument", f"Invalid {name} header.") from None
    if size < 0:
        raise S3Error("InvalidArgument", f"Invalid {name} header.")
    return size


async def receive(request: Request, sink: Callable[[memoryview | bytes], object], spec: ChecksumSpec, *,
                  max_size: int = MAX_SINGLE_UPLOAD) -> Payload:
    headers = request.headers
    expected_size = declared_size(headers)
    if expected_size is not None and expected_size > max_size:
        raise S3Error("EntityTooLarge", ProposedSize=expected_size, MaxSizeAllowed=max_size)
    decoder = AwsChunkedDecoder() if is_aws_chunked(headers) else None
    digest = new_md5()
    hasher = algos.Hasher(spec.algorithm) if spec.computable else None
    size = 0
    try:
        async for chunk in request.stream():
            if not chunk:
                continue
            pieces = decoder.feed(chunk) if decoder is not None else (chunk,)
            for piece in pieces:
                digest.update(piece)
                if hasher is not None:
                    hasher.update(piece)
                sink(piece)
                size += len(piece)
            if size > max_size:
                raise S3Error("EntityTooLarge", ProposedSize=size, MaxSizeAllowed=max_size)
    except ClientDisconnect:
        raise S3Error("IncompleteBody") from None
    request.state.s3_body_read = True
    if decoder is not None:
        decoder.finish()
    if expected_size is not None and size != expected_size:
        raise S3Error("IncompleteBody")
    checksum = verify(spec, hasher.b64() if hasher else None, digest.digest(),
                      decoder.trailers if decoder is not None else None)
    return Payload(size, digest.hexdigest(), spec.algorithm if checksum else None, checksum)


async def read_document(request: Request, spec: ChecksumSpec | None = None, *, limit: int = MAX_DOCUMENT) -> bytes:
    """A small request body (an XML document), decoded and checked like an upload."""
    buffer = bytearray()
    await receive(request, buffer.extend, spec or ChecksumSpec(), max_size=limit)
    return bytes(buffer)
