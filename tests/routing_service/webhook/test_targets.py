"""Where webhooks may go: address literals in every notation, names checked by what they resolve
to, allowed intranet networks, DNS rebinding between subscription and delivery, redirects, and
the loopback allowance being development-only."""

from __future__ import annotations

import ipaddress
import socket
import uuid
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from routing_service.config import RoutingSettings, settings
from routing_service.webhook import targets
from routing_service.webhook.service import Attempt
from routing_service.webhook.targets import IPAddress, TargetInvalid, parse_target, refusal
from routing_service.webhook.tasks import deliver_webhook, send
from services.db import AsyncSessionMaker
from services.settings import CommonSettings
from tests.fixtures.org import Org
from tests.routing_service.webhook.helpers import (
    Receiver,
    add_subscription,
    load,
    notify,
    subscribe,
)

SUBSCRIPTIONS = "/v1/webhooks/subscriptions"
Ctx = dict[str, Any]
PUBLIC = ipaddress.ip_address("93.184.216.34")
LOOPBACK = ipaddress.ip_address("127.0.0.1")


class FakeResolver:
    """Stands in for DNS: answers each name from ``answers`` (a list: one answer per call, the
    last repeating), recording every lookup."""

    def __init__(self, answers: dict[str, list[list[IPAddress]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    async def __call__(self, host: str, port: int) -> list[IPAddress]:
        self.calls.append(host)
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        queue = self.answers[host]
        return queue.pop(0) if len(queue) > 1 else queue[0]


def fake_dns(
    monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[list[IPAddress]]]
) -> FakeResolver:
    resolver = FakeResolver(answers)
    monkeypatch.setattr(targets, "resolve", resolver)
    return resolver


async def post_url(client: httpx.AsyncClient, org: Org, url: str) -> httpx.Response:
    return await client.post(
        SUBSCRIPTIONS, json={"url": url, "event_types": ["*"]}, headers=org.auth("jt_liaison")
    )


class TestDecision:
    @pytest.mark.parametrize(
        ("address", "reason"),
        [
            ("127.0.0.1", "loopback"),
            ("127.255.0.9", "loopback"),
            ("::1", "loopback"),
            ("::ffff:127.0.0.1", "loopback"),  # IPv4-mapped
            ("2002:7f00:1::", "loopback"),  # 6to4 around 127.0.0.1
            ("169.254.169.254", "metadata"),
            ("fd00:ec2::254", "metadata"),
            ("100.100.100.200", "metadata"),
            ("::ffff:169.254.169.254", "metadata"),
            ("169.254.1.1", "link_local"),
            ("fe80::1", "link_local"),
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("::", "unspecified"),
            ("224.0.0.1", "multicast"),
            ("ff02::1", "multicast"),
            ("240.0.0.1", "reserved"),
            ("255.255.255.255", "reserved"),
            ("10.1.2.3", "not_allowed"),
            ("172.16.0.1", "not_allowed"),
            ("192.168.1.1", "not_allowed"),
            ("100.64.0.1", "not_allowed"),
            ("fd12:3456::1", "not_allowed"),
            ("93.184.216.34", None),
            ("2606:4700::1111", None),
        ],
    )
    def test_defaults(self, address: str, reason: str | None) -> None:
        ip = ipaddress.ip_address(address)
        assert refusal(ip, allowed_networks=(), allow_loopback=False) == reason

    def test_allowed_networks_open_private_ranges_only(self) -> None:
        allowed = (ipaddress.ip_network("10.0.0.0/8"), ipaddress.ip_network("0.0.0.0/0"))
        assert refusal(ipaddress.ip_address("10.9.8.7"), allowed_networks=allowed[:1]) is None
        assert refusal(ipaddress.ip_address("11.0.0.1"), allowed_networks=allowed[:1]) is None
        assert refusal(ipaddress.ip_address("192.168.0.1"), allowed_networks=allowed[:1]) == (
            "not_allowed"
        )
        # Even "everything" does not open loopback, link-local or metadata.
        for address, reason in [
            ("127.0.0.1", "loopback"),
            ("169.254.169.254", "metadata"),
            ("169.254.3.3", "link_local"),
            ("100.100.100.200", "metadata"),
        ]:
            ip = ipaddress.ip_address(address)
            assert refusal(ip, allowed_networks=allowed, allow_loopback=False) == reason

    def test_loopback_allowance_opens_loopback_only(self) -> None:
        for address in ("127.0.0.1", "::1", "::ffff:127.0.0.1"):
            ip = ipaddress.ip_address(address)
            assert refusal(ip, allowed_networks=(), allow_loopback=True) is None
        for address, reason in [("169.254.169.254", "metadata"), ("10.0.0.1", "not_allowed")]:
            ip = ipaddress.ip_address(address)
            assert refusal(ip, allowed_networks=(), allow_loopback=True) == reason

    @pytest.mark.parametrize(
        ("url", "address"),
        [
            ("http://2130706433/hook", "127.0.0.1"),
            ("http://0x7f000001/hook", "127.0.0.1"),
            ("http://0177.0.0.1/hook", "127.0.0.1"),
            ("http://0177.0.0.01/hook", "127.0.0.1"),
            ("http://127.1/hook", "127.0.0.1"),
            ("http://0x7f.1/hook", "127.0.0.1"),
            ("http://127.0.0.1./hook", "127.0.0.1"),
            ("http://[::ffff:127.0.0.1]/hook", "::ffff:7f00:1"),
            ("http://[0:0:0:0:0:0:0:1]:8080/hook", "::1"),
            ("http://[fe80::1%25eth0]/hook", "fe80::1"),
            ("http://LOCALHOST:9000/hook", "127.0.0.1"),
            ("http://app.localhost/hook", "127.0.0.1"),
        ],
    )
    def test_literals_in_any_notation_are_normalised(self, url: str, address: str) -> None:
        target = parse_target(url)
        assert target.literal == ipaddress.ip_address(address)

    @pytest.mark.parametrize(
        "url",
        [
            "http://user:pass@hooks.example.com/hook",
            "http://hooks.example.com@127.0.0.1/hook",
            "http://evil.example\\@127.0.0.1/hook",
            "http://1.2.3.256/hook",
            "http://0x100000000/hook",
            "http://1.2.3.4.5/hook",
            "http://intranet.08/hook",
            "http://[::zz]/hook",
            "ftp://hooks.example.com/hook",
            "http://hooks.example.com:0/hook",
        ],
    )
    def test_malformed_urls(self, url: str) -> None:
        with pytest.raises(TargetInvalid):
            parse_target(url)


class TestSubscriptionTime:
    async def test_literal_forms_refused(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(settings, "webhook_allow_loopback", False)
        resolver = fake_dns(monkeypatch, {})
        cases = {
            "http://2130706433/hook": "loopback",
            "http://0x7f000001/hook": "loopback",
            "http://0177.0.0.1/hook": "loopback",
            "http://127.1:8080/hook": "loopback",
            "http://[::1]/hook": "loopback",
            "http://[::ffff:127.0.0.1]/hook": "loopback",
            "http://[::ffff:7f00:1]/hook": "loopback",
            "http://localhost/hook": "loopback",
            "http://169.254.169.254/latest/meta-data": "metadata",
            "http://[fd00:ec2::254]/": "metadata",
            "http://0xa9fea9fe/": "metadata",  # 169.254.169.254 in hex
            "http://[fe80::1%25eth0]/hook": "link_local",
            "http://0.0.0.0:8000/hook": "unspecified",
            "http://224.0.0.1/hook": "multicast",
            "http://10.1.2.3/hook": "not_allowed",
        }
        for url, reason in cases.items():
            response = await post_url(routing_client, org, url)
            assert response.status_code == 422, (url, response.text)
            error = response.json()["error"]
            assert error["code"] == "url_not_allowed", url
            assert error["details"]["reason"] == reason, url
            assert "不允许" in error["message"]
        assert resolver.calls == []  # literals are never looked up

    async def test_malformed_hosts_and_userinfo_refused(
        self, routing_client: httpx.AsyncClient, org: Org
    ) -> None:
        for url in (
            "http://user:secret@hooks.example.com/hook",
            "http://hooks.example.com@127.0.0.1/hook",
            "http://1.2.3.256/hook",
            "http://0x1ffffffff/hook",
        ):
            response = await post_url(routing_client, org, url)
            assert response.status_code == 422, (url, response.text)
            assert response.json()["error"]["code"] == "url_invalid", url

    async def test_a_name_resolving_to_loopback_is_refused(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(settings, "webhook_allow_loopback", False)
        resolver = fake_dns(
            monkeypatch,
            {
                "127.0.0.1.nip.io": [[LOOPBACK]],
                # One bad answer among good ones is enough to refuse the name.
                "mixed.example.com": [[PUBLIC, ipaddress.ip_address("169.254.169.254")]],
                "v6.example.com": [[ipaddress.ip_address("::1")]],
            },
        )
        for url, reason in [
            ("http://127.0.0.1.nip.io/hook", "loopback"),
            ("https://mixed.example.com/hook", "metadata"),
            ("https://v6.example.com/hook", "loopback"),
        ]:
            response = await post_url(routing_client, org, url)
            assert response.status_code == 422, (url, response.text)
            error = response.json()["error"]
            assert (error["code"], error["details"]["reason"]) == ("url_not_allowed", reason)
        assert resolver.calls == ["127.0.0.1.nip.io", "mixed.example.com", "v6.example.com"]

    async def test_an_allowed_private_cidr_is_accepted(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(settings, "webhook_allow_loopback", False)
        monkeypatch.setattr(
            settings,
            "webhook_allowed_networks",
            (ipaddress.ip_network("10.20.0.0/16"), ipaddress.ip_network("fd12::/16")),
        )
        fake_dns(
            monkeypatch,
            {
                "oa.jt.gov.internal": [[ipaddress.ip_address("10.20.30.40")]],
                "oa.other.gov.internal": [[ipaddress.ip_address("10.99.0.1")]],
            },
        )
        for url in (
            "http://10.20.1.2:8080/hook",
            "http://[fd12::5]/hook",
            "https://oa.jt.gov.internal/hook",
        ):
            body = await subscribe(routing_client, org.auth("jt_liaison"), url)
            assert body["url"] == url
        # Outside the listed ranges private addresses stay refused.
        for url in ("http://10.21.0.1/hook", "https://oa.other.gov.internal/hook"):
            response = await post_url(routing_client, org, url)
            assert response.status_code == 422, url
            assert response.json()["error"]["details"]["reason"] == "not_allowed"

    async def test_a_name_that_does_not_resolve_yet_is_accepted(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # Delivery checks it again; a department's DNS may follow its registration.
        resolver = fake_dns(monkeypatch, {})
        await subscribe(routing_client, org.auth("jt_liaison"), "https://new.jt.example.cn/hook")
        assert resolver.calls == ["new.jt.example.cn"]

    async def test_update_is_checked_too(
        self, routing_client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(settings, "webhook_allow_loopback", False)
        fake_dns(monkeypatch, {"hooks.example.com": [[PUBLIC]]})
        body = await subscribe(
            routing_client, org.auth("jt_liaison"), "https://hooks.example.com/hook"
        )
        response = await routing_client.patch(
            f"{SUBSCRIPTIONS}/{body['id']}",
            json={"url": "http://0x7f000001/hook"},
            headers=org.auth("jt_liaison"),
        )
        assert response.status_code == 422
        assert response.json()["error"]["code"] == "url_not_allowed"


class TestDeliveryTime:
    async def _delivery(
        self, sessionmaker: AsyncSessionMaker, org: Org, url: str
    ) -> tuple[str, str]:
        subscription = await add_subscription(sessionmaker, org.units["DEPT-JT"].id, url=url)
        (delivery_id,) = await notify(sessionmaker, org.units["DEPT-JT"].id)
        return str(subscription.id), str(delivery_id)

    async def test_connects_to_the_vetted_address_with_the_name_as_host(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_sessionmaker: AsyncSessionMaker,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # A name real DNS does not know: the POST can only arrive through the checked answer.
        resolver = fake_dns(monkeypatch, {"hooks.jt.invalid": [[LOOPBACK]]})
        url = f"http://hooks.jt.invalid:{receiver.port}/hook?x=1"
        _sub, delivery_id = await self._delivery(routing_sessionmaker, org, url)

        assert await deliver_webhook(ctx, delivery_id) == "delivered"

        (request,) = receiver.requests
        assert request.headers["host"] == f"hooks.jt.invalid:{receiver.port}"
        assert request.path == "/hook"
        assert resolver.calls == ["hooks.jt.invalid"]  # once: nothing resolves it again

    async def test_rebinding_to_loopback_is_refused_and_dead_lettered(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_client: httpx.AsyncClient,
        routing_sessionmaker: AsyncSessionMaker,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(settings, "webhook_allow_loopback", False)
        # First answer public (the subscription is accepted), then loopback (the receiver).
        resolver = fake_dns(monkeypatch, {"rebind.example.com": [[PUBLIC], [LOOPBACK]]})
        url = f"http://rebind.example.com:{receiver.port}/hook"
        body = await subscribe(routing_client, org.auth("jt_liaison"), url)
        (delivery_id,) = await notify(routing_sessionmaker, org.units["DEPT-JT"].id)

        assert await deliver_webhook(ctx, str(delivery_id)) == "dead"

        assert receiver.requests == []
        delivery = await load(routing_sessionmaker, delivery_id)
        assert str(delivery.subscription_id) == body["id"]
        assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("dead", 1, None)
        assert delivery.last_status_code is None
        assert delivery.last_error is not None
        assert "本机回环地址" in delivery.last_error
        assert "127.0.0.1" in delivery.last_error
        assert resolver.calls == ["rebind.example.com", "rebind.example.com"]
        # No retry storm: nothing more happens to it.
        assert await deliver_webhook(ctx, str(delivery_id)) == "skipped"

    @pytest.mark.parametrize(
        "url",
        [
            "http://0x7f000001:{port}/hook",
            "http://[::ffff:127.0.0.1]:{port}/hook",
            "http://169.254.169.254/latest/meta-data",
        ],
    )
    async def test_stored_literal_urls_are_checked_at_delivery(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_sessionmaker: AsyncSessionMaker,
        monkeypatch: pytest.MonkeyPatch,
        url: str,
    ) -> None:
        # Rows written before the guard (or by hand): delivery does not trust them.
        monkeypatch.setattr(settings, "webhook_allow_loopback", False)
        target = url.format(port=receiver.port)
        _sub, delivery_id = await self._delivery(routing_sessionmaker, org, target)
        assert await deliver_webhook(ctx, delivery_id) == "dead"
        delivery = await load(routing_sessionmaker, delivery_id)
        assert delivery.last_error is not None
        assert "not an allowed target" in delivery.last_error
        assert receiver.requests == []

    async def test_a_redirect_is_a_failed_attempt_never_followed(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_sessionmaker: AsyncSessionMaker,
    ) -> None:
        receiver.status = 302
        receiver.headers = {"location": f"http://127.0.0.1:{receiver.port}/elsewhere"}
        _sub, delivery_id = await self._delivery(routing_sessionmaker, org, receiver.url())

        assert await deliver_webhook(ctx, delivery_id) == "retry"

        assert [request.path for request in receiver.requests] == ["/hook"]
        delivery = await load(routing_sessionmaker, delivery_id)
        assert delivery.last_status_code == 302
        assert delivery.last_error is not None
        assert "redirect not followed" in delivery.last_error
        assert "/elsewhere" in delivery.last_error

    async def test_the_next_vetted_address_is_tried_when_one_refuses(
        self,
        ctx: Ctx,
        org: Org,
        receiver: Receiver,
        routing_sessionmaker: AsyncSessionMaker,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # The receiver listens on 127.0.0.1 only: 127.0.0.2 refuses the connection.
        fake_dns(monkeypatch, {"pair.jt.invalid": [[ipaddress.ip_address("127.0.0.2"), LOOPBACK]]})
        url = f"http://pair.jt.invalid:{receiver.port}/hook"
        _sub, delivery_id = await self._delivery(routing_sessionmaker, org, url)
        assert await deliver_webhook(ctx, delivery_id) == "delivered"
        assert len(receiver.requests) == 1

    async def test_unresolvable_name_is_retried(
        self,
        ctx: Ctx,
        org: Org,
        routing_sessionmaker: AsyncSessionMaker,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        fake_dns(monkeypatch, {})
        _sub, delivery_id = await self._delivery(
            routing_sessionmaker, org, "https://gone.jt.invalid/hook"
        )
        assert await deliver_webhook(ctx, delivery_id) == "retry"
        delivery = await load(routing_sessionmaker, delivery_id)
        assert delivery.last_error is not None
        assert "gone.jt.invalid" in delivery.last_error

    async def test_https_keeps_the_name_for_sni_and_host(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setattr(settings, "webhook_allowed_networks", ())
        fake_dns(monkeypatch, {"hooks.jt.example.cn": [[PUBLIC]]})
        seen: list[httpx.Request] = []

        def handler(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return httpx.Response(204, stream=httpx.ByteStream(b""))

        attempt = Attempt(
            delivery_id=uuid.uuid4(),
            subscription_id=uuid.uuid4(),
            attempt=1,
            url="https://hooks.jt.example.cn/ys/hook?unit=jt",
            secrets=("whsec_" + "A" * 43,),
            message_id="msg_1",
            payload={"type": "webhook.test", "timestamp": "2025-01-01T00:00:00Z", "data": {}},
        )
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
            result = await send(http, attempt)

        assert result.ok, result
        (request,) = seen
        assert request.url.host == str(PUBLIC)
        assert request.url.raw_path == b"/ys/hook?unit=jt"
        assert request.headers["host"] == "hooks.jt.example.cn"
        assert request.extensions["sni_hostname"] == "hooks.jt.example.cn"


class TestSettings:
    def test_allowed_networks_from_the_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ROUTING_WEBHOOK_ALLOWED_NETWORKS", '["10.0.0.0/8", "fd12::/16"]')
        parsed = RoutingSettings()
        assert parsed.webhook_allowed_networks == (
            ipaddress.ip_network("10.0.0.0/8"),
            ipaddress.ip_network("fd12::/16"),
        )
        monkeypatch.setenv("ROUTING_WEBHOOK_ALLOWED_NETWORKS", '["10.1.2.3/8"]')
        with pytest.raises(ValidationError):
            RoutingSettings()

    def test_loopback_is_development_only(self, monkeypatch: pytest.MonkeyPatch) -> None:
        assert RoutingSettings().webhook_loopback_allowed()  # testing: allowed unless refused
        assert not RoutingSettings(webhook_allow_loopback=False).webhook_loopback_allowed()
        assert not RoutingSettings(webhook_allow_private=False).webhook_loopback_allowed()

        production = CommonSettings(
            env="production", secret_key="x" * 40, database_url="x", redis_url="x"
        )
        monkeypatch.setattr(RoutingSettings, "common", lambda self: production)
        assert not RoutingSettings().webhook_loopback_allowed()
        with pytest.raises(ValidationError, match="ROUTING_WEBHOOK_ALLOW_LOOPBACK"):
            RoutingSettings(webhook_allow_loopback=True)
        with pytest.raises(ValidationError, match="ROUTING_WEBHOOK_ALLOWED_NETWORKS"):
            RoutingSettings(webhook_allow_private=True)
        assert not RoutingSettings(webhook_allow_private=False).webhook_loopback_allowed()
