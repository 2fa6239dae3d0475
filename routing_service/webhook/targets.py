"""Where webhooks may go: the one decision on a target address, and the parsing and resolution
that feed it at subscription time and at every delivery attempt.

A department system usually lives on a government intranet, so private ranges are allowed when
listed in ``ROUTING_WEBHOOK_ALLOWED_NETWORKS``; otherwise only public unicast internet addresses
are. Loopback (only with the development allowance), link-local, cloud metadata, unspecified,
multicast and reserved addresses are refused whatever the list says.

The check is made on *resolved* addresses: a host name counts for what it resolves to, and a
delivery connects to the very address that was checked (:func:`vet`), so a second, different
answer from DNS (rebinding) never reaches a socket.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote, urlsplit, urlunsplit

import httpx

from routing_service.config import settings

__all__ = [
    "IPAddress",
    "Refusal",
    "Target",
    "TargetError",
    "TargetInvalid",
    "TargetRefused",
    "TargetUnresolved",
    "parse_target",
    "refusal",
    "resolve",
    "vet",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Refusal = Literal[
    "loopback", "link_local", "metadata", "unspecified", "multicast", "reserved", "not_allowed"
]

REASONS_ZH: dict[Refusal, str] = {
    "loopback": "本机回环地址",
    "link_local": "链路本地地址",
    "metadata": "云平台元数据地址",
    "unspecified": "未指定地址",
    "multicast": "组播地址",
    "reserved": "保留地址",
    "not_allowed": "不在允许网段内的内网地址",
}
REASONS_EN: dict[Refusal, str] = {
    "loopback": "a loopback address",
    "link_local": "a link-local address",
    "metadata": "a cloud metadata address",
    "unspecified": "an unspecified address",
    "multicast": "a multicast address",
    "reserved": "a reserved address",
    "not_allowed": "a non-public address outside the allowed networks",
}

# Instance metadata services: AWS/Huawei/OpenStack, AWS over IPv6, Alibaba Cloud (the last sits
# in the shared address space 100.64/10, which an allowed-networks entry could otherwise cover).
METADATA_ADDRESSES: frozenset[IPAddress] = frozenset(
    {
        ipaddress.IPv4Address("169.254.169.254"),
        ipaddress.IPv6Address("fd00:ec2::254"),
        ipaddress.IPv4Address("100.100.100.200"),
    }
)
# 0.0.0.0/8 is "this network": connecting to any of it reaches the local host on Linux.
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")
MAX_ADDRESSES = 8


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv4-mapped (``::ffff:a.b.c.d``) or 6to4 address reaches."""
    return address.ipv4_mapped or address.sixtofour


def refusal(
    address: IPAddress,
    *,
    allowed_networks: Sequence[ipaddress.IPv4Network | ipaddress.IPv6Network] | None = None,
    allow_loopback: bool | None = None,
) -> Refusal | None:
    """Why ``address`` may not be a webhook target, or ``None`` when it may.

    Args:
        address: a resolved or literal address.
        allowed_networks: the networks allowed besides the public internet (default: the
            setting ``ROUTING_WEBHOOK_ALLOWED_NETWORKS``).
        allow_loopback: whether loopback is allowed (default: the development allowance;
            never in production).
    """
    if allowed_networks is None:
        allowed_networks = settings.webhook_allowed_networks
    if allow_loopback is None:
        allow_loopback = settings.webhook_loopback_allowed()
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            inner = refusal(
                embedded, allowed_networks=allowed_networks, allow_loopback=allow_loopback
            )
            # A mapped address *is* the IPv4 one; a 6to4 one must also pass as itself.
            if inner is not None or address.ipv4_mapped is not None:
                return inner
        if address.scope_id is not None:  # resolvers may answer fe80::1%eth0
            address = ipaddress.IPv6Address(str(address).split("%", 1)[0])
    if address in METADATA_ADDRESSES:
        return "metadata"
    if address.is_unspecified or (
        isinstance(address, ipaddress.IPv4Address) and address in _THIS_NETWORK
    ):
        return "unspecified"
    if address.is_loopback:
        return None if allow_loopback else "loopback"
    if address.is_link_local:
        return "link_local"
    if address.is_multicast:
        return "multicast"
    if address.is_reserved:
        return "reserved"
    if any(address in network for network in allowed_networks):
        return None
    return None if address.is_global else "not_allowed"


# ---------------------------------------------------------------------------- parsing


class TargetError(Exception):
    """A URL that cannot be a webhook target; ``message``/``message_en`` say why."""

    def __init__(self, message: str, message_en: str) -> None:
        super().__init__(message_en)
        self.message = message
        self.message_en = message_en


class TargetInvalid(TargetError):
    """Malformed: not http(s), no host, user info, a bad port or a numeric host that is no
    IPv4 address."""


class TargetRefused(TargetError):
    """The host is, or resolves to, an address :func:`refusal` refuses."""

    def __init__(self, host: str, address: IPAddress, reason: Refusal) -> None:
        super().__init__(
            f"Webhook 地址的主机 {host} 指向{REASONS_ZH[reason]}({address}),不允许作为投递目标",
            f"Webhook host {host} points to {REASONS_EN[reason]} ({address}), which is not "
            "an allowed target",
        )
        self.host = host
        self.address = address
        self.reason = reason


class TargetUnresolved(TargetError):
    """The host name did not resolve (now): a temporary failure, not a verdict."""


@dataclass(frozen=True, slots=True)
class Target:
    url: httpx.URL
    host: str  # ASCII (IDNA) host name, or the normalised address of a literal
    port: int
    literal: IPAddress | None  # the address when the URL names one (in any notation)

    @property
    def named(self) -> bool:
        """Whether the URL has a host name (for TLS SNI), not an address."""
        return self.literal is None or self.host != str(self.literal)


_DECIMAL = re.compile(r"[0-9]+")
_HEX = re.compile(r"0[xX][0-9a-fA-F]*")
_OCTAL = re.compile(r"0[0-7]+")


def _ipv4_label(label: str) -> int | None:
    """One label of a WHATWG IPv4 host (decimal, ``0x`` hex or ``0`` octal), else ``None``."""
    if _HEX.fullmatch(label):
        return int(label[2:] or "0", 16)
    if _OCTAL.fullmatch(label):
        return int(label[1:], 8)
    if _DECIMAL.fullmatch(label) and not (len(label) > 1 and label.startswith("0")):
        return int(label)
    return None


def _ipv4_literal(host: str) -> ipaddress.IPv4Address | None:
    """The address of a host that *ends in a number* (``2130706433``, ``0x7f000001``,
    ``0177.0.0.1``, ``127.1``), as browsers and ``inet_aton`` read it; ``None`` for a name.
    Raises :class:`TargetInvalid` for a numeric host that is no address (``1.2.3.256``)."""
    labels = host.split(".")
    if len(labels) > 1 and labels[-1] == "":
        labels.pop()
    last_label = labels[-1] if labels else ""
    if _ipv4_label(last_label) is None and not (last_label.isascii() and last_label.isdigit()):
        return None
    numbers = [_ipv4_label(label) for label in labels]
    invalid = TargetInvalid(
        f"主机 {host} 不是有效的 IPv4 地址", f"Host {host} is not a valid IPv4 address"
    )
    if len(labels) > 4 or any(number is None for number in numbers):
        raise invalid
    *head, last = [number for number in numbers if number is not None]
    if any(number > 255 for number in head) or last >= 256 ** (5 - len(numbers)):
        raise invalid
    value = last
    for index, number in enumerate(head):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _invalid_host(host: str) -> TargetInvalid:
    return TargetInvalid(f"URL 的主机 {host} 无效", f"Invalid host in URL: {host}")


def parse_target(url: str) -> Target:
    """Parse a webhook URL strictly, normalising an address literal in any notation.

    The standard library's parser finds the host and httpx's builds the request; a URL they
    read differently is refused rather than checked by one and sent by the other.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise TargetInvalid("URL 格式无效", "Malformed URL") from exc
    hostname = parts.hostname
    if parts.scheme not in ("http", "https") or not hostname:
        raise TargetInvalid(
            "URL 须以 http:// 或 https:// 开头并包含主机名", "URL must be http(s) with a host"
        )
    if "@" in parts.netloc:
        raise TargetInvalid("URL 不能包含用户名或密码", "URL must not contain user information")
    if port is not None and not 0 < port < 65536:
        raise TargetInvalid("URL 端口无效", "Invalid port in URL")
    literal: IPAddress | None
    if ":" in hostname:
        try:
            # A zone (%25eth0) only means something on the sending host: the address counts.
            literal = ipaddress.IPv6Address(unquote(hostname).split("%", 1)[0])
        except ValueError as exc:
            raise _invalid_host(hostname) from exc
    else:
        literal = _ipv4_literal(hostname)
    if literal is not None:
        # httpx reads only the dotted-quad notation: send the normalised address.
        netloc = f"[{literal}]" if literal.version == 6 else str(literal)
        if port is not None:
            netloc += f":{port}"
        url = urlunsplit(parts._replace(netloc=netloc))
    try:
        request_url = httpx.URL(url)
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise TargetInvalid("URL 格式无效", "Malformed URL") from exc
    if request_url.userinfo or request_url.scheme != parts.scheme:
        raise TargetInvalid("URL 格式无效", "Malformed URL")
    host = request_url.raw_host.decode("ascii").lower()
    if literal is None and request_url.host.lower() != hostname:
        raise _invalid_host(hostname)
    port = request_url.port or (443 if request_url.scheme == "https" else 80)
    if literal is None and host.rstrip(".").rsplit(".", 1)[-1] == "localhost":
        # RFC 6761: localhost and *.localhost are loopback, whatever a resolver says.
        return Target(request_url, host, port, ipaddress.IPv4Address("127.0.0.1"))
    return Target(request_url, str(literal) if literal is not None else host, port, literal)


# ------------------------------------------------------------------------- resolution


async def resolve(host: str, port: int) -> list[IPAddress]:
    """The addresses a host name resolves to, in the resolver's order (getaddrinfo on the event
    loop's executor). Raises ``OSError`` (``socket.gaierror``) when it does not resolve."""
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        # The zone of a scoped answer (fe80::1%eth0) is no part of the address checked.
        address = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if address not in addresses:
            addresses.append(address)
    return addresses


async def vet(target: Target, *, timeout: float) -> list[IPAddress]:
    """The addresses to connect to for ``target``: all of them allowed, at least one.

    Raises :class:`TargetRefused` if any address the host resolves to is refused (a name with
    one bad address is refused outright rather than filtered, so it never half-works) and
    :class:`TargetUnresolved` when the name does not resolve within ``timeout`` seconds.
    """
    if target.literal is not None:
        addresses: list[IPAddress] = [target.literal]
    else:
        try:
            async with asyncio.timeout(timeout):
                addresses = (await resolve(target.host, target.port))[:MAX_ADDRESSES]
        except (OSError, TimeoutError, UnicodeError) as exc:
            raise TargetUnresolved(
                f"无法解析主机 {target.host}", f"Host {target.host} does not resolve: {exc}"
            ) from exc
        if not addresses:
            raise TargetUnresolved(
                f"无法解析主机 {target.host}", f"Host {target.host} resolves to no address"
            )
    for address in addresses:
        reason = refusal(address)
        if reason is not None:
            raise TargetRefused(target.host, address, reason)
    return addresses
