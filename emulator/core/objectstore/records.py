"""The object store's SQLite tables and the typed records read from them.

Object bytes never live in SQLite: a row points at an immutable blob file by a generated name, so the
key is opaque (`../x` is just a key) and a blob can be hard-linked into a job container safely.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from emulator.store.db import register_schema

register_schema("""
CREATE TABLE IF NOT EXISTS s3_buckets (
    name TEXT PRIMARY KEY,
    region TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS s3_objects (
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified REAL NOT NULL,
    content_type TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    headers TEXT NOT NULL DEFAULT '{}',
    checksums TEXT NOT NULL DEFAULT '{}',
    checksum_type TEXT,
    parts TEXT,
    blob TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS s3_uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key TEXT NOT NULL,
    initiated REAL NOT NULL,
    content_type TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    headers TEXT NOT NULL DEFAULT '{}',
    checksum_algorithm TEXT,
    checksum_type TEXT
);
CREATE INDEX IF NOT EXISTS s3_uploads_by_key ON s3_uploads (bucket, key, initiated);
CREATE TABLE IF NOT EXISTS s3_parts (
    upload_id TEXT NOT NULL,
    part_number INTEGER NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified REAL NOT NULL,
    checksum TEXT,
    blob TEXT NOT NULL,
    PRIMARY KEY (upload_id, part_number)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS s3_bucket_configs (
    bucket TEXT NOT NULL,
    name TEXT NOT NULL,
    body BLOB NOT NULL,
    PRIMARY KEY (bucket, name)
) WITHOUT ROWID;
""")

OBJECT_COLUMNS = ("bucket, key, size, etag, last_modified, content_type, metadata, headers, checksums, "
                  "checksum_type, parts, blob")


@dataclass
class ObjectInfo:
    """One stored object. `etag` is unquoted (`<md5 hex>` or `<hex>-<parts>`); `checksums` maps an
    algorithm (CRC32, SHA256, ...) to S3's base64 value (composite values end in `-N`); `headers` holds
    the stored Content-Encoding / Content-Disposition / Cache-Control / Content-Language / Expires."""

    bucket: str
    key: str
    size: int
    etag: str
    last_modified: float
    content_type: str | None
    metadata: dict[str, str]
    checksums: dict[str, str]
    path: Path
    checksum_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    parts: list[int] | None = None  # part sizes of a multipart object, in order
    blob: str = ""

    @property
    def quoted_etag(self) -> str:
        return f'"{self.etag}"'


# Checks the current version of an object (or None) inside the write transaction; raises to refuse.
Precondition = Callable[[ObjectInfo | None], None]


@dataclass
class BucketInfo:
    name: str
    region: str
    created: float


@dataclass
class UploadInfo:
    upload_id: str
    bucket: str
    key: str
    initiated: float
    content_type: str | None
    metadata: dict[str, str]
    headers: dict[str, str]
    checksum_algorithm: str | None
    checksum_type: str | None


@dataclass
class PartInfo:
    part_number: int
    size: int
    etag: str
    last_modified: float
    checksum: str | None
    path: Path


@dataclass
class CompletedPart:
    """One <Part> of a CompleteMultipartUpload request."""
    part_number: int
    etag: str | None = None
    checksums: dict[str, str] = field(default_factory=dict)


def object_from_row(row: sqlite3.Row, blobs_dir: Path) -> ObjectInfo:
    return ObjectInfo(
        bucket=row["bucket"], key=row["key"], size=row["size"], etag=row["etag"],
        last_modified=row["last_modified"], content_type=row["content_type"],
        metadata=json.loads(row["metadata"]), checksums=json.loads(row["checksums"]),
        path=blobs_dir / row["blob"], checksum_type=row["checksum_type"],
        headers=json.loads(row["headers"]), parts=json.loads(row["parts"]) if row["parts"] else None,
        blob=row["blob"])


def upload_from_row(row: sqlite3.Row) -> UploadInfo:
    return UploadInfo(
        upload_id=row["upload_id"], bucket=row["bucket"], key=row["key"], initiated=row["initiated"],
        content_type=row["content_type"], metadata=json.loads(row["metadata"]),
        headers=json.loads(row["headers"]), checksum_algorithm=row["checksum_algorithm"],
        checksum_type=row["checksum_type"])
