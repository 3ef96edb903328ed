"""Who may talk to the server at all, decided before any routing (an ASGI middleware).

The emulator listens on loopback, but a web page in the user's browser can still send requests to
loopback: directly (a cross-site form POST or fetch) or through DNS rebinding (the attacker's host
name re-resolved to 127.0.0.1, so the page is "same-origin" with the emulator). So:

- the Host header must name this server: a loopback name, `*.localhost` (S3 virtual-host buckets), an
  IP literal (a rebinding attack needs a host name), the configured bind host, or a name listed in
  SAGEMAKER_EMULATOR_ALLOWED_HOSTS;
- a request whose `Origin` is another origin (or `null`) is refused: AWS SDKs and the CLI send no
  Origin, and the console's own pages are same-origin; fetch metadata saying another site sent a
  request is refused too, except a plain navigation to a page;
- a state-changing /_emulator call must be one a browser cannot send cross-site without a CORS
  preflight (which is never granted): a JSON content type or a custom `X-` header, or a same-origin
  `Origin`. A `text/plain` form POST to /_emulator/reset no longer wipes the emulator.

AWS API calls must in addition be signed (emulator.aws.signing), which no cross-site page can do.
"""

from __future__ import annotations

import ipaddress
import json
from urllib.parse import urlsplit

from emulator.config import Settings

LOOPBACK_NAMES = ("localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
# The content types a cross-site form may send without a preflight (Fetch standard, CORS-safelisted).
SIMPLE_CONTENT_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data", "text/plain", "")


def host_name(host: str) -> str:
    """`example.com:7070` -> `example.com`; `[::1]:7070` -> `::1`."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        return host.split(":", 1)[0]
    return host


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return False


class AccessPolicy:
    def __init__(self, settings: Settings) -> None:
        names = set(LOOPBACK_NAMES) | {n for n in settings.allowed_hosts if not n.startswith("*.")}
        if settings.host not in ("0.0.0.0", "::", ""):
            names.add(host_name(settings.host))
        if settings.container_endpoint:  # e.g. http://host.docker.internal:7070 for jobs
            names.add(host_name(urlsplit(settings.container_endpoint).netloc))
        self.names = frozenset(names)
        # `*.example.com` entries allow every subdomain (S3 virtual-host buckets under a custom name).
        self.suffixes = (".localhost",) + tuple(n[1:] for n in settings.allowed_hosts if n.startswith("*."))

    def host_allowed(self, host: str | None) -> bool:
        if host is None:
            return True  # HTTP/1.0 without Host: not a browser
        name = host_name(host).rstrip(".")
        return name in self.names or name.endswith(self.suffixes) or _is_ip(name)

    def refusal(self, method: str, path: str, headers: dict[str, str]) -> str | None:
        """Why the request is refused, or None."""
        host = headers.get("host")
        if not self.host_allowed(host):
            return (f"Host '{host}' is not this emulator's (DNS rebinding protection); add it to "
                    "SAGEMAKER_EMULATOR_ALLOWED_HOSTS to serve it.")
        origin = headers.get("origin")
        if origin is not None and not _same_origin(origin, host):
            return f"Requests from another origin ({origin}) are not accepted."
        site = headers.get("sec-fetch-site")
        if site in ("cross-site", "same-site") and not (
                method in ("GET", "HEAD") and headers.get("sec-fetch-mode") == "navigate"):
            return "Requests sent by another site's pages are not accepted."
        if path.startswith("/_emulator") and method not in SAFE_METHODS and origin is None and _simple(headers):
            return ("CSRF protection: a state-changing /_emulator request needs a JSON content type or a custom X- "
                    "header such as the console's X-CSRF-Token (a browser cannot send either cross-site).")
        return None


def _same_origin(origin: str, host: str | None) -> bool:
    if not host or origin == "null":
        return False
    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return False
    default = "443" if parts.scheme == "https" else "80"
    return _with_port(parts.netloc, default) == _with_port(host, default)


def _with_port(netloc: str, default: str) -> str:
    netloc = netloc.strip().lower()
    if netloc.startswith("["):
        end = netloc.find("]")
        return netloc if netloc[end + 1:end + 2] == ":" else f"{netloc}:{default}"
    return netloc if ":" in netloc else f"{netloc}:{default}"


def _simple(headers: dict[str, str]) -> bool:
    """Could a cross-site page send these headers without a CORS preflight?"""
    if any(name.startswith("x-") for name in headers):
        return False
    content_type = headers.get("content-type", "").split(";", 1)[0].strip().lower()
    return content_type in SIMPLE_CONTENT_TYPES


class AccessGuard:
    """ASGI middleware applying AccessPolicy to every HTTP request."""

    def __init__(self, app, settings: Settings) -> None:
        self.app = app
        self.policy = AccessPolicy(settings)

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] == "http":
            headers: dict[str, str] = {}
            reason = None
            for raw_name, raw_value in scope["headers"]:
                name = raw_name.decode("latin-1")
                if name in headers and name in ("host", "origin"):
                    reason = f"More than one {name.title()} header."
                headers.setdefault(name, raw_value.decode("latin-1"))
            reason = reason or self.policy.refusal(scope["method"], scope["path"], headers)
            if reason is not None:
                await _refuse(send, reason)
                return
        await self.app(scope, receive, send)


async def _refuse(send, reason: str) -> None:
    body = json.dumps({"__type": "AccessDeniedException", "message": reason, "Message": reason}).encode()
    await send({"type": "http.response.start", "status": 403, "headers": [
        (b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
        (b"x-amzn-errortype", b"AccessDeniedException"), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
