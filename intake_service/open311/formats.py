"""JSON and XML output as GeoReport v2 prescribes.

The JSON form follows the Spark convention from the XML: a list becomes a wrapper element with
one child per item (``services``/``service``, ``service_requests``/``request``...). Fields with
no value are left out in both formats: the spec marks them "may not be returned", and the
published OpenAPI description types them as non-nullable strings.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Any, Final
from xml.etree import ElementTree

import orjson
from fastapi import Request
from fastapi.responses import Response

from shared.schemas.base import rfc3339

JSON_MEDIA_TYPE: Final = "application/json; charset=utf-8"
XML_MEDIA_TYPE: Final = "text/xml; charset=utf-8"
XML_DECLARATION: Final = b'<?xml version="1.0" encoding="utf-8"?>\n'

# Wrapper element -> item element.
_ITEM_TAGS: Final = {
    "services": "service",
    "service_requests": "request",
    "errors": "error",
    "attributes": "attribute",
    "values": "value",
    "endpoints": "endpoint",
    "formats": "format",
}
# Characters XML 1.0 cannot carry at all (even escaped).
_XML_INVALID: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


class Format(StrEnum):
    json = "json"
    xml = "xml"

    @property
    def media_type(self) -> str:
        return JSON_MEDIA_TYPE if self is Format.json else XML_MEDIA_TYPE


def parse_format(value: str | None) -> Format | None:
    try:
        return Format(value) if value is not None else None
    except ValueError:
        return None


def format_for_errors(request: Request) -> Format:
    """The format an error is rendered in: the one the URL asks for when it names one we
    support, else JSON if the client prefers it, else XML (the spec's required format)."""
    requested = parse_format(request.path_params.get("fmt"))
    if requested is not None:
        return requested
    path = request.url.path.lower()
    for fmt in Format:
        if path.endswith(f".{fmt.value}"):
            return fmt
    if "json" in request.headers.get("accept", "").lower():
        return Format.json
    return Format.xml


def w3_datetime(value: datetime | None) -> str | None:
    """The spec's w3 format, in UTC with ``Z`` like every instant the APIs write
    (``2026-05-01T01:30:00Z``)."""
    if value is None:
        return None
    return rfc3339(value.replace(microsecond=0))


def prune(value: Any) -> Any:
    """Drop ``None`` fields, recursively."""
    if isinstance(value, dict):
        return {key: prune(item) for key, item in value.items() if item is not None}
    if isinstance(value, list):
        return [prune(item) for item in value if item is not None]
    return value


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return _XML_INVALID.sub("", str(value))


def _fill(element: ElementTree.Element, value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if item is not None:
                _fill(ElementTree.SubElement(element, key), item)
    elif isinstance(value, list):
        item_tag = _ITEM_TAGS.get(element.tag, "item")
        for item in value:
            if item is not None:
                _fill(ElementTree.SubElement(element, item_tag), item)
    else:
        element.text = _text(value)


def to_xml(root: str, value: Any) -> bytes:
    element = ElementTree.Element(root)
    _fill(element, value)
    ElementTree.indent(element)
    return XML_DECLARATION + ElementTree.tostring(element, encoding="unicode").encode() + b"\n"


def to_json(value: Any) -> bytes:
    return orjson.dumps(prune(value))


def render(
    fmt: Format,
    root: str,
    value: Any,
    *,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    """``root`` names the XML root element (``services``, ``service_requests``...)."""
    body = to_json(value) if fmt is Format.json else to_xml(root, value)
    return Response(body, status_code=status_code, media_type=fmt.media_type, headers=headers)
