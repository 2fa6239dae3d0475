"""The services that exist in this installation, found by import (a deployment may ship fewer)."""

from __future__ import annotations

import importlib

from services.spec import ServiceSpec

SERVICE_NAMES = ("intake", "routing", "scoring")


def available_specs() -> list[ServiceSpec]:
    specs = []
    for name in SERVICE_NAMES:
        try:
            module = importlib.import_module(f"{name}_service.spec")
        except ModuleNotFoundError:
            continue
        specs.append(module.spec)
    return specs


def get_spec(name: str) -> ServiceSpec:
    for spec in available_specs():
        if spec.name == name:
            return spec
    raise LookupError(f"unknown service {name!r}; available: {[s.name for s in available_specs()]}")
