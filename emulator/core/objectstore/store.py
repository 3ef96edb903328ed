"""The filesystem-backed object store (no HTTP): buckets and objects.

Layout under `root` (settings.objects_dir):
    blobs/<2 hex>/<uuid hex>   committed object bytes, immutable
    parts/<upload id>/<uuid>   uploaded multipart parts
    tmp/                       files being written; anything here at start-up is a crashed upload

A write goes: stream into tmp/ -> fdatasync -> rename into blobs/ -> one SQLite transaction that points
the (bucket, key) row at it -> unlink the blob it replaced. Readers only ever see committed blobs.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sqlite3
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from emulator.core.objectstore import checksums
from emulator.core.objectstore.blobs import StagedBlob, hash_file, md5, new_blob_name, remove_tree
from emulator.core.objectstore.errors import S3Error
from emulator.core.objectstore.multipart import Uploads
from emulator.core.objectstore.records import OBJECT_COLUMNS, BucketInfo, ObjectInfo, Precondition, object_from_row
from emulator.store.db import Database, prefix_successor

log = logging.getLogger(__name__)

_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP_ADDRESS = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
MAX_KEY_BYTES = 1024
_LIST_BATCH = 1000

def valid_bucket_name(name: str) -> bool:
    """AWS's general-purpose bucket naming rules."""
    return bool(_BUCKET_NAME.match(name)) and ".." not in name and not _IP_ADDRESS.match(name) \
        and not name.startswith("xn--") and not name.endswith("-s3alias") and ".-" not in name \
        and "-." not in name


@dataclass
class ListPage:
    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    last: str | None  # the last key or common prefix returned: the marker for the next page


class ObjectStore:
    def __init__(self, db: Database, root: Path, *, fsync: bool = False,
                 min_part_size: int = 5 * 1024 * 1024) -> None:
        self.db = db
        self.root = Path(root)
        self.blobs_dir = self.root / "blobs"
        self.parts_dir = self.root / "parts"
        self.tmp_dir = self.root / "tmp"
        # Atomic rename already makes a crashed or restarted emulator see whole objects or none;
        # fsync adds only power-loss durability, at ~6 ms per PUT. Off by default, like SQLite's
        # synchronous=NORMAL that the metadata uses (Settings.s3_fsync turns it on).
        self.fsync = fsync
        self.min_part_size = min_part_size  # S3's EntityTooSmall limit
        self.uploads = Uploads(self)  # multipart uploads
        self._make_dirs()
        self._collect_garbage()

    # ----------------------------------------------------------------- housekeeping
    def _make_dirs(self) -> None:
        for d in (self.blobs_dir, self.parts_dir, self.tmp_dir):
            d.mkdir(parents=True, exist_ok=True)

    def after_reset(self) -> None:
        """Called after the DB was wiped and the objects dir deleted."""
        self._make_dirs()

    def _collect_garbage(self) -> None:
        """At start-up: drop crashed uploads (tmp files) and blobs/parts no row points at (a crash between
        the rename and the commit, or between the commit and the unlink of a replaced blob)."""
        for entry in self.tmp_dir.iterdir():
            remove_tree(entry) if entry.is_dir() else entry.unlink(missing_ok=True)
        live = {r[0] for r in self.db.query("SELECT blob FROM s3_objects")}
        for fan in self.blobs_dir.iterdir():
            if fan.is_dir():
                for blob in fan.iterdir():
                    if f"{fan.name}/{blob.name}" not in live:
                        blob.unlink(missing_ok=True)
        uploads = {r[0] for r in self.db.query("SELECT upload_id FROM s3_uploads")}
        parts = {r[0] for r in self.db.query("SELECT blob FROM s3_parts")}
        for upload_dir in self.parts_dir.iterdir():
            if upload_dir.name not in uploads:
                remove_tree(upload_dir)
                continue
            for part in upload_dir.iterdir():
                if f"{upload_dir.name}/{part.name}" not in parts:
                    part.unlink(missing_ok=True)

    def blob_path(self, blob: str) -> Path:
        return self.blobs_dir / blob

    def stage(self) -> StagedBlob:
        """A new temp file to stream an upload into; pass it to `commit_object` (or `discard()` it)."""
        try:
            return StagedBlob(self.tmp_dir, fsync=self.fsync)
        except FileNotFoundError:  # the data dir was reset underneath us
            self._make_dirs()
            return StagedBlob(self.tmp_dir, fsync=self.fsync)

    def _install(self, staged: StagedBlob) -> str:
        """Seal a staged file and move it to its final blob path (still unreferenced)."""
        staged.seal()
        dest = self.blobs_dir / staged.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        os.replace(staged.path, dest)
        return staged.name

    def _unlink_blob(self, blob: str | None) -> None:
        if blob:
            (self.blobs_dir / blob).unlink(missing_ok=True)

    # ----------------------------------------------------------------- buckets
    def create_bucket(self, name: str, region: str = "us-east-1") -> bool:
        """Create a bucket; True if created, False if it already existed (internal callers want
        idempotency; the S3 API turns False into AWS's BucketAlreadyOwnedByYou semantics)."""
        if not valid_bucket_name(name):
            raise S3Error("InvalidBucketName", BucketName=name)
        with self.db.transaction() as conn:
            cur = conn.execute("INSERT OR IGNORE INTO s3_buckets (name, region, created) VALUES (?, ?, ?)",
                               (name, region or "us-east-1", time.time()))
            return cur.rowcount == 1

    def bucket_exists(self, name: str) -> bool:
        return self.db.query_one("SELECT 1 FROM s3_buckets WHERE name = ?", (name,)) is not None

    def get_bucket(self, name: str) -> BucketInfo:
        row = self.db.query_one("SELECT name, region, created FROM s3_buckets WHERE name = ?", (name,))
        if row is None:
            raise S3Error("NoSuchBucket", BucketName=name)
        return BucketInfo(row["name"], row["region"], row["created"])

    def list_buckets(self) -> list[BucketInfo]:
        rows = self.db.query("SELECT name, region, created FROM s3_buckets ORDER BY name")
        return [BucketInfo(r["name"], r["region"], r["created"]) for r in rows]

    def delete_bucket(self, name: str) -> None:
        """NoSuchBucket / BucketNotEmpty as S3; in-progress multipart uploads are aborted with it."""
        with self.db.transaction() as conn:
            self.require_bucket(conn, name)
            if conn.execute("SELECT 1 FROM s3_objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                raise S3Error("BucketNotEmpty", BucketName=name)
            uploads = [r[0] for r in conn.execute("SELECT upload_id FROM s3_uploads WHERE bucket = ?", (name,))]
            for upload_id in uploads:
                conn.execute("DELETE FROM s3_parts WHERE upload_id = ?", (upload_id,))
            conn.execute("DELETE FROM s3_uploads WHERE bucket = ?", (name,))
            conn.execute("DELETE FROM s3_bucket_configs WHERE bucket = ?", (name,))
            conn.execute("DELETE FROM s3_buckets WHERE name = ?", (name,))
        for upload_id in uploads:
            remove_tree(self.parts_dir / upload_id)

    def require_bucket(self, conn: sqlite3.Connection, name: str) -> None:
        if conn.execute("SELECT 1 FROM s3_buckets WHERE name = ?", (name,)).fetchone() is None:
            raise S3Error("NoSuchBucket", BucketName=name)

    def get_bucket_config(self, bucket: str, name: str) -> bytes | None:
        """Raw sub-resource documents (tagging, policy, cors, ...) that the emulator only stores."""
        self.get_bucket(bucket)
        row = self.db.query_one("SELECT body FROM s3_bucket_configs WHERE bucket = ? AND name = ?",
                                (bucket, name))
        return bytes(row["body"]) if row else None

    def put_bucket_config(self, bucket: str, name: str, body: bytes | None) -> None:
        with self.db.transaction() as conn:
            self.require_bucket(conn, bucket)
            if body is None:
                conn.execute("DELETE FROM s3_bucket_configs WHERE bucket = ? AND name = ?", (bucket, name))
            else:
                conn.execute("INSERT OR REPLACE INTO s3_bucket_configs (bucket, name, body) VALUES (?, ?, ?)",
                             (bucket, name, body))

    # ----------------------------------------------------------------- writes
    def commit_object(self, bucket: str, key: str, staged: StagedBlob, *, etag: str,
                      checksums: dict[str, str] | None = None, checksum_type: str | None = None,
                      content_type: str | None = None, metadata: dict[str, str] | None = None,
                      headers: dict[str, str] | None = None, parts: list[int] | None = None,
                      precondition: Precondition | None = None,
                      in_transaction: Callable[[sqlite3.Connection], None] | None = None) -> ObjectInfo:
        """Make a fully written staged file the current version of (bucket, key), atomically.

        `precondition(current)` runs inside the transaction and may raise (conditional writes);
        `in_transaction(conn)` lets multipart completion drop its upload in the same commit."""
        try:
            blob = self._install(staged)
        except BaseException:
            staged.discard()
            raise
        return self._commit_blob(bucket, key, blob, size=staged.size, etag=etag, checksums=checksums,
                                 checksum_type=checksum_type, content_type=content_type, metadata=metadata,
                                 headers=headers, parts=parts, precondition=precondition,
                                 in_transaction=in_transaction)

    def _commit_blob(self, bucket: str, key: str, blob: str, *, size: int, etag: str,
                     checksums: dict[str, str] | None, checksum_type: str | None, content_type: str | None,
                     metadata: dict[str, str] | None, headers: dict[str, str] | None,
                     parts: list[int] | None, precondition: Precondition | None = None,
                     in_transaction: Callable[[sqlite3.Connection], None] | None = None) -> ObjectInfo:
        if len(key.encode("utf-8", "surrogatepass")) > MAX_KEY_BYTES:
            self._unlink_blob(blob)
            raise S3Error("KeyTooLongError", Size=len(key.encode("utf-8", "surrogatepass")),
                          MaxSizeAllowed=MAX_KEY_BYTES)
        info = ObjectInfo(bucket=bucket, key=key, size=size, etag=etag, last_modified=time.time(),
                          content_type=content_type, metadata=dict(metadata or {}),
                          checksums=dict(checksums or {}), path=self.blobs_dir / blob,
                          checksum_type=checksum_type if checksums else None, headers=dict(headers or {}),
                          parts=parts, blob=blob)
        try:
            with self.db.transaction() as conn:
                self.require_bucket(conn, bucket)
                old = conn.execute(f"SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ?",
                                   (bucket, key)).fetchone()
                if precondition is not None:
                    precondition(object_from_row(old, self.blobs_dir) if old else None)
                if in_transaction is not None:
                    in_transaction(conn)
                conn.execute(
                    f"INSERT OR REPLACE INTO s3_objects ({OBJECT_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                    (bucket, key, size, etag, info.last_modified, content_type, json.dumps(info.metadata),
                     json.dumps(info.headers), json.dumps(info.checksums), info.checksum_type,
                     json.dumps(parts) if parts else None, blob))
        except BaseException:
            self._unlink_blob(blob)
            raise
        if old is not None and old["blob"] != blob:
            self._unlink_blob(old["blob"])
        return info

    def put_object_bytes(self, bucket: str, key: str, data: bytes, *, content_type: str | None = None,
                         metadata: dict[str, str] | None = None) -> ObjectInfo:
        self.get_bucket(bucket)
        staged = self.stage()
        try:
            staged.write(data)
        except BaseException:
            staged.discard()
            raise
        digest = md5()
        digest.update(data)
        return self.commit_object(bucket, key, staged, etag=digest.hexdigest(),
                                  checksums={checksums.DEFAULT_ALGORITHM: checksums.compute(
                                      checksums.DEFAULT_ALGORITHM, data)},
                                  checksum_type="FULL_OBJECT", content_type=content_type, metadata=metadata)

    def put_object_from_path(self, bucket: str, key: str, src_path: str | os.PathLike, *,
                             content_type: str | None = None, metadata: dict[str, str] | None = None,
                             move: bool = True) -> ObjectInfo:
        """Store a local file as an object. By default the store adopts the file: it is renamed into the
        store (no byte copy on the same filesystem; copied then removed across filesystems) and the
        caller must not use it afterwards. `move=False` copies and leaves the caller's file alone."""
        self.get_bucket(bucket)
        src = Path(src_path)
        digest, crc = md5(), checksums.Hasher(checksums.DEFAULT_ALGORITHM)
        staged = None
        if move:
            try:
                hash_file(src, (digest, crc))
                staged = StagedBlob.adopt(self.tmp_dir, src, fsync=self.fsync)
            except OSError as exc:
                if not src.exists():
                    raise
                log.debug("cannot rename %s into the store (%s); copying", src, exc)
                digest, crc = md5(), checksums.Hasher(checksums.DEFAULT_ALGORITHM)
        copied = staged is None
        if copied:
            staged = self.stage()
            try:
                staged.append_file(src, hashers=(digest, crc))
            except BaseException:
                staged.discard()
                raise
        info = self.commit_object(bucket, key, staged, etag=digest.hexdigest(),
                                  checksums={crc.algorithm: crc.b64()}, checksum_type="FULL_OBJECT",
                                  content_type=content_type, metadata=metadata)
        if move and copied:
            src.unlink(missing_ok=True)
        return info

    def copy_object(self, src_bucket: str, src_key: str, bucket: str, key: str, *,
                    content_type: str | None = None, metadata: dict[str, str] | None = None,
                    headers: dict[str, str] | None = None, replace_metadata: bool = False,
                    checksum_algorithm: str | None = None, source_check: Precondition | None = None,
                    precondition: Precondition | None = None) -> ObjectInfo:
        """CopyObject. The new object hard-links the source's immutable blob (no byte copy) unless its
        ETag/checksum must be recomputed: a copy of a multipart object is a single-part object, as in S3."""
        for _ in range(5):
            source = self.head_object(src_bucket, src_key)
            if source is None:
                raise S3Error("NoSuchKey", Key=src_key)
            if source_check is not None:
                source_check(source)
            self.get_bucket(bucket)
            algorithm = checksum_algorithm or next(iter(source.checksums), None) or checksums.DEFAULT_ALGORITHM
            recompute = source.parts is not None or algorithm not in source.checksums \
                or source.checksum_type == "COMPOSITE"
            blob = new_blob_name()
            dest = self.blobs_dir / blob
            dest.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.link(source.path, dest)
            except FileNotFoundError:
                continue  # the source was replaced between the lookup and the link: look again
            except OSError:
                staged = self.stage()
                try:
                    staged.append_file(source.path)
                    blob = self._install(staged)
                except FileNotFoundError:
                    staged.discard()
                    continue
            etag, sums = source.etag, {algorithm: source.checksums.get(algorithm, "")}
            if recompute:
                digest, hasher = md5(), checksums.Hasher(algorithm)
                hash_file(self.blobs_dir / blob, (digest, hasher))
                etag, sums = digest.hexdigest(), {algorithm: hasher.b64()}
            if replace_metadata:
                new_type, new_meta, new_headers = content_type, metadata, headers
            else:
                new_type, new_meta, new_headers = source.content_type, source.metadata, source.headers
            return self._commit_blob(bucket, key, blob, size=source.size, etag=etag, checksums=sums,
                                     checksum_type="FULL_OBJECT", content_type=new_type, metadata=new_meta,
                                     headers=new_headers, parts=None, precondition=precondition)
        raise S3Error("InternalError", "The source object kept changing during the copy.")

    def delete_object(self, bucket: str, key: str) -> bool:
        """Delete one object; True if it existed (S3 answers 204 either way). NoSuchBucket if no bucket."""
        return bool(self.delete_objects(bucket, [key]))

    def delete_objects(self, bucket: str, keys: list[str]) -> list[str]:
        """Delete many keys in one transaction; returns the keys that existed."""
        removed: list[tuple[str, str]] = []
        with self.db.transaction() as conn:
            self.require_bucket(conn, bucket)
            for key in keys:
                row = conn.execute("DELETE FROM s3_objects WHERE bucket = ? AND key = ? RETURNING blob",
                                   (bucket, key)).fetchone()
                if row is not None:
                    removed.append((key, row[0]))
        for _, blob in removed:
            self._unlink_blob(blob)
        return [key for key, _ in removed]

    # ----------------------------------------------------------------- reads
    def head_object(self, bucket: str, key: str) -> ObjectInfo | None:
        """The object's record, None if the key does not exist; NoSuchBucket if the bucket doesn't."""
        row = self.db.query_one(f"SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ? AND key = ?",
                                (bucket, key))
        if row is None:
            self.get_bucket(bucket)
            return None
        return object_from_row(row, self.blobs_dir)

    def get_object(self, bucket: str, key: str) -> ObjectInfo:
        info = self.head_object(bucket, key)
        if info is None:
            raise S3Error("NoSuchKey", Key=key)
        return info

    def object_path(self, bucket: str, key: str) -> Path:
        """The immutable on-disk blob (hard-link or bind-mount it read-only; never write to it)."""
        return self.get_object(bucket, key).path

    def open_object(self, bucket: str, key: str) -> BinaryIO:
        return self.open_object_info(bucket, key)[1]

    def open_object_info(self, bucket: str, key: str) -> tuple[ObjectInfo, BinaryIO]:
        """The record and an open file of the same version (retrying if a writer replaced it between
        the lookup and the open: the replaced blob is unlinked right after the new one commits)."""
        for _ in range(5):
            info = self.get_object(bucket, key)
            try:
                return info, open(info.path, "rb")  # the caller closes it
            except FileNotFoundError:
                continue
        raise S3Error("InternalError", "The object kept changing while it was being opened.")

    def list_objects(self, bucket: str, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under `prefix`, sorted by key (UTF-8 byte order, as S3)."""
        self.get_bucket(bucket)
        after = None
        while True:
            page = self.list_page(bucket, prefix=prefix, marker=after or "", max_keys=_LIST_BATCH)
            yield from page.objects
            if not page.is_truncated:
                return
            after = page.last

    def list_page(self, bucket: str, *, prefix: str = "", delimiter: str = "", marker: str = "",
                  max_keys: int = 1000) -> ListPage:
        """One page of ListObjects: keys after `marker` under `prefix`, keys sharing a prefix up to the
        next `delimiter` rolled up into common prefixes (each counts once towards `max_keys`)."""
        self.get_bucket(bucket)
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        if max_keys <= 0:
            return ListPage(objects, prefixes, False, None)
        lower, inclusive = (marker, False) if marker and marker >= prefix else (prefix, True)
        if delimiter and marker.startswith(prefix):
            # A marker that is itself a common prefix means "after everything under it".
            rest = marker[len(prefix):]
            cut = rest.find(delimiter)
            if cut >= 0 and cut + len(delimiter) == len(rest):
                skip = prefix_successor(marker)
                if skip is not None:
                    lower, inclusive = skip, True
        upper = prefix_successor(prefix) if prefix else None
        last: str | None = None
        while True:
            sql = (f"SELECT {OBJECT_COLUMNS} FROM s3_objects WHERE bucket = ? AND key {'>=' if inclusive else '>'} ?"
                   + (" AND key < ?" if upper else "") + " ORDER BY key LIMIT ?")
            params: list = [bucket, lower] + ([upper] if upper else []) + [_LIST_BATCH]
            rows = self.db.query(sql, params)
            jumped = False
            for row in rows:
                key = row["key"]
                if not key.startswith(prefix):
                    return ListPage(objects, prefixes, False, last)
                common = None
                if delimiter:
                    cut = key.find(delimiter, len(prefix))
                    if cut >= 0:
                        common = key[:cut + len(delimiter)]
                        if prefixes and prefixes[-1] == common:  # only without a successor jump
                            lower, inclusive = key, False
                            continue
                if len(objects) + len(prefixes) == max_keys:
                    return ListPage(objects, prefixes, True, last)
                if common is not None:
                    prefixes.append(common)
                    last = common
                    skip = prefix_successor(common)
                    if skip is None:  # pathological delimiter: walk past the prefix row by row
                        lower, inclusive = key, False
                        continue
                    lower, inclusive, jumped = skip, True, True
                    break
                objects.append(object_from_row(row, self.blobs_dir))
                last = key
                lower, inclusive = key, False
            if not jumped and len(rows) < _LIST_BATCH:
                return ListPage(objects, prefixes, False, last)
