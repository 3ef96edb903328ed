"""Request bodies a client compressed (`Content-Encoding: gzip`).

botocore gzips the bodies of operations whose model carries the `requestcompression` trait once they
pass 10 KiB (CloudWatch PutMetricData, in every protocol). S3 is not decoded here: there
Content-Encoding describes the stored object. The decompressed size is bounded by the same limit as
an uncompressed body, so a small body (a gzip bomb) cannot expand into unbounded memory.
"""

from __future__ import annotations

import zlib

from emulator.aws.errors import AwsError, RequestTooLarge, SerializationException


def decoded_body(headers, body: bytes, limit: int) -> bytes:
    encodings = [e.strip().lower() for e in (headers.get("content-encoding") or "").split(",") if e.strip()]
    for encoding in reversed(encodings):
        if encoding in ("identity", "aws-chunked"):
            continue
        if encoding != "gzip":
            raise SerializationException(f"Unsupported Content-Encoding: {encoding}")
        if body:
            body = _gunzip(body, limit)
    return body


def _gunzip(body: bytes, limit: int) -> bytes:
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        plain = inflater.decompress(body, limit + 1)
    except zlib.error:
        raise SerializationException("The request body is not valid gzip.") from None
    if len(plain) > limit or inflater.unconsumed_tail:
        raise AwsError(f"The decompressed request body exceeds the limit of {limit} bytes.",
                       code=RequestTooLarge.code, status=RequestTooLarge.status)
    if not inflater.eof:
        raise SerializationException("The request body is not valid gzip: the stream ends early.")
    return plain
