"""Which checksum a request carries and how to check it (peer_emulators_and_s3_wire.md §4.2-4.3).

botocore 1.36+ sends CRC32 by default: as an `x-amz-checksum-crc32` header over http, as an aws-chunked
trailer named by `X-Amz-Trailer` over https. The server computes the same checksum while streaming,
answers `400 BadDigest` on a mismatch, stores it, and echoes it on PutObject/UploadPart.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

from emulator.core.objectstore import S3Error
from emulator.core.objectstore import checksums as algos

_NOT_CHECKSUMS = {"x-amz-checksum-algorithm", "x-amz-checksum-mode", "x-amz-checksum-type"}
_ALL_NAMES = "[CRC32, CRC32C, CRC64NVME, SHA1, SHA256]"


@dataclass
class ChecksumSpec:
    algorithm: str | None = None   # what the server computes (None: nothing)
    expected: str | None = None    # a header value to compare with
    trailer: str | None = None     # the trailer (lower-case header name) that will carry the value
    content_md5: bytes | None = None
    requested: bool = False        # the client named an algorithm: echo the checksum in the response

    @property
    def computable(self) -> bool:
        return self.algorithm in algos.DIGEST_SIZES


def supported_algorithm(value: str, what: str = "x-amz-checksum-algorithm") -> str:
    algorithm = value.strip().upper()
    if algorithm not in algos.DIGEST_SIZES and algorithm != "CRC64NVME":
        raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported. Please try again with any "
                      f"of the valid types: {_ALL_NAMES}")
    return algorithm


def request_spec(headers, *, default: str | None = None, required: str | None = None) -> ChecksumSpec:
    """Read the checksum headers of an upload. `required` is a multipart upload's algorithm (every part
    must use it); `default` is what to compute when the client sent nothing."""
    spec = ChecksumSpec()
    named = [(k.lower(), v) for k, v in headers.items()
             if k.lower().startswith("x-amz-checksum-") and k.lower() not in _NOT_CHECKSUMS]
    if len(named) > 1:
        raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types are "
                      "not allowed.")
    if named:
        name, value = named[0]
        spec.algorithm = supported_algorithm(name.removeprefix("x-amz-checksum-"))
        if spec.computable and algos.decode(spec.algorithm, value) is None:
            raise S3Error("InvalidRequest", f"Value for {name} header is invalid.")
        spec.expected, spec.requested = value.strip(), True
    trailer = headers.get("x-amz-trailer", "").strip().lower()
    if trailer.startswith("x-amz-checksum-"):
        algorithm = supported_algorithm(trailer.removeprefix("x-amz-checksum-"))
        if spec.algorithm and spec.algorithm != algorithm:
            raise S3Error("InvalidRequest", "Expecting a single x-amz-checksum- header. Multiple checksum Types "
                          "are not allowed.")
        spec.algorithm, spec.trailer, spec.requested = algorithm, trailer, True
    sdk = headers.get("x-amz-sdk-checksum-algorithm")
    if sdk and not spec.algorithm:
        spec.algorithm, spec.requested = supported_algorithm(sdk, "x-amz-sdk-checksum-algorithm"), True
    if required:
        if spec.algorithm and spec.algorithm != required:
            raise S3Error("InvalidRequest", "Checksum Type mismatch occurred, expected checksum Type: "
                          f"{required.lower()}, actual checksum Type: {spec.algorithm.lower()}")
        spec.algorithm, spec.requested = required, True
    if not spec.algorithm and default:
        spec.algorithm = default
    spec.content_md5 = content_md5(headers)
    return spec


def content_md5(headers) -> bytes | None:
    value = headers.get("content-md5")
    if value is None:
        return None
    try:
        digest = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        digest = b""
    if len(digest) != 16:
        raise S3Error("InvalidDigest")
    return digest


def expected_object_checksums(headers) -> dict[str, str]:
    """`x-amz-checksum-<alg>` headers that describe the resulting object (CompleteMultipartUpload), not
    the request body."""
    return {k.lower().removeprefix("x-amz-checksum-").upper(): v.strip() for k, v in headers.items()
            if k.lower().startswith("x-amz-checksum-") and k.lower() not in _NOT_CHECKSUMS}


def verify(spec: ChecksumSpec, computed: str | None, md5_digest: bytes,
           trailers: dict[str, str] | None) -> str | None:
    """Compare what the client claimed with what arrived; return the checksum value to store."""
    if spec.content_md5 is not None and spec.content_md5 != md5_digest:
        raise S3Error("BadDigest", ExpectedDigest=spec.content_md5.hex(),
                      CalculatedDigest=base64.b64encode(md5_digest).decode())
    expected = spec.expected
    if spec.trailer:
        expected = (trailers or {}).get(spec.trailer)
        if expected is not None and spec.computable and algos.decode(spec.algorithm, expected) is None:
            raise S3Error("InvalidRequest", f"Value for {spec.trailer} trailing header is invalid.")
    if not spec.computable:
        return expected  # e.g. CRC64NVME without awscrt: keep the client's value, unverified
    if expected is not None and expected != computed:
        raise S3Error("BadDigest", f"The {spec.algorithm} you specified did not match the calculated checksum.")
    return computed


def response_headers(checksums: dict[str, str], checksum_type: str | None) -> dict[str, str]:
    headers = {f"x-amz-checksum-{alg.lower()}": value for alg, value in checksums.items() if value}
    if headers and checksum_type:
        headers["x-amz-checksum-type"] = checksum_type
    return headers
