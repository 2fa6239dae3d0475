"""The JSON response every hand-built answer uses (idempotent writes, errors, replays).

Starlette's ``JSONResponse`` renders with the standard library's ``json``; orjson gives the
same compact UTF-8 text (Chinese unescaped, as ``ensure_ascii=False`` does) several times faster,
and knows UUIDs and datetimes.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import JSONResponse as _StarletteJSONResponse
from starlette.responses import Response

from services.headers import LOCATION

__all__ = ["JSONResponse", "resource_path", "set_location"]


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


def resource_path(request: Request, route_name: str, **path_params: Any) -> str:
    """The path of the resource another route serves (``route_name`` is that endpoint
    function's name), for a ``Location`` header: a path, so that it stays right behind a proxy
    that rewrites the host (RFC 9110 §10.2.2 allows a relative reference)."""
    params = {name: str(value) for name, value in path_params.items()}
    return str(request.app.url_path_for(route_name, **params))


def set_location(response: Response, request: Request, route_name: str, **path_params: Any) -> None:
    """``201 Created`` names what it created: ``Location`` is the path of ``route_name``."""
    response.headers[LOCATION] = resource_path(request, route_name, **path_params)
