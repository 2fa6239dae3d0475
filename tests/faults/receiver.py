"""A department system for fault tests: one endpoint per unit (``/hook/{unit}``), every request
recorded with its signature checked on arrival; it can fail the first attempt of half the
messages, and can be taken down (connection refused) and brought back on the same port."""

from __future__ import annotations

import hashlib
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import uvicorn
from standardwebhooks.webhooks import Webhook
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fixtures.processes import free_port

# Seconds between a delivery's creation and an attempt for it to count as the first attempt.
# A retry comes at least 5 s after the failed attempt; the webhook-timestamp header is whole
# seconds, so a retry always measures more than 4 s.
FIRST_ATTEMPT_WINDOW = 3.9


@dataclass
class Hit:
    unit: str
    message_id: str
    status: int
    signature_ok: bool
    event_type: str
    at: float = field(default_factory=time.monotonic)


def fails_first_attempt(message_id: str) -> bool:
    """Half of the messages, chosen by their id (deterministic, independent of arrival order)."""
    return hashlib.sha256(message_id.encode()).digest()[0] % 2 == 0


@dataclass
class FlakyReceiver:
    """With ``fail_half`` the first attempt of every message for which
    :func:`fails_first_attempt` holds is answered 503: half of the messages need a retry, and
    none needs more than one because of this (a retry after an outage is not a first attempt,
    so it is never failed on purpose). ``down()`` stops the server (connection refused) until
    ``up()``. Signatures are verified on arrival (Standard Webhooks rejects timestamps
    older than five minutes, so checking at the end of a long test would be wrong)."""

    fail_half: bool = False
    port: int = field(default_factory=free_port)
    secrets: dict[str, str] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)
    _seen: set[str] = field(default_factory=set)
    _server: uvicorn.Server | None = None
    _served: bool = False  # started once: the port is in subscriptions and must stay
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, unit: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{unit}"

    async def _hook(self, request: Request) -> Response:
        body = await request.body()
        unit = request.path_params["unit"]
        message_id = request.headers.get("webhook-id", "")
        first_attempt = False
        try:
            payload = Webhook(self.secrets[unit]).verify(body, dict(request.headers))
            signature_ok, event_type = True, str(payload.get("type"))
            # The payload's timestamp is when the delivery was created, the webhook-timestamp
            # header when this attempt was signed: the first retry comes 5 s or more later.
            created = datetime.fromisoformat(str(payload["timestamp"]).replace("Z", "+00:00"))
            first_attempt = (
                int(request.headers["webhook-timestamp"]) - created.timestamp()
                < FIRST_ATTEMPT_WINDOW
            )
        except Exception:  # a missing secret, a bad or stale signature: all count as invalid
            signature_ok, event_type = False, "?"
        with self._lock:
            first = message_id not in self._seen and first_attempt
            self._seen.add(message_id)
            failing = self.fail_half and first and fails_first_attempt(message_id)
            status = 503 if failing or not signature_ok else 204
            self.hits.append(Hit(unit, message_id, status, signature_ok, event_type))
        return Response(status_code=status)

    def up(self) -> None:
        """Serve on ``port``. Before the first start nobody has the URLs yet, so a port some
        other socket took since it was picked (an outgoing connection's ephemeral port) is
        swapped for another; afterwards the port stays, as subscriptions point at it."""
        for _ in range(5):
            try:
                return self._serve(self._bound())
            except OSError:
                if self._served:
                    raise
                self.port = free_port()
        self._serve(self._bound())

    def _bound(self) -> socket.socket:
        # Bound here, not in uvicorn's thread: a taken port is an OSError to handle, not an
        # exception dying in a thread.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", self.port))
        except OSError:
            sock.close()
            raise
        return sock

    def _serve(self, sock: socket.socket) -> None:
        app = Starlette(routes=[Route("/hook/{unit}", self._hook, methods=["POST"])])
        config = uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="error",
                                lifespan="off", access_log=False)  # fmt: skip
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError(f"webhook receiver did not start on port {self.port}")
            time.sleep(0.02)
        self._served = True

    def down(self) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=15)
        self._server = None
        self._thread = None

    def snapshot(self) -> list[Hit]:
        with self._lock:
            return list(self.hits)

    def accepted_more_than_once(self) -> dict[str, float]:
        """Message ids answered 2xx more than once → seconds between the first two 2xx answers
        (at-least-once delivery: a receiver deduplicates on ``webhook-id``)."""
        first: dict[str, float] = {}
        again: dict[str, float] = {}
        for hit in self.snapshot():
            if hit.status >= 300:
                continue
            if hit.message_id in first:
                again.setdefault(hit.message_id, hit.at - first[hit.message_id])
            else:
                first[hit.message_id] = hit.at
        return again

    def delivered_ok(self) -> set[str]:
        """Message ids answered 2xx at least once (which implies a valid signature)."""
        return {hit.message_id for hit in self.snapshot() if hit.status < 300 and hit.signature_ok}
