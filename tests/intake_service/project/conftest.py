"""A stand-in for routing's project tracking and scoring's project ratings, as a real HTTP
server on loopback: intake's relays go over a real connection, with its real service token."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from services.auth import decode_token
from services.settings import common_settings
from tests.fixtures.receiver import ThreadedServer

TRACKING_NO = "XM2612080001"
SECRET = "project-secret-1"
PROJECT_ID = "0b0c3f5e-2a1d-4c8e-9f00-000000000001"


def progress(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "tracking_no": TRACKING_NO,
        "name": "邯郸新能源汽车零部件产业园项目",
        "enterprise_name": "邯郸新材料科技有限公司",
        "level": "city",
        "level_label": "市重点",
        "stage": "started",
        "stage_label": "开工",
        "stage_dates": {"started": {"planned": "2026-12-01", "actual": "2026-12-05"}},
        "center_unit_name": "邯山区政务服务中心",
        "agent_name": "李代办",
        "steps": [
            {
                "procedure_code": "JS-001",
                "name": "建设工程规划许可",
                "unit_name": "自然资源和规划局",
                "status": "done",
                "status_label": "已办结",
                "on_spot": False,
                "due_at": "2026-12-03T17:00:00+08:00",
                "done_at": "2026-12-02T10:00:00+08:00",
            }
        ],
        "blockers": [],
        "ratable": ["started"],
    }
    body.update(overrides)
    return body


class FakeUpstreams(ThreadedServer):
    """Routing's ``/v1/projects/tracking/{no}`` and scoring's ``/v1/project-ratings/by-platform``
    as they are specified; ``fail`` makes either answer 5xx."""

    def __init__(self) -> None:
        super().__init__()
        self.projects: dict[str, tuple[str, dict[str, Any]]] = {}  # number -> (secret, view)
        self.ratings: dict[tuple[str, str], dict[str, Any]] = {}
        self.calls: list[tuple[str, str]] = []
        self.callers: list[str] = []
        self.fail: set[str] = set()
        self.lock = threading.Lock()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def routes(self) -> list[Route]:
        return [
            Route("/v1/projects/tracking/{tracking_no}", self._track, methods=["GET"]),
            Route("/v1/project-ratings/by-platform", self._rate, methods=["POST"]),
        ]

    def _caller(self, request: Request) -> str | None:
        header = request.headers.get("authorization", "")
        try:
            principal = decode_token(header.removeprefix("Bearer "))
        except Exception:
            return None
        return principal.actor

    async def _track(self, request: Request) -> Response:
        tracking_no = request.path_params["tracking_no"]
        with self.lock:
            self.calls.append(("routing", tracking_no))
            caller = self._caller(request)
            self.callers.append(str(caller))
        if "routing" in self.fail:
            return Response("boom", status_code=500)
        if caller != "service:intake":
            return JSONResponse({"error": {"code": "forbidden"}}, status_code=403)
        known = self.projects.get(tracking_no)
        if known is None or request.headers.get("x-tracking-secret") != known[0]:
            return JSONResponse({"error": {"code": "project_not_found"}}, status_code=404)
        return JSONResponse(known[1])

    async def _rate(self, request: Request) -> Response:
        body = await request.json()
        with self.lock:
            self.calls.append(("scoring", body.get("tracking_no")))
            caller = self._caller(request)
            self.callers.append(str(caller))
        if "scoring" in self.fail:
            return Response("boom", status_code=502)
        if caller != "service:intake":
            return JSONResponse({"error": {"code": "forbidden"}}, status_code=403)
        if body["tracking_no"] not in self.projects:
            return JSONResponse({"error": {"code": "project_not_found"}}, status_code=404)
        key = (body["tracking_no"], body["milestone"])
        rating = {
            "id": "5f1c9a52-3f64-4d2b-8d7e-000000000009",
            "project_id": PROJECT_ID,
            "tracking_no": body["tracking_no"],
            "milestone": body["milestone"],
            "satisfaction": body["satisfaction"],
            "score": body.get("score"),
            "comment": body.get("comment"),
            "via": "platform",
            "rated_at": "2026-12-08T10:00:00+08:00",
        }
        earlier = self.ratings.get(key)
        if earlier is None:
            self.ratings[key] = rating
            return JSONResponse(rating, status_code=201)
        if earlier["satisfaction"] == rating["satisfaction"]:
            return JSONResponse(earlier, status_code=200)
        error = {"code": "already_rated", "message": "该阶段已评价", "message_en": "Rated"}
        return JSONResponse({"error": error}, status_code=409)


@pytest.fixture
def upstreams(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeUpstreams]:
    server = FakeUpstreams()
    server.projects[TRACKING_NO] = (SECRET, progress())
    server.start()
    monkeypatch.setattr(common_settings(), "routing_url", server.base)
    monkeypatch.setattr(common_settings(), "scoring_url", server.base)
    yield server
    server.stop()
