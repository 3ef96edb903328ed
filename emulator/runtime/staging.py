"""Moving data between the object store and a job's /opt/ml, without HTTP.

Inputs come straight from the object store's blob files: large channels are hard-linked into a
directory that is bind-mounted read-only (the container cannot alter the stored object through the
link); small ones are copied so scripts may write next to them (FrameworkProcessor's runproc.sh
untars its code in place). Outputs are tarred or walked and stored with put_object_from_path.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.core.objectstore import S3UriError, parse_s3_uri
from emulator.core.services import Services

# At or below this total size an input is copied (writable); above it is hard-linked read-only.
COPY_LIMIT_BYTES = 64 * 1024 * 1024


class StagingError(Exception):
    """A client-side problem with the job's data (missing bucket/object, bad manifest)."""


def s3_location(uri: str) -> tuple[str, str]:
    """(bucket, key) of a job's S3 URI; a malformed one is the client's mistake."""
    try:
        return parse_s3_uri(uri)
    except S3UriError as exc:
        raise StagingError(str(exc)) from None


@dataclass
class StagedInput:
    host_dir: Path          # directory on the host holding the files
    read_only: bool         # mount read-only (hard links into the object store)


def list_source_objects(services: Services, uri: str, data_type: str = "S3Prefix") -> list[tuple[str, Any]]:
    """[(relative path, ObjectInfo)] for an S3Prefix or ManifestFile data source."""
    bucket, key = s3_location(uri)
    store = services.objects
    if not store.bucket_exists(bucket):
        raise StagingError(f"The specified bucket does not exist: {bucket} (from {uri})")
    if data_type == "ManifestFile":
        return _manifest_objects(services, bucket, key, uri)
    if data_type == "AugmentedManifestFile":
        raise StagingError("AugmentedManifestFile inputs are not supported by the emulator yet.")
    exact = store.head_object(bucket, key) if key else None
    if exact is not None and not key.endswith("/"):
        return [(os.path.basename(key), exact)]
    out = []
    for info in store.list_objects(bucket, key):
        if info.key.endswith("/"):
            continue  # "folder" marker objects
        rel = info.key[len(key):].lstrip("/")
        if rel:
            out.append((rel, info))
    if not out:
        raise StagingError(f"No S3 objects found under S3 URL \"{uri}\" given in input data source. Please "
                           "ensure that the bucket exists in the selected region, that objects exist under that "
                           "S3 prefix, and that the role has access.")
    return out


def _manifest_objects(services: Services, bucket: str, key: str, uri: str) -> list[tuple[str, Any]]:
    store = services.objects
    if store.head_object(bucket, key) is None:
        raise StagingError(f"Could not find manifest file {uri}")
    with store.open_object(bucket, key) as f:
        try:
            manifest = json.load(f)
            prefix_uri = manifest[0]["prefix"]
        except (ValueError, KeyError, IndexError, TypeError):
            raise StagingError(f"Manifest file {uri} is not a valid manifest.") from None
    p_bucket, p_key = s3_location(prefix_uri)
    out = []
    for rel in manifest[1:]:
        info = store.head_object(p_bucket, p_key + rel)
        if info is None:
            raise StagingError(f"Object s3://{p_bucket}/{p_key}{rel} listed in manifest {uri} does not exist.")
        out.append((rel, info))
    return out


def shard(objects: list[tuple[str, Any]], distribution: str, host_index: int, host_count: int) -> list:
    """ShardedByS3Key gives each host a disjoint 1/N of the objects; FullyReplicated gives all."""
    if distribution != "ShardedByS3Key" or host_count <= 1:
        return objects
    ordered = sorted(objects, key=lambda item: item[1].key)
    return ordered[host_index::host_count]


def materialise(services: Services, objects: list[tuple[str, Any]], dest: Path) -> StagedInput:
    dest.mkdir(parents=True, exist_ok=True)
    total = sum(info.size for _, info in objects)
    link = total > COPY_LIMIT_BYTES
    for rel, info in objects:
        target = _safe_join(dest, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        source = services.objects.object_path(info.bucket, info.key)
        if link:
            try:
                os.link(source, target)
                continue
            except OSError:
                pass  # a different filesystem: fall back to a copy
        shutil.copyfile(source, target)
    return StagedInput(dest, read_only=link)


def _safe_join(root: Path, rel: str) -> Path:
    """S3 keys are opaque; never let `../` in a key escape the job directory."""
    parts = [p for p in rel.split("/") if p not in ("", ".", "..")]
    return root.joinpath(*parts) if parts else root / "_"


def file_uri_path(uri: str) -> Path:
    path = Path(uri[len("file://"):])
    if not path.exists():
        raise StagingError(f"Local input {uri} does not exist.")
    return path


# --- outputs --------------------------------------------------------------------------------

def tar_directories(dirs: list[Path], archive: Path) -> None:
    """One tar.gz of the contents of several directories (multi-host outputs are merged, later
    hosts overwriting earlier ones' files of the same name, as AWS documents)."""
    seen: dict[str, Path] = {}
    for directory in dirs:
        if directory.is_dir():
            for path in sorted(directory.rglob("*")):
                if path.is_file() and not path.is_symlink():
                    seen[path.relative_to(directory).as_posix()] = path
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for rel, path in sorted(seen.items()):
            tar.add(path, arcname=rel, recursive=False)


def upload_file(services: Services, path: Path, uri: str, content_type: str | None = None) -> None:
    bucket, key = s3_location(uri)
    if not services.objects.bucket_exists(bucket):
        raise StagingError(f"The output bucket {bucket} does not exist.")
    services.objects.put_object_from_path(bucket, key, path, content_type=content_type)


def upload_tree(services: Services, directory: Path, uri: str, *, copy: bool = False) -> int:
    """Store every regular file under `directory` at `uri/<relative path>` (symlinks skipped, as AWS)."""
    bucket, prefix = s3_location(uri)
    if not services.objects.bucket_exists(bucket):
        raise StagingError(f"The output bucket {bucket} does not exist.")
    prefix = prefix.rstrip("/")
    count = 0
    if not directory.is_dir():
        return 0
    for path in sorted(directory.rglob("*")):
        if path.is_file() and not path.is_symlink():
            rel = path.relative_to(directory).as_posix()
            key = f"{prefix}/{rel}" if prefix else rel
            # The store adopts the file; hand it a copy when the container may still be writing.
            services.objects.put_object_from_path(bucket, key, _private_copy(path) if copy else path)
            count += 1
    return count


def _private_copy(path: Path) -> Path:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    os.close(fd)
    shutil.copyfile(path, tmp)
    return Path(tmp)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
