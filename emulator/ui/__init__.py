"""The web console at /_emulator/ui/: server-rendered pages (Jinja2), SVG drawn in Python, one
vendored htmx file for live updates. Nothing is loaded from the network and there is no JS build.

Requests reach it through the server's one dispatch path (`routing.classify` sends /_emulator/* to
the emulator), so whatever that path enforces applies here too. The console is read-mostly; its
few writes (stop, retry, approve) are POSTs that must carry the page's CSRF token in the
`X-CSRF-Token` header, which htmx adds to every request it sends from a console page: a header a
cross-site form cannot set, compared in constant time with a secret that only same-origin pages see.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import mimetypes
import secrets
from functools import cache
from importlib import resources
from urllib.parse import parse_qsl

from jinja2 import ChainableUndefined, Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from emulator.aws.errors import AwsError
from emulator.core.services import Services
from emulator.ui import format as fmt
from emulator.ui.pages import NAV, PREFIX, Ctx, Html, NotFound, link, match, s3_url, url

log = logging.getLogger(__name__)

CSRF_HEADER = "x-csrf-token"
MAX_FORM_BYTES = 64 * 1024
_CSRF_TOKEN = secrets.token_urlsafe(32)  # per server process; pages embed it
SECURITY_HEADERS = {
    # Only the console's own files: no inline script or style, no frames, no other origin.
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                               "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@cache
def environment() -> Environment:
    from emulator.ui import views  # noqa: F401 - registers the pages
    env = Environment(loader=PackageLoader("emulator.ui", "templates"), autoescape=select_autoescape(default=True),
                      undefined=ChainableUndefined, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(url=url, link=link, s3_url=s3_url, nav=NAV, prefix=PREFIX, static=static_url, fmt=fmt)
    env.filters.update(when=fmt.when, duration=fmt.duration, number=fmt.number, pretty=fmt.pretty)
    return env


@cache
def _static_file(name: str) -> tuple[bytes, str] | None:
    """A file of the package's static/ folder and a short hash of its bytes (None if not one)."""
    if not name or name.startswith("/") or ".." in name.split("/"):
        return None
    node = resources.files("emulator.ui").joinpath("static", *name.split("/"))
    if not node.is_file():
        return None
    data = node.read_bytes()
    return data, hashlib.sha256(data).hexdigest()[:12]


def static_url(name: str) -> str:
    found = _static_file(name)
    return f"{PREFIX}/static/{name}" + (f"?v={found[1]}" if found else "")


def _static(name: str) -> Response:
    found = _static_file(name)
    if found is None or name.endswith(".md"):
        return Response("not found", status_code=404, media_type="text/plain")
    data, digest = found
    media = mimetypes.guess_type(name)[0] or "application/octet-stream"
    # URLs carry the content hash, so a file can be cached for good.
    return Response(data, media_type=media, headers={"Cache-Control": "public, max-age=31536000, immutable",
                                                     "ETag": f'"{digest}"', **SECURITY_HEADERS})


def render(template: str, context: dict, status: int = 200) -> HTMLResponse:
    body = environment().get_template(template).render(csrf=_CSRF_TOKEN, **context)
    return HTMLResponse(body, status_code=status, headers={"Cache-Control": "no-store", **SECURITY_HEADERS})


def _not_found(message: str) -> HTMLResponse:
    return render("not_found.html", {"message": message, "section": ""}, 404)


async def handle(request: Request, services: Services) -> Response:
    path = request.url.path[len(PREFIX):]
    if path == "":
        return RedirectResponse(PREFIX + "/", status_code=308)
    if path.startswith("/static/") and request.method in ("GET", "HEAD"):
        return _static(path[len("/static/"):])
    environment()  # registers the pages on first use
    route, params, other_method = match(request.method, path)
    if route is None:
        if other_method:
            return Response("method not allowed", status_code=405, media_type="text/plain")
        return await run_in_threadpool(_not_found, f"There is no console page at {request.url.path}.")
    form: dict[str, str] = {}
    if request.method == "POST":
        if not hmac.compare_digest(request.headers.get(CSRF_HEADER, ""), _CSRF_TOKEN):
            return Response("Missing or stale CSRF token: reload the console page and try again.",
                            status_code=403, media_type="text/plain")
        body = await request.body()
        if len(body) > MAX_FORM_BYTES:
            return Response("form too large", status_code=413, media_type="text/plain")
        form = dict(parse_qsl(body.decode(errors="replace"), keep_blank_values=True))
    ctx = Ctx(services, request.query_params, form, _CSRF_TOKEN)
    return await run_in_threadpool(_run, route.view, ctx, params)


def _run(view, ctx: Ctx, params: dict) -> Response:
    try:
        result = view(ctx, **params)
    except NotFound as missing:
        return _not_found(str(missing))
    except AwsError as err:  # a write the core refused (e.g. retrying a running execution)
        return render("message.html", {"kind": "error", "message": err.message}, err.status)
    if isinstance(result, Html):
        return render(result.template, result.context, result.status)
    return result
