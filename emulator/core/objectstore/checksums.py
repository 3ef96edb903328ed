"""Streaming checksums in S3's flavours (CRC32, CRC32C, SHA1, SHA256, and CRC64NVME when awscrt is
installed), encoded as S3 sends them: base64 of the big-endian digest.

Multipart objects get S3's *composite* checksum: the checksum of the concatenated raw part checksums,
suffixed with `-<part count>` (botocore skips validating values that contain '-').
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from collections.abc import Iterable

import crc32c as _crc32c

try:  # CRC64NVME needs the AWS CRT bindings
    from awscrt import checksums as _crt
except ImportError:  # pragma: no cover - depends on the environment
    _crt = None

DIGEST_SIZES = {"CRC32": 4, "CRC32C": 4, "SHA1": 20, "SHA256": 32}
if _crt is not None:  # pragma: no cover
    DIGEST_SIZES["CRC64NVME"] = 8

ALGORITHMS: tuple[str, ...] = tuple(DIGEST_SIZES)
CRC_ALGORITHMS = frozenset({"CRC32", "CRC32C", "CRC64NVME"})
DEFAULT_ALGORITHM = "CRC32"


class Hasher:
    """`update()` with any bytes-like object, then `digest()` (raw bytes) or `b64()`."""

    def __init__(self, algorithm: str) -> None:
        if algorithm not in DIGEST_SIZES:
            raise ValueError(f"unsupported checksum algorithm {algorithm}")
        self.algorithm = algorithm
        self._crc = 0
        self._hash = hashlib.sha1() if algorithm == "SHA1" else hashlib.sha256() if algorithm == "SHA256" \
            else None

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._hash is not None:
            self._hash.update(data)
        elif self.algorithm == "CRC32":
            self._crc = zlib.crc32(data, self._crc)
        elif self.algorithm == "CRC32C":
            self._crc = _crc32c.crc32c(data, self._crc)
        else:  # pragma: no cover - CRC64NVME
            self._crc = _crt.crc64nvme(data, self._crc)

    def digest(self) -> bytes:
        if self._hash is not None:
            return self._hash.digest()
        return self._crc.to_bytes(DIGEST_SIZES[self.algorithm], "big")

    def b64(self) -> str:
        return base64.b64encode(self.digest()).decode()


def compute(algorithm: str, data: bytes) -> str:
    hasher = Hasher(algorithm)
    hasher.update(data)
    return hasher.b64()


def decode(algorithm: str, value: str) -> bytes | None:
    """The raw digest of a base64 checksum value, or None when it is not a valid value for `algorithm`."""
    try:
        raw = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == DIGEST_SIZES.get(algorithm, -1) else None


def composite(algorithm: str, part_checksums: Iterable[str]) -> str:
    """S3's COMPOSITE multipart checksum: checksum(concat(raw part checksums)) + '-N'."""
    hasher = Hasher(algorithm)
    count = 0
    for value in part_checksums:
        raw = decode(algorithm, value)
        if raw is None:
            raise ValueError(f"invalid {algorithm} part checksum {value!r}")
        hasher.update(raw)
        count += 1
    return f"{hasher.b64()}-{count}"


def multipart_etag(part_md5_hexes: Iterable[str]) -> str:
    """md5 of the concatenated binary part md5s, '-N' (unquoted)."""
    digest = hashlib.md5(usedforsecurity=False)
    count = 0
    for value in part_md5_hexes:
        digest.update(bytes.fromhex(value))
        count += 1
    return f"{digest.hexdigest()}-{count}"
