"""Blob files: written once under `tmp/`, made durable, then renamed into `blobs/` and never changed.

A blob's name is a random uuid (fanned out over 256 directories), never derived from the key, so no
key can address a path outside the store and a crashed upload leaves only an unreferenced temp file.
"""

from __future__ import annotations

import errno
import hashlib
import os
import shutil
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol

COPY_CHUNK = 1 << 20


class _Updatable(Protocol):
    def update(self, data: bytes | memoryview, /) -> None: ...


class _Closed:
    closed = True

    def close(self) -> None:
        pass


_CLOSED = _Closed()


def new_blob_name() -> str:
    name = uuid.uuid4().hex
    return f"{name[:2]}/{name}"


class StagedBlob:
    """A file being written in the store's tmp dir. `write()` appends; `seal()` makes it durable."""

    def __init__(self, tmp_dir: Path, *, fsync: bool = True) -> None:
        self.name = new_blob_name()
        self.path = tmp_dir / self.name.replace("/", "-")
        self.size = 0
        self._fsync = fsync
        self._file = open(self.path, "xb", buffering=0)  # noqa: SIM115 - closed by seal/discard

    @classmethod
    def adopt(cls, tmp_dir: Path, src: Path, *, fsync: bool = True) -> StagedBlob:
        """Take over an existing file by renaming it into tmp (same filesystem only: raises OSError)."""
        staged = cls.__new__(cls)
        staged.name = new_blob_name()
        staged.path = tmp_dir / staged.name.replace("/", "-")
        staged._fsync = fsync
        os.rename(src, staged.path)
        staged.size = staged.path.stat().st_size
        staged._file = None
        return staged

    def write(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]
        self.size += len(data)

    def append_file(self, src: Path, offset: int = 0, length: int | None = None,
                    hashers: Iterable[_Updatable] = ()) -> None:
        """Append `length` bytes of `src` from `offset`. Without hashers the kernel copies the bytes
        (copy_file_range: no trip through Python, a reflink on filesystems that support it)."""
        hashers = list(hashers)
        with open(src, "rb", buffering=0) as source:
            if length is None:
                length = os.fstat(source.fileno()).st_size - offset
            if not hashers and _kernel_copy(source.fileno(), self._file.fileno(), offset, length):
                self.size += length
                return
            source.seek(offset)
            remaining = length
            while remaining > 0:
                chunk = source.read(min(COPY_CHUNK, remaining))
                if not chunk:
                    raise OSError(errno.EIO, f"{src} is shorter than expected")
                for hasher in hashers:
                    hasher.update(chunk)
                self.write(chunk)
                remaining -= len(chunk)

    def seal(self) -> None:
        """Make the bytes durable and the file read-only (blobs are hard-linked into job containers:
        the mode bits are shared with every link, so a non-root writer there cannot alter the store)."""
        if self._file is not None and self._file.closed:
            return
        # An adopted file may already be read-only: reach it through a read-only descriptor.
        fd = self._file.fileno() if self._file is not None else os.open(self.path, os.O_RDONLY)
        try:
            if self._fsync:
                os.fdatasync(fd)
            os.fchmod(fd, 0o444)
        finally:
            if self._file is not None:
                self._file.close()
            else:
                os.close(fd)
                self._file = _CLOSED

    def discard(self) -> None:
        if self._file is not None and not self._file.closed:
            self._file.close()
        self.path.unlink(missing_ok=True)


def _kernel_copy(src_fd: int, dst_fd: int, offset: int, length: int) -> bool:
    """Copy with copy_file_range; False (nothing written) when the kernel/filesystem cannot."""
    if not hasattr(os, "copy_file_range"):
        return False
    done = 0
    try:
        while done < length:
            n = os.copy_file_range(src_fd, dst_fd, length - done, offset + done)
            if n == 0:
                raise OSError(errno.EIO, "source file ended early")
            done += n
    except OSError as exc:
        if done == 0 and exc.errno in (errno.EXDEV, errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP,
                                       errno.EPERM):
            return False
        raise
    return True


def hash_file(path: Path, hashers: Iterable[_Updatable]) -> int:
    hashers = list(hashers)
    size = 0
    with open(path, "rb", buffering=0) as source:
        while chunk := source.read(COPY_CHUNK):
            size += len(chunk)
            for hasher in hashers:
                hasher.update(chunk)
    return size


def md5() -> hashlib._Hash:
    return hashlib.md5(usedforsecurity=False)


def remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)
