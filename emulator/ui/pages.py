"""The console's page registry: each page is one view function registered under a path (Starlette
path syntax) and, if it belongs in the navigation bar, one nav entry. Adding a page (say Endpoints)
is one template plus one `@page` function in a views module.

A view receives a `Ctx` and the path parameters and returns `Html` (a template and its context),
or a Starlette `Response` for downloads. Views run in a worker thread: they read SQLite directly.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode

from starlette.datastructures import QueryParams
from starlette.routing import compile_path

from emulator.core.services import Services

PREFIX = "/_emulator/ui"


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    regex: re.Pattern
    convertors: dict[str, Any]
    view: Callable[..., Any]


@dataclass(frozen=True)
class NavEntry:
    label: str
    path: str          # under PREFIX
    section: str       # the first path segment that marks this entry active
    order: int


ROUTES: list[Route] = []
NAV: list[NavEntry] = []


def page(path: str, method: str = "GET", nav: str | None = None, order: int = 0):
    """Register a view for `path` (relative to PREFIX); `nav` adds a navigation entry with that label,
    placed by `order` (left to right)."""
    def register(view: Callable[..., Any]) -> Callable[..., Any]:
        regex, _, convertors = compile_path(path)
        ROUTES.append(Route(method, path, regex, convertors, view))
        if nav:
            NAV.append(NavEntry(nav, path, path.strip("/").split("/")[0], order))
            NAV.sort(key=lambda entry: entry.order)
        return view
    return register


def match(method: str, path: str) -> tuple[Route | None, dict[str, Any], bool]:
    """The route for a request, its parameters, and whether the path exists under another method."""
    other_method = False
    for route in ROUTES:
        found = route.regex.match(path)
        if found is None:
            continue
        if route.method != method:
            other_method = True
            continue
        params = {k: route.convertors[k].convert(v) for k, v in found.groupdict().items()}
        return route, params, False
    return None, {}, other_method


@dataclass
class Ctx:
    services: Services
    query: QueryParams
    form: dict[str, str] = field(default_factory=dict)
    csrf: str = ""

    @property
    def region(self) -> str:
        return self.services.settings.region

    def arg(self, name: str, default: str = "") -> str:
        return self.query.get(name, default)

    def int_arg(self, name: str, default: int = 0) -> int:
        try:
            return max(0, int(self.query.get(name, default)))
        except ValueError:
            return default


@dataclass
class Html:
    template: str
    context: dict[str, Any]
    status: int = 200


class NotFound(Exception):
    """The resource a page is about does not exist: the 404 page shows this message."""


def url(*segments: Any, **query: Any) -> str:
    """A console URL: each segment percent-quoted, query parameters appended (None values dropped)."""
    return link(PREFIX + "/" + "/".join(quote(str(s), safe="") for s in segments), query)


def link(base: str, args: dict[str, Any], **extra: Any) -> str:
    """`base` with the current filters `args` and `extra` (e.g. the next page's offset) as its query."""
    pairs = [(k, v) for k, v in {**args, **extra}.items() if v is not None and v != ""]
    return base + ("?" + urlencode(pairs, doseq=True) if pairs else "")


def s3_url(uri: str | None) -> str | None:
    """The console route that downloads an object or lists a prefix of the emulator's S3."""
    if not uri or not uri.startswith("s3://"):
        return None
    bucket, _, key = uri[5:].partition("/")
    return PREFIX + "/s3/" + quote(bucket, safe="") + "/" + quote(key, safe="/")
