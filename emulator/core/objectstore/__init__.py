"""The S3 object store: bytes in immutable blob files under settings.objects_dir, metadata in SQLite.

Used by the S3 API and, directly (never through HTTP), by job staging and pipelines."""

from emulator.core.objectstore.errors import S3Error
from emulator.core.objectstore.records import BucketInfo, CompletedPart, ObjectInfo, PartInfo, UploadInfo
from emulator.core.objectstore.store import ListPage, ObjectStore, valid_bucket_name
from emulator.core.objectstore.uris import S3UriError, parse_s3_uri

__all__ = ["BucketInfo", "CompletedPart", "ListPage", "ObjectInfo", "ObjectStore", "PartInfo", "S3Error",
           "S3UriError", "UploadInfo", "parse_s3_uri", "valid_bucket_name"]
