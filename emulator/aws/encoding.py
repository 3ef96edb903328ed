"""Request bodies a client compressed (`Content-Encoding: gzip`).

botocore gzips the bodies of operations whose model carries the `requestcompression` trait once they
pass 10 KiB (CloudWatch PutMetricData, in every protocol). S3 is not decoded here: there
Content-Encoding describes the stored object. The decompressed size is bounded so a small body
cannot expand into unbounded memory.
"""

from __future__ import annotations

import zlib

from emulator.aws.errors import AwsError, SerializationException

MAX_DECODED_BYTES = 32 * 1024 * 1024


def decoded_body(headers, body: bytes) -> bytes:
    encodings = [e.strip().lower() for e in (headers.get("content-encoding") or "").split(",") if e.strip()]
    for encoding in reversed(encodings):
        if encoding in ("identity", "aws-chunked"):
            continue
        if encoding != "gzip":
            raise SerializationException(f"Unsupported Content-Encoding: {encoding}")
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            body = inflater.decompress(body, MAX_DECODED_BYTES + 1)
        except zlib.error:
            raise SerializationException("The request body is not valid gzip.") from None
        if len(body) > MAX_DECODED_BYTES or inflater.unconsumed_tail:
            raise AwsError(f"The decompressed request body exceeds {MAX_DECODED_BYTES} bytes.",
                           code="RequestEntityTooLarge", status=413)
    return body
