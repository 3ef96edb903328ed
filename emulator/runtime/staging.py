"""Moving data between the object store and a job's /opt/ml, without HTTP.

Inputs come straight from the object store's blob files: large channels are hard-linked into a
directory that is bind-mounted read-only (the container cannot alter the stored object through the
link); small ones are copied so scripts may write next to them (FrameworkProcessor's runproc.sh
untars its code in place). Outputs are tarred or walked and stored with put_object_from_path.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tarfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from emulator.core import file_inputs
from emulator.core.container_paths import relative_to_ml
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


def file_uri_path(uri: str, roots: list[Path], sockets: list[str]) -> Path:
    """The host folder a file:// input mounts, checked again at staging (it may have changed since Create)."""
    try:
        return file_inputs.resolve(uri, roots, must_exist=True, sockets=sockets)
    except file_inputs.FileInputRefused as refused:
        raise StagingError(str(refused)) from None


def host_path(ml: Path, container_path: str) -> Path:
    """Where a container path under /opt/ml lives in a host's scratch (Create refused any other)."""
    rel = relative_to_ml(container_path)
    if rel is None:
        raise StagingError(f"Local path {container_path} must be under /opt/ml/")
    return ml / rel


# --- outputs ----------------------------------------------------------------------------------
# Everything below reads what a container wrote. The container may have replaced any folder with a
# symbolic link (to /etc, to the user's home, ...), and a link is resolved on the host when the server
# follows it: host files would be uploaded or packed into model.tar.gz, and moved out of place. So
# the scratch is read through file descriptors: each path component is opened relative to its parent
# with O_NOFOLLOW, and only regular files are taken. A link on the way to an output folder fails the
# job (PlantedLink); links inside an output folder are skipped, as S3 has no links to store.

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK


class PlantedLink(StagingError):
    """The job replaced one of its /opt/ml folders with a symbolic link."""


def _open_dir(ml: Path, container_path: str) -> int | None:
    """A descriptor of the container folder (None if it does not exist or is not a folder)."""
    rel = relative_to_ml(container_path) if container_path.startswith("/") else container_path
    if rel is None:
        raise StagingError(f"Local path {container_path} must be under /opt/ml/")
    fd = os.open(ml, _DIR_FLAGS)
    walked = "/opt/ml"
    for part in [p for p in rel.split("/") if p]:
        walked += "/" + part
        try:
            child = os.open(part, _DIR_FLAGS, dir_fd=fd)
        except OSError as exc:
            kind = _lstat_kind(fd, part)
            os.close(fd)
            if kind == "link":
                raise PlantedLink(f"The job replaced {walked} with a symbolic link; the emulator does not follow "
                                  "links out of a job's /opt/ml when it collects outputs.") from None
            if exc.errno in (errno.ENOENT, errno.ENOTDIR):
                return None
            raise
        os.close(fd)
        fd = child
    return fd


def _lstat_kind(dir_fd: int, name: str) -> str | None:
    try:
        mode = os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode
    except OSError:
        return None
    return "link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode) else "other"


def _open_regular(dir_fd: int, name: str) -> int | None:
    """A read descriptor of a regular file (None for a link, a FIFO or anything else)."""
    try:
        fd = os.open(name, _FILE_FLAGS, dir_fd=dir_fd)
    except OSError:
        return None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        return None
    return fd


def _walk(dir_fd: int, prefix: str = "") -> Iterator[tuple[str, int, str]]:
    """(relative path, parent folder fd, name) of every regular file below `dir_fd`, links not followed.
    The parent fd is only valid until the next item."""
    with os.scandir(dir_fd) as entries:
        names = sorted((e.name, e.is_dir(follow_symlinks=False), e.is_file(follow_symlinks=False)) for e in entries)
    for name, is_dir, is_file in names:
        if is_dir:
            try:
                child = os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
            except OSError:
                continue
            try:
                yield from _walk(child, f"{prefix}{name}/")
            finally:
                os.close(child)
        elif is_file:
            yield f"{prefix}{name}", dir_fd, name


def read_text(ml: Path, container_path: str, limit: int = 1024) -> str | None:
    """The first `limit` characters of a file the job wrote (failure and message files)."""
    folder, _, name = container_path.rpartition("/")
    try:
        dir_fd = _open_dir(ml, folder)
    except PlantedLink:
        return None
    if dir_fd is None:
        return None
    try:
        fd = _open_regular(dir_fd, name)
    finally:
        os.close(dir_fd)
    if fd is None:
        return None
    with os.fdopen(fd, "rb") as f:
        return f.read(limit * 4).decode("utf-8", errors="replace").strip()[:limit]


def _files_of(ml: Path, container_path: str) -> Iterator[tuple[str, int, str]]:
    """_walk over a container folder (nothing if it does not exist; PlantedLink if it is a link)."""
    dir_fd = _open_dir(ml, container_path)
    if dir_fd is None:
        return
    try:
        yield from _walk(dir_fd)
    finally:
        os.close(dir_fd)


def has_files(ml: Path, container_path: str) -> bool:
    files = _files_of(ml, container_path)
    try:
        return next(files, None) is not None
    finally:
        files.close()


def tar_directories(sources: list[tuple[Path, str]], archive: Path) -> None:
    """One tar.gz of the regular files of several hosts' container folders, given as (host's /opt/ml
    on the host, container path). Later hosts overwrite earlier ones' files of the same name, as AWS
    documents for multi-host outputs."""
    owners = {rel: index for index, (ml, folder) in enumerate(sources) for rel, _, _ in _files_of(ml, folder)}
    with tarfile.open(archive, "w:gz", compresslevel=6) as tar:
        for index, (ml, folder) in enumerate(sources):
            for rel, parent, name in _files_of(ml, folder):
                fd = _open_regular(parent, name) if owners.get(rel) == index else None
                if fd is None:
                    continue
                with os.fdopen(fd, "rb") as f:
                    info = tar.gettarinfo(arcname=rel, fileobj=f)
                    info.uid = info.gid = 0
                    info.uname = info.gname = ""
                    tar.addfile(info, f)


def upload_file(services: Services, path: Path, uri: str, content_type: str | None = None) -> None:
    bucket, key = s3_location(uri)
    if not services.objects.bucket_exists(bucket):
        raise StagingError(f"The output bucket {bucket} does not exist.")
    services.objects.put_object_from_path(bucket, key, path, content_type=content_type)


def upload_tree(services: Services, ml: Path, container_path: str, uri: str, *, copy: bool = False) -> int:
    """Store every regular file under a container folder at `uri/<relative path>` (links skipped).
    `copy` while the container runs and may still write; afterwards the store adopts a hard link."""
    bucket, prefix = s3_location(uri)
    if not services.objects.bucket_exists(bucket):
        raise StagingError(f"The output bucket {bucket} does not exist.")
    prefix = prefix.rstrip("/")
    count = 0
    for rel, parent, name in _files_of(ml, container_path):
        private = _private_file(services, parent, name, copy=copy)
        if private is None:
            continue
        key = f"{prefix}/{rel}" if prefix else rel
        services.objects.put_object_from_path(bucket, key, private)
        count += 1
    return count


def _private_file(services: Services, dir_fd: int, name: str, *, copy: bool) -> Path | None:
    """The file's bytes under a name only the emulator can reach (the store's tmp dir), for the store
    to adopt: a hard link when the linked inode is provably the regular file we opened, else a copy."""
    fd = _open_regular(dir_fd, name)
    if fd is None:
        return None
    target = services.objects.tmp_dir / f"collect-{uuid.uuid4().hex}"
    try:
        opened = os.fstat(fd)
        if not copy:
            try:
                os.link(name, target, src_dir_fd=dir_fd, follow_symlinks=False)
                linked = os.lstat(target)
                if (linked.st_dev, linked.st_ino) == (opened.st_dev, opened.st_ino):
                    return target
                target.unlink()
            except OSError:
                target.unlink(missing_ok=True)
        with os.fdopen(os.dup(fd), "rb") as src, open(target, "xb") as dst:
            shutil.copyfileobj(src, dst, 1 << 20)
        return target
    finally:
        os.close(fd)


def write_json(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


# --- models (endpoints, batch transform) -------------------------------------------------------

def extract_model(services: Services, uri: str, dest: Path, container: str = "container_1") -> None:
    """A model artifact (`ModelDataUrl`, a .tar.gz in S3) unpacked into `dest` (a serving container's
    /opt/ml/model). Members that would land outside `dest` or are not plain files, folders or links
    inside it are refused (tarfile's `data` filter). Raises StagingError worded as SageMaker's
    FailureReason (inference_and_monitoring.md §1.1; observed in aws/deep-learning-containers#569)."""
    bucket, key = s3_location(uri)
    info = services.objects.head_object(bucket, key) if services.objects.bucket_exists(bucket) else None
    if info is None:
        raise StagingError(f"Could not find model data at {uri}.")
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with services.objects.open_object(bucket, key) as raw, tarfile.open(fileobj=raw, mode="r:*") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError, ValueError) as exc:
        raise StagingError(f'Failed to extract model data archive for container "{container}" from URL "{uri}". '
                           f"Please ensure that the object located at the URL is a valid tar.gz archive. ({exc})") \
            from None


def copy_model_prefix(services: Services, uri: str, dest: Path) -> None:
    """An uncompressed model (`ModelDataSource.S3DataSource`, S3Prefix, CompressionType None) copied into
    `dest` with the keys' folders kept."""
    try:
        objects = list_source_objects(services, uri)
    except StagingError:
        raise StagingError(f"Could not find model data at {uri}.") from None
    dest.mkdir(parents=True, exist_ok=True)
    for rel, info in objects:
        target = _safe_join(dest, rel)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(services.objects.object_path(info.bucket, info.key), target)
