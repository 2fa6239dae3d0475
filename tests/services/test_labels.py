"""Label discovery: every enumeration with a Chinese label, the same on every service."""

from __future__ import annotations

import inspect
import re

import httpx

import shared.enums
from services.labels import ENUMS
from shared.enums import LabelledEnum

CHINESE = re.compile(r"[\u4e00-\u9fff]")


def test_every_labelled_enumeration_is_published() -> None:
    defined = {
        obj for _, obj in inspect.getmembers(shared.enums, inspect.isclass)
        if issubclass(obj, LabelledEnum) and obj is not LabelledEnum
    }  # fmt: skip
    assert defined == set(ENUMS.values())


async def test_labels_on_every_service(
    intake_client: httpx.AsyncClient,
    routing_client: httpx.AsyncClient,
    scoring_client: httpx.AsyncClient,
) -> None:
    answers = []
    for client in (intake_client, routing_client, scoring_client):
        response = await client.get("/v1/labels")  # public: no credentials
        assert response.status_code == 200, response.text
        assert "max-age" in response.headers["cache-control"]
        answers.append(response.json())
    assert answers[0] == answers[1] == answers[2]
    enums = answers[0]["enums"]
    for name, members in enums.items():
        assert [m["value"] for m in members] == [m.value for m in ENUMS[name]], name
        for member in members:
            # A real Chinese label, not the code falling through (Open311 is a proper name).
            assert CHINESE.search(member["label"]) or member["label"] == "Open311", (name, member)
    assert {"value": "red", "label": "红牌督办"} in enums["supervision_level"]
    assert {"value": "pending_verification", "label": "待核查"} in enums["case_status"]
    assert {"value": "basic", "label": "基本满意"} in enums["satisfaction"]
