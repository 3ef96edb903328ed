"""S3's REST-XML bodies: tiny string builders for responses, a namespace-blind parser for requests."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape

from starlette.responses import Response

from emulator.core.objectstore import S3Error

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
XML_TYPE = "application/xml"


def iso(epoch: float) -> str:
    """S3's XML timestamp: 2024-05-01T12:00:00.123Z."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(epoch)) + f".{int(epoch * 1000) % 1000:03d}Z"


def text(name: str, value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def node(name: str, *children: str) -> str:
    return f"<{name}>{''.join(children)}</{name}>"


def document(root: str, *children: str, namespace: bool = True) -> bytes:
    attrs = f' xmlns="{NS}"' if namespace else ""
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n<{root}{attrs}>{"".join(children)}</{root}>').encode()


def xml_response(root: str, *children: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(document(root, *children), status_code=status, media_type=XML_TYPE, headers=headers)


def parse(body: bytes) -> ET.Element:
    """Parse a request document, dropping namespaces from tag names; MalformedXML if it isn't XML."""
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        raise S3Error("MalformedXML") from None
    for elem in root.iter():
        if isinstance(elem.tag, str) and "}" in elem.tag:
            elem.tag = elem.tag.split("}", 1)[1]
    return root


def child_text(elem: ET.Element, name: str) -> str | None:
    found = elem.find(name)
    return None if found is None else (found.text or "")
