"""A minimal kustomize renderer for the features deploy/k8s uses, so the rendered objects can be
validated without the kustomize binary (there is none on these machines).

Supported kustomization fields: ``resources`` (files and directories), ``namespace``, ``labels``
(``pairs`` + ``includeSelectors``), ``images``, ``replicas``, ``configMapGenerator`` (``literals``,
``envs``; ``behavior`` create/merge/replace; ``options.labels``/``annotations``/
``disableNameSuffixHash``) with kustomize's content-hash name suffix and reference rewriting in pod
templates, and ``patches`` (strategic merge by kind and name, or RFC 6902 JSON patches with a
``target``). Any other field is an error, so a kustomization using something this renderer does
not understand fails the test instead of rendering wrongly.
"""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

__all__ = ["KustomizeError", "render"]

Obj = dict[str, Any]

SUPPORTED_FIELDS = {
    "apiVersion",
    "kind",
    "resources",
    "namespace",
    "labels",
    "images",
    "replicas",
    "configMapGenerator",
    "patches",
}
CLUSTER_SCOPED = {
    "Namespace",
    "PersistentVolume",
    "StorageClass",
    "IngressClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "PriorityClass",
    "CustomResourceDefinition",
}
POD_TEMPLATE_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"}
# Lists that strategic merge patches merge by a key instead of replacing (patchMergeKey).
MERGE_KEYS = {
    "containers": "name",
    "initContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
}


class KustomizeError(Exception):
    pass


def render(directory: Path) -> list[Obj]:
    """Render the kustomization in ``directory`` into a list of objects."""
    objects, generators = _build(directory.resolve())
    objects = objects + [_generated_config_map(gen) for gen in generators.values()]
    _rename_generated(objects, generators)
    return objects


class _Generator:
    def __init__(self, name: str, data: dict[str, str], options: dict[str, Any]) -> None:
        self.name = name
        self.data = data
        self.options = options

    @property
    def final_name(self) -> str:
        if self.options.get("disableNameSuffixHash"):
            return self.name
        return f"{self.name}-{config_map_hash(self.name, self.data)}"


def _build(directory: Path) -> tuple[list[Obj], dict[str, _Generator]]:
    path = directory / "kustomization.yaml"
    if not path.exists():
        raise KustomizeError(f"no kustomization.yaml in {directory}")
    spec = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(spec) - SUPPORTED_FIELDS
    if unknown:
        raise KustomizeError(f"{path}: fields this renderer does not support: {sorted(unknown)}")
    if spec.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeError(f"{path}: kind must be Kustomization")

    objects: list[Obj] = []
    generators: dict[str, _Generator] = {}
    for entry in spec.get("resources", []):
        target = (directory / entry).resolve()
        if target.is_dir():
            sub_objects, sub_generators = _build(target)
            objects.extend(sub_objects)
            for name, gen in sub_generators.items():
                if name in generators:
                    raise KustomizeError(f"{path}: generator {name} defined twice")
                generators[name] = gen
        elif target.is_file():
            objects.extend(_load_documents(target))
        else:
            raise KustomizeError(f"{path}: resource {entry} does not exist")

    for gen_spec in spec.get("configMapGenerator", []):
        _apply_generator(path, directory, gen_spec, generators)

    for patch in spec.get("patches", []):
        _apply_patch(path, directory, patch, objects)

    for rule in spec.get("images", []):
        _apply_image(rule, objects)

    for rule in spec.get("replicas", []):
        found = [
            o
            for o in objects
            if o["kind"] in {"Deployment", "StatefulSet", "ReplicaSet"}
            and o["metadata"]["name"] == rule["name"]
        ]
        if not found:
            raise KustomizeError(f"{path}: replicas: no workload named {rule['name']}")
        for obj in found:
            obj["spec"]["replicas"] = int(rule["count"])

    for label_rule in spec.get("labels", []):
        unknown_keys = set(label_rule) - {"pairs", "includeSelectors"}
        if unknown_keys:
            raise KustomizeError(f"{path}: labels: unsupported keys {sorted(unknown_keys)}")
        pairs = label_rule.get("pairs", {})
        for obj in objects:
            obj["metadata"].setdefault("labels", {}).update(pairs)
            if label_rule.get("includeSelectors"):
                raise KustomizeError(f"{path}: labels.includeSelectors is not supported")
        for gen in generators.values():
            gen.options.setdefault("labels", {}).update(pairs)

    namespace = spec.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
        for gen in generators.values():
            gen.options["namespace"] = namespace
    return objects, generators


def _load_documents(path: Path) -> list[Obj]:
    docs = [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]
    for doc in docs:
        if not isinstance(doc, dict) or "kind" not in doc or "metadata" not in doc:
            raise KustomizeError(f"{path}: every document must be a Kubernetes object")
    return docs


def _parse_literals(items: list[str], where: str) -> dict[str, str]:
    data: dict[str, str] = {}
    for item in items:
        if "=" not in item:
            raise KustomizeError(f"{where}: literal {item!r} is not KEY=VALUE")
        key, value = item.split("=", 1)
        if key in data:
            raise KustomizeError(f"{where}: literal {key} given twice")
        data[key] = value
    return data


def _parse_env_file(path: Path) -> dict[str, str]:
    data: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, _, value = line.partition("=")
        data[key.strip()] = value
    return data


def _apply_generator(
    path: Path, directory: Path, gen_spec: dict[str, Any], generators: dict[str, _Generator]
) -> None:
    unknown = set(gen_spec) - {"name", "behavior", "literals", "envs", "options"}
    if unknown:
        raise KustomizeError(f"{path}: configMapGenerator: unsupported keys {sorted(unknown)}")
    name = gen_spec["name"]
    data = _parse_literals(gen_spec.get("literals", []), str(path))
    for env_file in gen_spec.get("envs", []):
        data.update(_parse_env_file(directory / env_file))
    options = dict(gen_spec.get("options", {}))
    unknown_options = set(options) - {"labels", "annotations", "disableNameSuffixHash"}
    if unknown_options:
        raise KustomizeError(f"{path}: generator options not supported: {sorted(unknown_options)}")
    behavior = gen_spec.get("behavior", "create")
    existing = generators.get(name)
    if behavior == "create":
        if existing is not None:
            raise KustomizeError(f"{path}: generator {name} already exists (use behavior: merge)")
        generators[name] = _Generator(name, data, options)
    elif behavior in ("merge", "replace"):
        if existing is None:
            raise KustomizeError(f"{path}: generator {name} to {behavior} does not exist")
        existing.data = {**existing.data, **data} if behavior == "merge" else data
        for key in ("labels", "annotations"):
            if key in options:
                existing.options.setdefault(key, {}).update(options[key])
        if "disableNameSuffixHash" in options:
            existing.options["disableNameSuffixHash"] = options["disableNameSuffixHash"]
    else:
        raise KustomizeError(f"{path}: unknown generator behavior {behavior}")


def _generated_config_map(gen: _Generator) -> Obj:
    metadata: Obj = {"name": gen.final_name}
    if gen.options.get("namespace"):
        metadata["namespace"] = gen.options["namespace"]
    if gen.options.get("labels"):
        metadata["labels"] = dict(gen.options["labels"])
    if gen.options.get("annotations"):
        metadata["annotations"] = dict(gen.options["annotations"])
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": dict(gen.data)}


def config_map_hash(name: str, data: dict[str, str]) -> str:
    """kustomize's name suffix: sha256 of the Go JSON encoding of {data, kind, name}, first 10 hex
    characters with 0, 1, 3, a, e replaced (api/hasher)."""
    encoded = json.dumps(
        {"data": data, "kind": "ConfigMap", "name": name},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )
    # Go's encoder escapes these for HTML safety.
    encoded = encoded.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    digest = hashlib.sha256(encoded.encode("utf-8")).hexdigest()[:10]
    return digest.translate(str.maketrans({"0": "g", "1": "h", "3": "k", "a": "m", "e": "t"}))


def _pod_specs(obj: Obj) -> list[Obj]:
    if obj["kind"] in POD_TEMPLATE_KINDS:
        return [obj["spec"]["template"]["spec"]]
    if obj["kind"] == "CronJob":
        return [obj["spec"]["jobTemplate"]["spec"]["template"]["spec"]]
    if obj["kind"] == "Pod":
        return [obj["spec"]]
    return []


def _rename_generated(objects: list[Obj], generators: dict[str, _Generator]) -> None:
    names = {name: gen.final_name for name, gen in generators.items()}
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
                for source in container.get("envFrom", []):
                    ref = source.get("configMapRef")
                    if ref and ref.get("name") in names:
                        ref["name"] = names[ref["name"]]
                for env in container.get("env", []):
                    ref = env.get("valueFrom", {}).get("configMapKeyRef")
                    if ref and ref.get("name") in names:
                        ref["name"] = names[ref["name"]]
            for volume in pod.get("volumes", []):
                ref = volume.get("configMap")
                if ref and ref.get("name") in names:
                    ref["name"] = names[ref["name"]]


def _apply_image(rule: dict[str, Any], objects: list[Obj]) -> None:
    matched = False
    for obj in objects:
        for pod in _pod_specs(obj):
            for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
                image: str = container["image"]
                name, tag = _split_image(image)
                if name != rule["name"]:
                    continue
                matched = True
                new_name = rule.get("newName", name)
                if "digest" in rule:
                    container["image"] = f"{new_name}@{rule['digest']}"
                else:
                    new_tag = rule.get("newTag", tag)
                    container["image"] = f"{new_name}:{new_tag}" if new_tag else new_name
    if not matched:
        raise KustomizeError(f"images: no container uses image {rule['name']}")


def _split_image(image: str) -> tuple[str, str | None]:
    if "@" in image:
        return image.split("@", 1)[0], None
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = image.rsplit(":", 1)
        return name, tag
    return image, None


def _apply_patch(path: Path, directory: Path, patch: dict[str, Any], objects: list[Obj]) -> None:
    unknown = set(patch) - {"path", "patch", "target"}
    if unknown:
        raise KustomizeError(f"{path}: patches: unsupported keys {sorted(unknown)}")
    text = (
        (directory / patch["path"]).read_text(encoding="utf-8")
        if "path" in patch
        else patch["patch"]
    )
    docs = [d for d in yaml.safe_load_all(text) if d is not None]
    target = patch.get("target")
    if len(docs) == 1 and isinstance(docs[0], list):
        if not target:
            raise KustomizeError(f"{path}: a JSON patch needs a target")
        matches = _select(objects, target)
        if not matches:
            raise KustomizeError(f"{path}: patch target {target} matches nothing")
        for obj in matches:
            _json_patch(obj, docs[0])
        return
    if target and len(docs) > 1:
        raise KustomizeError(f"{path}: several strategic merge patches cannot share a target")
    for doc in docs:
        selector = target or {"kind": doc["kind"], "name": doc["metadata"]["name"]}
        matches = _select(objects, selector)
        if not matches:
            raise KustomizeError(f"{path}: patch for {selector} matches nothing")
        for obj in matches:
            merged = strategic_merge(obj, doc)
            obj.clear()
            obj.update(merged)


def _select(objects: list[Obj], target: dict[str, Any]) -> list[Obj]:
    unknown = set(target) - {"kind", "name", "group", "version"}
    if unknown:
        raise KustomizeError(f"patch target: unsupported keys {sorted(unknown)}")
    return [
        obj
        for obj in objects
        if obj["kind"] == target.get("kind", obj["kind"])
        and obj["metadata"]["name"] == target.get("name", obj["metadata"]["name"])
    ]


def strategic_merge(base: Any, patch: Any, key: str | None = None) -> Any:
    """Strategic merge of the subset kustomize users meet in practice: maps merge recursively,
    ``null`` deletes, lists listed in MERGE_KEYS merge by their key, other lists are replaced."""
    if isinstance(base, dict) and isinstance(patch, dict):
        result = copy.deepcopy(base)
        for name, value in patch.items():
            if value is None:
                result.pop(name, None)
            elif name in result:
                result[name] = strategic_merge(result[name], value, name)
            else:
                result[name] = copy.deepcopy(value)
        return result
    if isinstance(base, list) and isinstance(patch, list) and key in MERGE_KEYS:
        merge_key = MERGE_KEYS[key]
        result_list = copy.deepcopy(base)
        for item in patch:
            for index, existing in enumerate(result_list):
                if existing.get(merge_key) == item.get(merge_key):
                    result_list[index] = strategic_merge(existing, item)
                    break
            else:
                result_list.append(copy.deepcopy(item))
        return result_list
    return copy.deepcopy(patch)


def _json_patch(obj: Obj, operations: list[dict[str, Any]]) -> None:
    for op in operations:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].lstrip("/").split("/")]
        parent: Any = obj
        for part in parts[:-1]:
            parent = parent[int(part)] if isinstance(parent, list) else parent[part]
        last = parts[-1]
        kind = op["op"]
        if isinstance(parent, list):
            index = len(parent) if last == "-" else int(last)
            if kind == "add":
                parent.insert(index, copy.deepcopy(op["value"]))
            elif kind == "replace":
                parent[index] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[index]
            else:
                raise KustomizeError(f"unsupported JSON patch op {kind}")
        else:
            if kind in ("replace", "remove") and last not in parent:
                raise KustomizeError(f"JSON patch {kind} of missing path {op['path']}")
            if kind in ("add", "replace"):
                parent[last] = copy.deepcopy(op["value"])
            elif kind == "remove":
                del parent[last]
            else:
                raise KustomizeError(f"unsupported JSON patch op {kind}")
