from __future__ import annotations

from typing import Any

import httpx
import xmltodict

V2 = "/open311/v2"


def form(**overrides: Any) -> dict[str, Any]:
    """A complete GeoReport v2 POST body (``None`` removes a field)."""
    body: dict[str, Any] = {
        "service_code": "transport",
        "lat": "36.58",
        "long": "114.51",
        "address_string": "邯山区新兴国际商贸物流中心",
        "first_name": "三",
        "last_name": "张",
        "phone": "13812345678",
        "description": "新兴国际商贸物流中心一带公交班次少,希望增加公交班次、提高园区交通承载力。",
        "media_url": "https://example.org/photo.jpg",
        "attribute[request_type]": "投诉",
    }
    body.update(overrides)
    return {key: value for key, value in body.items() if value is not None}


async def post_request(
    client: httpx.AsyncClient, key: str | None, fmt: str = "json", **overrides: Any
) -> httpx.Response:
    data = form(**overrides)
    if key is not None:
        data["api_key"] = key
    return await client.post(f"{V2}/requests.{fmt}", data=data)


async def create(client: httpx.AsyncClient, key: str, **overrides: Any) -> str:
    response = await post_request(client, key, **overrides)
    assert response.status_code == 200, response.text
    return str(response.json()[0]["service_request_id"])


async def get_one(client: httpx.AsyncClient, service_request_id: str) -> dict[str, Any]:
    response = await client.get(f"{V2}/requests/{service_request_id}.json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body) == 1
    return dict(body[0])


def parse_xml(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"] == "text/xml; charset=utf-8"
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    return dict(
        xmltodict.parse(
            response.content,
            force_list=("service", "request", "error", "attribute", "value", "endpoint", "format"),
        )
    )


def assert_errors(response: httpx.Response, status: int, fmt: str = "json") -> list[dict[str, Any]]:
    """The spec's error shape, in the format asked for; returns the entries."""
    assert response.status_code == status, response.text
    if fmt == "json":
        assert response.headers["content-type"].startswith("application/json")
        errors = response.json()
        assert isinstance(errors, list)
        assert errors
        for error in errors:
            assert set(error) == {"code", "description"}
            assert isinstance(error["code"], int)
            assert error["description"]
        return list(errors)
    entries = parse_xml(response)["errors"]["error"]
    for entry in entries:
        assert set(entry) == {"code", "description"}
        assert entry["code"].isdigit()
        assert entry["description"]
    return [{"code": int(e["code"]), "description": e["description"]} for e in entries]
