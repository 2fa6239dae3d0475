"""The staff request list: filters, Chinese search, cursor pages, and the whistleblower rule."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fixtures.org import Org
from tests.intake_service.issue.test_endpoints import submission

USCC = "91130404MA0CTE1N15"
ENTERPRISE = {"kind": "enterprise", "name": "李四", "phone": "13900000001", "uscc": USCC,
              "enterprise_name": "邯郸新兴国际物流有限公司"}  # fmt: skip


async def _submit(client: httpx.AsyncClient, key: str, **overrides: Any) -> str:
    response = await client.post(
        "/v1/requests", json=submission(**overrides), headers={"X-API-Key": key}
    )
    assert response.status_code == 201, response.text
    return str(response.json()["tracking_no"])


@pytest.fixture
async def requests_(intake_client: httpx.AsyncClient, channel_key: str) -> dict[str, str]:
    return {
        "water": await _submit(intake_client, channel_key, title="小区停水三天", type="help",
                               description="光明大街东侧小区三天停水无人处理",
                               submitter={"kind": "person", "name": "赵六", "phone": "13800000002"}),
        "permit": await _submit(intake_client, channel_key, title="施工许可审批进度", type="consult",
                                description="项目施工许可材料已提交二十个工作日", submitter=ENTERPRISE),
        # The same enterprise blows the whistle: its name and code must not find this one.
        "report": await _submit(intake_client, channel_key, channel="report_platform", type="report",
                                title="窗口人员吃拿卡要", description="办理备案时工作人员暗示要好处费",
                                submitter=ENTERPRISE),
    }  # fmt: skip


async def _tracking(
    client: httpx.AsyncClient,
    org: Org,
    role: str = "hs_operator",
    headers: dict[str, str] | None = None,
    **params: Any,
) -> list[str]:
    response = await client.get(
        "/v1/staff/requests", params=params, headers={**org.auth(role), **(headers or {})}
    )
    assert response.status_code == 200, response.text
    return [item["tracking_no"] for item in response.json()["items"]]


async def test_search_by_two_and_four_characters(
    intake_client: httpx.AsyncClient, org: Org, requests_: dict[str, str]
) -> None:
    assert await _tracking(intake_client, org, q="停水") == [requests_["water"]]
    assert await _tracking(intake_client, org, q="许可审批") == [requests_["permit"]]
    assert await _tracking(intake_client, org, q="水三天停") == []
    assert await _tracking(intake_client, org, q=requests_["water"][-6:].lower()) == [
        requests_["water"]
    ]


async def test_a_whistleblowers_enterprise_does_not_find_the_report(
    intake_client: httpx.AsyncClient, org: Org, requests_: dict[str, str]
) -> None:
    assert await _tracking(intake_client, org, q="新兴国际物流") == [requests_["permit"]]
    assert await _tracking(intake_client, org, uscc=USCC) == [requests_["permit"]]
    # The discipline commission, which may read the identity, finds both by the credit code
    # when it states why (X-Access-Reason, logged); without a reason, only the other one. The
    # search index never holds a protected submitter's name, for anyone.
    both = {requests_["permit"], requests_["report"]}
    reason = {"X-Access-Reason": "check-2026-118"}
    assert set(await _tracking(intake_client, org, "jw_officer", reason, uscc=USCC)) == both
    assert await _tracking(intake_client, org, "jw_officer", uscc=USCC) == [requests_["permit"]]
    assert await _tracking(intake_client, org, "jw_officer", q="新兴国际物流") == [
        requests_["permit"]
    ]
    # A confidential report's words are sealed and kept out of the search index (they may name
    # the reporter): it is found by its tracking number, not its text.
    assert await _tracking(intake_client, org, "jw_officer", q="吃拿卡要") == []
    assert await _tracking(intake_client, org, "jw_officer", q=requests_["report"]) == [
        requests_["report"]
    ]


async def test_relevance_title_then_enterprise_then_address_then_text_paged(
    intake_client: httpx.AsyncClient, org: Org, channel_key: str
) -> None:
    """The best field decides, newest first within it; cursor pages of one row walk the same
    order across tiers."""
    person = {"kind": "person", "name": "赵六", "phone": "13800000003"}
    text = await _submit(intake_client, channel_key, title="门口道路问题", submitter=person,
                         description="新兴物流园门口道路坑洼", location=None)  # fmt: skip
    address = await _submit(intake_client, channel_key, title="道路坑洼反映", submitter=person,
                            description="车辆经过颠簸严重", location={"address": "新兴物流园北门"})  # fmt: skip
    named = await _submit(intake_client, channel_key, title="企业反映问题", description="详见附件材料",
                          submitter=ENTERPRISE, location=None)  # fmt: skip
    titled = await _submit(intake_client, channel_key, title="新兴物流园路灯不亮",
                           description="夜间没有任何照明", submitter=person, location=None)  # fmt: skip
    expected = [titled, named, address, text]
    assert await _tracking(intake_client, org, q="新兴") == expected
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"q": "新兴", "limit": 1, **({"cursor": cursor} if cursor else {})}
        response = await intake_client.get(
            "/v1/staff/requests", params=params, headers=org.auth("hs_operator")
        )
        assert response.status_code == 200, response.text
        seen += [item["tracking_no"] for item in response.json()["items"]]
        if not (cursor := response.json()["next_cursor"]):
            break
    assert seen == expected


async def test_filters_and_pages(
    intake_client: httpx.AsyncClient, org: Org, requests_: dict[str, str]
) -> None:
    assert await _tracking(intake_client, org, type=["help", "consult"], sort="received") == [
        requests_["water"], requests_["permit"]]  # fmt: skip
    assert await _tracking(intake_client, org, channel="report_platform") == [requests_["report"]]
    assert await _tracking(intake_client, org, submitter_kind="enterprise", confidential="false") == [
        requests_["permit"]]  # fmt: skip
    seen, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 1, **({"cursor": cursor} if cursor else {})}
        page = (
            await intake_client.get(
                "/v1/staff/requests", params=params, headers=org.auth("hs_operator")
            )
        ).json()
        seen += [item["tracking_no"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert sorted(seen) == sorted(requests_.values())


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"status": "nonsense"}, "validation_error"),
        ({"offset": "10"}, "validation_error"),
        ({"received_from": "2026-12-06", "received_to": "2026-12-01"}, "invalid_date_range"),
        ({"q": "停"}, "invalid_search_query"),
        ({"q": "停\x01水"}, "validation_error"),
        ({"cursor": "bm90LWEtY3Vyc29y.AAAA"}, "invalid_cursor"),
    ],
)
async def test_bad_input(
    intake_client: httpx.AsyncClient, org: Org, params: dict[str, str], code: str
) -> None:
    response = await intake_client.get(
        "/v1/staff/requests", params=params, headers=org.auth("hs_operator")
    )
    assert 400 <= response.status_code < 500, response.text
    assert response.json()["error"]["code"] == code
