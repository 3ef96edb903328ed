"""One S3 request, addressed: which bucket and key it is for (path-style `/bucket/key` or
virtual-host `bucket.localhost`), its query and headers, and the request id echoed in errors."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import anyio
from starlette.requests import Request

from emulator.core.objectstore import ObjectStore, S3Error

# <bucket>.localhost, <bucket>.s3.localhost, <bucket>.s3[.-]<region>.amazonaws.com
_VHOST = re.compile(r"^(?P<bucket>[a-z0-9][a-z0-9.-]*?)\.(?:s3\.localhost|localhost|"
                    r"s3(?:[.-][a-z0-9-]+)?\.amazonaws\.com(?:\.cn)?)$")


def bucket_from_host(host: str) -> str | None:
    host = host.strip().lower()
    if host.startswith("["):  # IPv6 literal
        return None
    host = host.rsplit(":", 1)[0] if ":" in host else host
    match = _VHOST.match(host)
    if not match or match.group("bucket") == "s3":
        return None
    return match.group("bucket")


@dataclass
class S3Request:
    request: Request
    services: Any
    bucket: str | None
    key: str | None
    query: dict[str, str]
    virtual_host: bool = False  # the bucket came from the Host header
    request_id: str = field(default_factory=lambda: uuid.uuid4().hex[:16].upper())

    @property
    def method(self) -> str:
        return self.request.method

    @property
    def headers(self):
        return self.request.headers

    @property
    def store(self) -> ObjectStore:
        return self.services.objects

    @property
    def account_id(self) -> str:
        return self.services.settings.account_id

    @property
    def owner_id(self) -> str:
        """A stable 64-hex canonical user id for the emulator's account."""
        return hashlib.sha256(self.account_id.encode()).hexdigest()

    @property
    def region(self) -> str:
        return self.services.settings.region

    @classmethod
    def from_request(cls, request: Request, services: Any) -> S3Request:
        raw = request.scope.get("raw_path") or request.scope["path"].encode("utf-8")
        raw = raw.split(b"?", 1)[0]
        try:
            path = unquote_to_bytes(raw).decode("utf-8")
        except UnicodeDecodeError:
            raise S3Error("InvalidURI") from None
        query = dict(parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True))
        virtual = bucket_from_host(request.headers.get("host", ""))
        path = path.removeprefix("/")
        if virtual:
            bucket, key = virtual, path
        else:
            bucket, _, key = path.partition("/")
        return cls(request, services, bucket or None, key or None, query, virtual_host=bool(virtual))


async def in_thread(func, *args, **kwargs):
    """Run blocking store work (fsync, SQLite write transactions, big copies) off the event loop."""
    return await anyio.to_thread.run_sync(lambda: func(*args, **kwargs))
