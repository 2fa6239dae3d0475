"""Whistleblowers' identities, staff tokens from an external identity provider, and masking."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from intake_service.issue.service import FULLY_MASKED
from services import auth
from services.errors import Unauthorized
from services.observability import _mask_pii
from services.settings import CommonSettings
from tests.fixtures.org import Org
from tests.fixtures.receiver import JsonServer
from tests.intake_service.issue.test_endpoints import submission


async def test_only_the_discipline_role_reads_a_whistleblowers_identity(
    intake_client: httpx.AsyncClient, channel_key: str, org: Org
) -> None:
    body = submission(channel="report_platform", type="report", title="窗口人员吃拿卡要", anonymous=True,
                      description="办理备案时工作人员暗示要好处费。",
                      submitter={"kind": "person", "name": "王小明", "phone": "13912345678"})  # fmt: skip
    receipt = (
        await intake_client.post("/v1/requests", json=body, headers={"X-API-Key": channel_key})
    ).json()
    url = f"/v1/staff/requests/{receipt['tracking_no']}"
    masked = (await intake_client.get(url, headers=org.auth("hs_supervisor"))).json()
    # Sealed under the confidential ring: masked whole (a partial mask would need the plaintext).
    assert masked["submitter"]["phone"] == FULLY_MASKED
    assert masked["submitter"]["name"] == FULLY_MASKED
    assert masked["identity_revealed"] is False
    # The discipline role opens it only with a stated reason (logged, intake_service.privacy).
    unexplained = (await intake_client.get(url, headers=org.auth("jw_officer"))).json()
    assert unexplained["submitter"] == masked["submitter"]
    assert unexplained["identity_revealed"] is False
    reason = {"X-Access-Reason": quote("核查举报线索(案件线索 2026-118)")}
    revealed = (await intake_client.get(url, headers={**org.auth("jw_officer"), **reason})).json()
    assert revealed["submitter"]["phone"] == "13912345678"
    assert revealed["submitter"]["name"] == "王小明"
    assert revealed["identity_revealed"] is True
    # Other roles get the masked view whatever reason they give.
    other = await intake_client.get(url, headers={**org.auth("hs_supervisor"), **reason})
    assert other.json()["submitter"] == masked["submitter"]
    listing = (
        await intake_client.get(
            "/v1/staff/requests?confidential=true&with_total=true", headers=org.auth("auditor")
        )  # fmt: skip
    ).json()
    assert listing["total"] == 1
    assert listing["items"][0]["submitter"]["masked"] is True
    assert (await intake_client.get(url, headers=org.auth("gm_operator"))).status_code == 403
    assert (await intake_client.get(url, headers=org.auth("jt_liaison"))).status_code == 403


def test_phone_and_id_numbers_never_reach_the_logs() -> None:
    event = _mask_pii(
        None,
        "info",
        {"event": "联系人13812345678,身份证11010519491231002X", "phone": "13912345678"},
    )
    assert "13812345678" not in json.dumps(event, ensure_ascii=False)
    assert "11010519491231002X" not in event["event"]
    assert event["phone"] == "139****5678"


class TestExternalIdentityProvider:
    @pytest.fixture
    def provider(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
        jwk.update(kid="idp-1", use="sig", alg="RS256")
        server = JsonServer({"keys": [jwk]})  # the identity provider's JWKS endpoint, on loopback
        server.start()
        settings = CommonSettings(
            jwks_url=server.url, jwt_issuer="https://idp.example.gov.cn", jwt_audience="yingshang"
        )
        monkeypatch.setattr(auth, "common_settings", lambda: settings)
        auth._jwks_client.cache_clear()
        yield key
        server.stop()
        auth._jwks_client.cache_clear()

    def token(self, key: Any, **claims: Any) -> str:
        now = int(time.time())
        body = {"sub": "zhang.san", "iss": "https://idp.example.gov.cn", "aud": "yingshang", "iat": now, "exp": now + 600,
                "role": "dispatcher", "unit": "HS", "path": "/HS/", **claims}  # fmt: skip
        return jwt.encode(body, key, algorithm="RS256", headers={"kid": "idp-1"})

    def test_verified_against_the_jwks(self, provider: Any) -> None:
        principal = auth.decode_token(self.token(provider))
        assert (principal.subject, principal.role, principal.unit_path) == (
            "zhang.san",
            "dispatcher",
            "/HS/",
        )

    def test_wrong_audience_expired_or_forged_are_refused(self, provider: Any) -> None:
        for bad in (
            self.token(provider, aud="someone-else"),
            self.token(provider, exp=int(time.time()) - 10),
            self.token(rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            self.token(provider, role=None),
        ):
            with pytest.raises(Unauthorized):
                auth.decode_token(bad)

    def test_our_own_tokens_still_work(self, provider: Any) -> None:
        token = auth.issue_token(subject="admin", role="admin", unit_code="HS", unit_path="/HS/")
        assert auth.decode_token(token).role == "admin"


def test_a_verified_token_is_remembered_only_until_it_expires() -> None:
    token = auth.issue_token(subject="li.si", role="operator", unit_code="HS", unit_path="/HS/",
                             ttl=timedelta(seconds=2))  # fmt: skip
    first = auth.decode_token(token)
    assert auth.decode_token(token) is first  # verified once
    expires_at = jwt.decode(token, options={"verify_signature": False})["exp"]
    time.sleep(max(0.0, expires_at - time.time()) + 0.05)
    with pytest.raises(Unauthorized):
        auth.decode_token(token)
    forged = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    with pytest.raises(Unauthorized):
        auth.decode_token(forged)
