"""Discovery, service list and definitions, formats and the error shape."""

from __future__ import annotations

import httpx
import pytest

from shared.enums import RequestType, Topic, Urgency
from tests.intake_service.open311.helpers import V2, assert_errors, parse_xml


class TestDiscovery:
    async def test_json(self, intake_client: httpx.AsyncClient) -> None:
        response = await intake_client.get("/open311/discovery.json")
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json; charset=utf-8"
        body = response.json()
        assert {"changeset", "contact", "key_service", "endpoints"} <= set(body)
        (endpoint,) = body["endpoints"]
        assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint["url"] == "http://testserver/open311/v2"
        assert endpoint["type"] == "production"
        assert endpoint["changeset"] == body["changeset"]
        assert endpoint["formats"] == ["text/xml", "application/json"]

    async def test_xml(self, intake_client: httpx.AsyncClient) -> None:
        response = await intake_client.get("/open311/discovery.xml")
        assert response.status_code == 200
        discovery = parse_xml(response)["discovery"]
        assert discovery["changeset"]
        (endpoint,) = discovery["endpoints"]["endpoint"]
        assert endpoint["url"] == "http://testserver/open311/v2"
        assert endpoint["formats"]["format"] == ["text/xml", "application/json"]


class TestServices:
    async def test_one_service_per_topic_json(self, intake_client: httpx.AsyncClient) -> None:
        response = await intake_client.get(
            f"{V2}/services.json", params={"jurisdiction_id": "hanshan.gov.cn"}
        )
        assert response.status_code == 200
        services = response.json()
        assert [s["service_code"] for s in services] == [t.value for t in Topic]
        transport = services[[t.value for t in Topic].index("transport")]
        assert transport["service_name"] == "交通"
        assert transport["metadata"] is True
        assert transport["type"] == "realtime"
        assert "公交" in transport["keywords"]
        assert transport["group"]
        assert transport["description"]

    async def test_xml(self, intake_client: httpx.AsyncClient) -> None:
        services = parse_xml(await intake_client.get(f"{V2}/services.xml"))["services"]["service"]
        assert len(services) == len(Topic)
        assert services[0]["service_code"] == Topic.land.value
        assert services[0]["service_name"] == "土地"
        assert services[0]["metadata"] == "true"
        assert services[0]["type"] == "realtime"


class TestDefinition:
    async def test_json(self, intake_client: httpx.AsyncClient) -> None:
        response = await intake_client.get(f"{V2}/services/electricity.json")
        assert response.status_code == 200
        definition = response.json()
        assert definition["service_code"] == "electricity"
        attributes = {a["code"]: a for a in definition["attributes"]}
        request_type = attributes["request_type"]
        # Optional: apps that send no attributes get a type suggested from the text.
        assert request_type["required"] is False
        assert request_type["variable"] is True
        assert request_type["datatype"] == "singlevaluelist"
        assert request_type["order"] == 1
        assert [v["name"] for v in request_type["values"]] == [
            "咨询",
            "求助",
            "投诉",
            "举报",
            "建议",
            "表扬",
        ]
        assert [v["key"] for v in request_type["values"]] == [t.value for t in RequestType]
        assert attributes["urgency"]["required"] is False
        assert [(v["key"], v["name"]) for v in attributes["urgency"]["values"]] == [
            (u.value, u.label_zh) for u in Urgency
        ]
        assert attributes["uscc"]["datatype"] == "string"
        assert "values" not in attributes["uscc"]
        assert sorted(a["order"] for a in definition["attributes"]) == [1, 2, 3, 4]

    async def test_xml(self, intake_client: httpx.AsyncClient) -> None:
        definition = parse_xml(await intake_client.get(f"{V2}/services/land.xml"))[
            "service_definition"
        ]
        assert definition["service_code"] == "land"
        first = definition["attributes"]["attribute"][0]
        assert first["code"] == "request_type"
        assert first["required"] == "false"
        assert first["values"]["value"][2] == {"key": "complaint", "name": "投诉"}

    @pytest.mark.parametrize("fmt", ["json", "xml"])
    async def test_unknown_service_code_is_404(
        self, intake_client: httpx.AsyncClient, fmt: str
    ) -> None:
        response = await intake_client.get(f"{V2}/services/potholes.{fmt}")
        (error,) = assert_errors(response, 404, fmt)
        assert error["code"] == 404
        assert "potholes" in error["description"]


class TestFormatsAndErrors:
    async def test_unsupported_format_is_a_spec_shaped_404(
        self, intake_client: httpx.AsyncClient
    ) -> None:
        assert_errors(await intake_client.get(f"{V2}/services.yaml"), 404, "xml")
        assert_errors(await intake_client.get(f"{V2}/requests/YS123.html"), 404, "xml")
        assert_errors(await intake_client.get("/open311/discovery.csv"), 404, "xml")

    async def test_unknown_paths_under_open311(self, intake_client: httpx.AsyncClient) -> None:
        assert_errors(await intake_client.get(f"{V2}/nothing.json"), 404, "json")
        assert_errors(await intake_client.get(f"{V2}/requests"), 404, "xml")
        assert_errors(await intake_client.get("/open311"), 404, "xml")
        assert_errors(
            await intake_client.get("/open311/v3/services", headers={"Accept": "application/json"}),
            404,
        )

    async def test_unknown_path_with_a_newline_gets_the_open311_400(
        self, intake_client: httpx.AsyncClient
    ) -> None:
        """Starlette's ``path`` convertor stops at a newline, so ``%0A`` once fell through to the
        native 404 envelope; the catch-all spans it and the control-character rule answers."""
        (error,) = assert_errors(await intake_client.get(f"{V2}/update_tokens/a%0Ab.json"), 400)
        assert "控制字符" in error["description"]
        assert_errors(await intake_client.get(f"{V2}/update_tokens/a%0Ab.xml"), 400, "xml")

    async def test_wrong_method_is_405_with_allow(self, intake_client: httpx.AsyncClient) -> None:
        response = await intake_client.delete(f"{V2}/services.json")
        assert_errors(response, 405)
        assert response.headers["allow"] == "GET"
        response = await intake_client.put(f"{V2}/requests.xml")
        assert_errors(response, 405, "xml")
        assert response.headers["allow"] == "GET, POST"

    async def test_unexpected_failure_is_a_400_not_a_500(
        self, intake_client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        from intake_service.open311 import catalog

        def broken() -> list[object]:
            raise RuntimeError("boom")

        monkeypatch.setattr(catalog, "service_list", broken)
        (error,) = assert_errors(await intake_client.get(f"{V2}/services.json"), 400)
        assert "General service error" in error["description"]

    async def test_native_api_keeps_its_own_error_envelope(
        self, intake_client: httpx.AsyncClient
    ) -> None:
        response = await intake_client.get(
            "/v1/requests/YS0000000000", headers={"X-Tracking-Secret": "x"}
        )
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "request_not_found"
        response = await intake_client.get("/v1/nowhere")
        assert response.json()["error"]["code"] == "not_found"
