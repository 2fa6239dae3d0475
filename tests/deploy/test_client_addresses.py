"""Client addresses behind proxies: uvicorn never rewrites the client from X-Forwarded-For
(``--forwarded-allow-ips=*`` once let any client lift a lockout), and the ``TRUSTED_PROXIES`` the
deploy files set are narrow networks the services accept."""

from __future__ import annotations

import ipaddress
import json
import re
from pathlib import Path

import pytest
import yaml

from services.settings import CommonSettings
from tests.deploy.crosscheck import DEPLOY, check_command
from tests.deploy.test_manifests import KUSTOMIZATIONS, compose, config_data, dockerfile_stages

# Any spelling of "uvicorn, trust every forwarder": the option with `*`, or its environment
# variable (which uvicorn reads when the option is absent).
TRUST_EVERYONE = re.compile(r"forwarded[-_]allow[-_]ips\s*[=:\"', ]+\s*[\"']?\*", re.IGNORECASE)
FORWARDED_ENV = re.compile(r"\bFORWARDED_ALLOW_IPS\b")
API_COMMAND = ["python", "-m", "uvicorn", "intake_service.app:app", "--host", "0.0.0.0"]
API_COMMAND += ["--port", "8001", "--no-proxy-headers"]


def deploy_text_files() -> list[Path]:
    files = []
    for path in sorted(DEPLOY.rglob("*")):
        if path.is_file():
            try:
                path.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                continue
            files.append(path)
    return files


def test_no_deploy_file_lets_uvicorn_trust_every_forwarder() -> None:
    files = deploy_text_files()
    assert DEPLOY / "compose.yaml" in files
    assert DEPLOY / "Dockerfile" in files
    found = [
        f"{path.relative_to(DEPLOY)}: {match.group(0)!r}"
        for path in files
        for pattern in (TRUST_EVERYONE, FORWARDED_ENV)
        for match in pattern.finditer(path.read_text(encoding="utf-8"))
    ]
    assert found == []


@pytest.mark.parametrize(
    "text",
    [
        '"--proxy-headers", "--forwarded-allow-ips=*"',
        "--forwarded-allow-ips '*'",
        '"--forwarded-allow-ips", "*"',
        "FORWARDED_ALLOW_IPS: '*'",
        "- FORWARDED_ALLOW_IPS=10.0.0.0/8",
    ],
)
def test_the_file_scan_finds_each_spelling(text: str) -> None:
    assert TRUST_EVERYONE.search(text) or FORWARDED_ENV.search(text)


def test_the_command_check_refuses_uvicorn_rewriting_the_client() -> None:
    _role, _service, problems = check_command(API_COMMAND)
    assert problems == []
    without = [a for a in API_COMMAND if a != "--no-proxy-headers"]
    for argv in (
        [*without, "--proxy-headers", "--forwarded-allow-ips=*"],
        [*API_COMMAND, "--forwarded-allow-ips", "10.0.0.1"],
        without,  # uvicorn's default: proxy headers on, trusting 127.0.0.1
        [*API_COMMAND, "--proxy-headers"],
    ):
        _role, _service, problems = check_command(argv)
        assert problems, argv


def test_every_api_command_turns_proxy_headers_off() -> None:
    """Also covered by the command cross-checks; named here so a rename cannot lose it."""
    commands = [
        service["command"]
        for name, service in compose()["services"].items()
        if name.endswith("-api")
    ]
    final = dockerfile_stages()[-1]
    commands.append(json.loads(next(rest for kw, rest in final if kw == "CMD")))
    for base in (DEPLOY / "k8s" / "base").glob("*.yaml"):
        for document in yaml.safe_load_all(base.read_text(encoding="utf-8")):
            if document and document.get("kind") == "Deployment":
                container = document["spec"]["template"]["spec"]["containers"][0]
                if container["args"][2] == "uvicorn":
                    commands.append(container["args"])
    assert len(commands) == 7  # 3 compose APIs, the image's CMD, 3 Deployments
    for argv in commands:
        assert "--no-proxy-headers" in argv, argv
        assert not [a for a in argv if a.startswith("--forwarded-allow-ips")], argv


def _proxies(value: str) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """The networks as the services would read them (the setting's own validation)."""
    networks = CommonSettings.model_validate({"trusted_proxies": json.loads(value)}).trusted_proxies
    assert networks, f"{value!r}: no proxy trusted, the per-IP limits would count the proxy"
    for network in networks:
        assert network.is_private, f"{network}: a proxy network is internal"
        assert network.prefixlen >= 16, f"{network}: broader than one cluster's pod network"
    return networks


def _compose_default(value: str) -> str:
    match = re.fullmatch(r"\$\{TRUSTED_PROXIES:-(.*)\}", value)
    assert match, f"compose should let deploy/.env override TRUSTED_PROXIES: {value!r}"
    return match.group(1)


def test_compose_trusts_only_its_network_gateway() -> None:
    data = compose()
    gateways = [
        ipaddress.ip_address(pool["gateway"])
        for pool in data["networks"]["default"]["ipam"]["config"]
    ]
    for name, service in data["services"].items():
        if not name.endswith("-api"):
            continue
        networks = _proxies(_compose_default(service["environment"]["TRUSTED_PROXIES"]))
        # The published ports arrive from the gateway (the host's TLS proxy), and only it.
        assert [n.num_addresses for n in networks] == [1], name
        assert networks[0].network_address in gateways, name


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_kubernetes_trusts_the_ingress_network(directory: Path) -> None:
    _proxies(config_data(directory)["TRUSTED_PROXIES"])


def test_the_setting_refuses_trusting_everyone() -> None:
    for value in ('["0.0.0.0/0"]', '["::/0"]', '["10.0.0.1/8"]', '["proxy"]'):
        with pytest.raises(ValueError, match="trusted_proxies"):
            CommonSettings.model_validate({"trusted_proxies": json.loads(value)})
