"""Routing's outgoing service client wired to the real in-process intake and scoring apps."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from services.settings import common_settings


class Refused(httpx.AsyncBaseTransport):
    """Sends every request to a local port nothing listens on: a service that is down."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(host="127.0.0.1", port=self.port)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


@asynccontextmanager
async def routing_calls(
    *,
    intake: httpx.AsyncBaseTransport | None = None,
    scoring: httpx.AsyncBaseTransport | None = None,
) -> AsyncIterator[None]:
    """Routing's outgoing client reaches the in-process intake and scoring apps at the URLs of
    the settings (or, when given, through ``intake`` / ``scoring`` instead)."""
    from intake_service.app import app as intake_app
    from routing_service.app import app as routing_app
    from scoring_service.app import app as scoring_app

    settings = common_settings()
    saved = routing_app.state.http
    routing_app.state.http = httpx.AsyncClient(
        transport=Refused(),  # anything else: nobody there
        mounts={
            settings.intake_url: intake or httpx.ASGITransport(app=intake_app),
            settings.scoring_url: scoring or httpx.ASGITransport(app=scoring_app),
        },
    )
    try:
        yield
    finally:
        await routing_app.state.http.aclose()
        routing_app.state.http = saved
