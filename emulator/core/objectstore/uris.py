"""`s3://bucket/key` URIs, as jobs, pipelines and definitions name objects in the store."""

from __future__ import annotations


class S3UriError(ValueError):
    """Not an s3:// URI."""


def parse_s3_uri(uri: str) -> tuple[str, str]:
    """(bucket, key) of `s3://bucket/key`; the key may be empty or a prefix."""
    if not uri.startswith("s3://"):
        raise S3UriError(f"Unsupported S3 URI {uri}")
    bucket, _, key = uri[5:].partition("/")
    return bucket, key
