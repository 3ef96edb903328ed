"""Multipart uploads: parts are files under parts/<upload id>/, completion concatenates them into one
new blob (kernel copy) and commits it with the upload's removal in the same transaction.

`Uploads` is the object store's multipart half (`ObjectStore.uploads`); it reaches the store only
through the few operations listed in `Store`."""

from __future__ import annotations

import json
import os
import sqlite3
import time
import uuid
from itertools import pairwise
from pathlib import Path
from typing import Protocol

from emulator.core.objectstore import checksums
from emulator.core.objectstore.blobs import StagedBlob, remove_tree
from emulator.core.objectstore.errors import S3Error
from emulator.core.objectstore.records import (
    CompletedPart,
    ObjectInfo,
    PartInfo,
    Precondition,
    UploadInfo,
    upload_from_row,
)
from emulator.store.db import Database

MAX_PARTS = 10000


class Store(Protocol):
    """What uploads need from the object store."""
    db: Database
    parts_dir: Path
    min_part_size: int

    def require_bucket(self, conn: sqlite3.Connection, name: str) -> None: ...
    def get_bucket(self, name: str): ...
    def stage(self) -> StagedBlob: ...
    def commit_object(self, bucket: str, key: str, staged: StagedBlob, **options) -> ObjectInfo: ...


class Uploads:
    def __init__(self, store: Store) -> None:
        self.store = store

    def create(self, bucket: str, key: str, *, content_type: str | None = None,
               metadata: dict[str, str] | None = None, headers: dict[str, str] | None = None,
               checksum_algorithm: str | None = None, checksum_type: str | None = None) -> UploadInfo:
        if checksum_algorithm and not checksum_type:
            # S3's default: composite for CRC32/CRC32C/SHA*, full-object for CRC64NVME.
            checksum_type = "FULL_OBJECT" if checksum_algorithm == "CRC64NVME" else "COMPOSITE"
        info = UploadInfo(upload_id=uuid.uuid4().hex + uuid.uuid4().hex, bucket=bucket, key=key,
                          initiated=time.time(), content_type=content_type, metadata=dict(metadata or {}),
                          headers=dict(headers or {}), checksum_algorithm=checksum_algorithm,
                          checksum_type=checksum_type if checksum_algorithm else None)
        with self.store.db.transaction() as conn:
            self.store.require_bucket(conn, bucket)
            conn.execute(
                "INSERT INTO s3_uploads (upload_id, bucket, key, initiated, content_type, metadata, headers, "
                "checksum_algorithm, checksum_type) VALUES (?,?,?,?,?,?,?,?,?)",
                (info.upload_id, bucket, key, info.initiated, content_type, json.dumps(info.metadata),
                 json.dumps(info.headers), info.checksum_algorithm, info.checksum_type))
        return info

    def get(self, bucket: str, key: str, upload_id: str) -> UploadInfo:
        row = self.store.db.query_one("SELECT * FROM s3_uploads WHERE upload_id = ?", (upload_id,))
        if row is None or row["bucket"] != bucket or row["key"] != key:
            self.store.get_bucket(bucket)
            raise S3Error("NoSuchUpload", UploadId=upload_id)
        return upload_from_row(row)

    def _require(self, conn: sqlite3.Connection, bucket: str, key: str, upload_id: str) -> None:
        row = conn.execute("SELECT bucket, key FROM s3_uploads WHERE upload_id = ?", (upload_id,)).fetchone()
        if row is None or row["bucket"] != bucket or row["key"] != key:
            raise S3Error("NoSuchUpload", UploadId=upload_id)

    def commit_part(self, bucket: str, key: str, upload_id: str, part_number: int,
                    staged: StagedBlob, *, etag: str, checksum: str | None = None) -> PartInfo:
        if not 1 <= part_number <= MAX_PARTS:
            staged.discard()
            raise S3Error("InvalidArgument", "Part number must be an integer between 1 and 10000, inclusive",
                          ArgumentName="partNumber", ArgumentValue=str(part_number))
        try:
            staged.seal()
            name = f"{upload_id}/{staged.name.split('/')[-1]}"
            dest = self.store.parts_dir / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(staged.path, dest)
        except BaseException:
            staged.discard()
            raise
        now = time.time()
        try:
            with self.store.db.transaction() as conn:
                self._require(conn, bucket, key, upload_id)
                old = conn.execute("SELECT blob FROM s3_parts WHERE upload_id = ? AND part_number = ?",
                                   (upload_id, part_number)).fetchone()
                conn.execute("INSERT OR REPLACE INTO s3_parts (upload_id, part_number, size, etag, last_modified, "
                             "checksum, blob) VALUES (?,?,?,?,?,?,?)",
                             (upload_id, part_number, staged.size, etag, now, checksum, name))
        except BaseException:
            dest.unlink(missing_ok=True)
            raise
        if old is not None and old[0] != name:
            (self.store.parts_dir / old[0]).unlink(missing_ok=True)
        return PartInfo(part_number, staged.size, etag, now, checksum, dest)

    def list_parts(self, bucket: str, key: str, upload_id: str, *, marker: int = 0,
                   max_parts: int = 1000) -> tuple[list[PartInfo], bool]:
        self.get(bucket, key, upload_id)
        rows = self.store.db.query("SELECT * FROM s3_parts WHERE upload_id = ? AND part_number > ? "
                                   "ORDER BY part_number LIMIT ?", (upload_id, marker, max_parts + 1))
        parts = [PartInfo(r["part_number"], r["size"], r["etag"], r["last_modified"], r["checksum"],
                          self.store.parts_dir / r["blob"]) for r in rows]
        return parts[:max_parts], len(parts) > max_parts

    def list_uploads(self, bucket: str, *, prefix: str = "", key_marker: str = "", upload_id_marker: str = "",
                     max_uploads: int = 1000) -> tuple[list[UploadInfo], bool]:
        self.store.get_bucket(bucket)
        rows = self.store.db.query("SELECT * FROM s3_uploads WHERE bucket = ? AND key >= ? "
                                   "ORDER BY key, initiated, upload_id", (bucket, prefix))
        uploads = [upload_from_row(r) for r in rows if r["key"].startswith(prefix)]
        if key_marker:
            position = next((i for i, u in enumerate(uploads)
                             if u.key == key_marker and u.upload_id == upload_id_marker), None)
            if upload_id_marker and position is not None:
                uploads = uploads[position + 1:]
            else:  # a key-marker alone means "keys after this one"
                uploads = [u for u in uploads if u.key > key_marker]
        return uploads[:max_uploads], len(uploads) > max_uploads

    def abort(self, bucket: str, key: str, upload_id: str) -> None:
        with self.store.db.transaction() as conn:
            self.store.require_bucket(conn, bucket)
            self._require(conn, bucket, key, upload_id)
            conn.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
            conn.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,))
        remove_tree(self.store.parts_dir / upload_id)

    def complete(self, bucket: str, key: str, upload_id: str, requested: list[CompletedPart], *,
                 precondition: Precondition | None = None,
                 expected_checksums: dict[str, str] | None = None) -> ObjectInfo:
        """Assemble the listed parts into the object. `expected_checksums` are the object checksums the
        client claims (x-amz-checksum-<alg> on the request): BadDigest unless they match."""
        upload = self.get(bucket, key, upload_id)
        if not requested:
            raise S3Error("MalformedXML")
        numbers = [p.part_number for p in requested]
        if any(b <= a for a, b in pairwise(numbers)):
            raise S3Error("InvalidPartOrder", UploadId=upload_id)
        stored = {p.part_number: p for p in self.list_parts(bucket, key, upload_id, max_parts=MAX_PARTS)[0]}
        algorithm = upload.checksum_algorithm
        chosen: list[PartInfo] = []
        for want in requested:
            part = stored.get(want.part_number)
            if part is None or (want.etag is not None and want.etag.strip().strip('"') != part.etag):
                raise S3Error("InvalidPart", UploadId=upload_id, PartNumber=want.part_number,
                              ETag=want.etag)
            for alg, value in want.checksums.items():
                if alg == algorithm and part.checksum and value != part.checksum:
                    raise S3Error("InvalidPart", UploadId=upload_id, PartNumber=want.part_number,
                                  ETag=want.etag)
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < self.store.min_part_size:
                raise S3Error("EntityTooSmall", ProposedSize=part.size, MinSizeAllowed=self.store.min_part_size,
                              PartNumber=part.part_number, ETag=part.etag)

        full_hasher = None
        sums: dict[str, str] = {}
        if algorithm and upload.checksum_type == "FULL_OBJECT":
            full_hasher = checksums.Hasher(algorithm)
        elif algorithm:
            if any(p.checksum is None for p in chosen):
                raise S3Error("InvalidRequest", f"The upload was created using a {algorithm} checksum. "
                              "The complete request must include the checksum for each part.")
            sums[algorithm] = checksums.composite(algorithm, [p.checksum for p in chosen])
        staged = self.store.stage()
        try:
            for part in chosen:
                staged.append_file(part.path, hashers=(full_hasher,) if full_hasher else ())
        except FileNotFoundError:
            staged.discard()
            raise S3Error("NoSuchUpload", UploadId=upload_id) from None
        except BaseException:
            staged.discard()
            raise
        if full_hasher is not None:
            sums[algorithm] = full_hasher.b64()
        for alg, value in (expected_checksums or {}).items():
            ours = sums.get(alg)
            if ours is not None and value not in (ours, ours.split("-")[0]):
                staged.discard()
                raise S3Error("BadDigest", f"The {alg} you specified did not match the calculated checksum.")

        def drop_upload(conn: sqlite3.Connection) -> None:
            self._require(conn, bucket, key, upload_id)
            conn.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
            conn.execute("DELETE FROM s3_uploads WHERE upload_id = ?", (upload_id,))

        info = self.store.commit_object(
            bucket, key, staged, etag=checksums.multipart_etag(p.etag for p in chosen), checksums=sums,
            checksum_type=upload.checksum_type, content_type=upload.content_type, metadata=upload.metadata,
            headers=upload.headers, parts=[p.size for p in chosen], precondition=precondition,
            in_transaction=drop_upload)
        remove_tree(self.store.parts_dir / upload_id)
        return info
