"""GetObject/HeadObject mechanics: conditional requests, byte ranges, response headers, and a response
that streams an open blob file (small bodies in one read, big ones in 1 MiB reads off the event loop)."""

from __future__ import annotations

import email.utils
import os
import re
from typing import BinaryIO

import anyio
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from emulator.api.s3.checksums import response_headers
from emulator.core.objectstore import ObjectInfo, S3Error

INLINE_LIMIT = 4 * 1024 * 1024
READ_CHUNK = 1024 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$")


def http_date(epoch: float) -> str:
    return email.utils.formatdate(int(epoch), usegmt=True)


def _parse_http_date(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError, OverflowError):
        return None  # S3 ignores a date it cannot parse


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/").strip('"') == etag:
            return True
    return False


def check_conditions(headers, info: ObjectInfo, *, prefix: str = "") -> None:
    """RFC 7232 as S3 applies it: If-Match beats If-Unmodified-Since (412), If-None-Match beats
    If-Modified-Since (304 for GET/HEAD). `prefix` selects the x-amz-copy-source-if-* variants, which
    answer 412 for every failed condition."""
    modified = int(info.last_modified)
    not_modified = {"ETag": info.quoted_etag, "Last-Modified": http_date(info.last_modified)}
    if_match = headers.get(f"{prefix}if-match")
    if if_match is not None:
        if not _etag_matches(if_match, info.etag):
            raise S3Error("PreconditionFailed", Condition="If-Match")
    else:
        since = _parse_http_date(headers.get(f"{prefix}if-unmodified-since"))
        if since is not None and modified > since:
            raise S3Error("PreconditionFailed", Condition="If-Unmodified-Since")
    if_none_match = headers.get(f"{prefix}if-none-match")
    if if_none_match is not None:
        if _etag_matches(if_none_match, info.etag):
            if prefix:
                raise S3Error("PreconditionFailed", Condition="If-None-Match")
            error = S3Error("NotModified")
            error.headers.update(not_modified)
            raise error
    else:
        since = _parse_http_date(headers.get(f"{prefix}if-modified-since"))
        if since is not None and modified <= since:
            if prefix:
                raise S3Error("PreconditionFailed", Condition="If-Modified-Since")
            error = S3Error("NotModified")
            error.headers.update(not_modified)
            raise error


def parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """(start, end inclusive) for a single `bytes=` range; None to serve the whole object (no header, a
    syntax S3 ignores, or several ranges); InvalidRange (416) when nothing of the object is selected."""
    if not value:
        return None
    match = _RANGE.match(value)
    if not match:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix: the last N bytes
        length = int(last)
        if length == 0 or size == 0:
            raise S3Error("InvalidRange", RangeRequested=value, ActualObjectSize=size)
        return max(0, size - length), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise S3Error("InvalidRange", RangeRequested=value, ActualObjectSize=size)
    return start, min(end, size - 1)


_RESPONSE_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}


def object_headers(info: ObjectInfo, query: dict[str, str], *, checksum_mode: bool) -> dict[str, str]:
    headers = {
        "Content-Type": info.content_type or "binary/octet-stream",
        "ETag": info.quoted_etag,
        "Last-Modified": http_date(info.last_modified),
        "Accept-Ranges": "bytes",
        "x-amz-server-side-encryption": "AES256",
    }
    headers.update(info.headers)
    for name, value in info.metadata.items():
        headers[f"x-amz-meta-{name}"] = value
    if checksum_mode:
        headers.update(response_headers(info.checksums, info.checksum_type))
    for param, header in _RESPONSE_OVERRIDES.items():
        if param in query:
            headers[header] = query[param]
    return headers


class BlobResponse(Response):
    """Sends `length` bytes of an open file from `offset`, then closes it."""

    def __init__(self, file: BinaryIO | None, offset: int, length: int, status_code: int,
                 headers: dict[str, str], *, head: bool = False) -> None:
        super().__init__(content=None, status_code=status_code,
                         headers={**headers, "Content-Length": str(length)})
        self.file, self.offset, self.length, self.head = file, offset, length, head

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})
            if self.head or self.file is None or self.length == 0:
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            elif self.length <= INLINE_LIMIT:
                # Page-cache reads of a few MiB take microseconds: no thread hop for the common case.
                body = os.pread(self.file.fileno(), self.length, self.offset)
                await send({"type": "http.response.body", "body": body, "more_body": False})
            else:
                await self._stream(receive, send)
        finally:
            if self.file is not None:
                self.file.close()

    async def _stream(self, receive: Receive, send: Send) -> None:
        fd = self.file.fileno()
        async with anyio.create_task_group() as tasks:
            async def watch_disconnect() -> None:
                while (await receive())["type"] != "http.disconnect":
                    pass
                tasks.cancel_scope.cancel()

            tasks.start_soon(watch_disconnect)
            position, end = self.offset, self.offset + self.length
            while position < end:
                chunk = await anyio.to_thread.run_sync(os.pread, fd, min(READ_CHUNK, end - position), position)
                if not chunk:
                    raise OSError(f"blob {self.file.name} is shorter than its record")
                position += len(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": position < end})
            tasks.cancel_scope.cancel()
