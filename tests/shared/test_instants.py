"""One datetime style: every instant a response or a webhook payload carries is declared
``Instant`` (UTC, written with ``Z``), whatever offset the value had inside the service."""

from __future__ import annotations

import importlib
import pkgutil
import typing
from datetime import UTC, datetime, timedelta, timezone

from pydantic import AfterValidator, BaseModel

from shared.schemas.base import InputSchema, Instant, Schema, rfc3339, to_utc

PACKAGES = ("shared", "intake_service", "routing_service", "scoring_service", "services")


def _output_models() -> set[type[BaseModel]]:
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for module in pkgutil.walk_packages(package.__path__, f"{package_name}."):
            if ".migrations" in module.name or module.name.endswith(("__main__", ".demo")):
                continue
            importlib.import_module(module.name)
    found: set[type[BaseModel]] = set()
    pending: list[type[BaseModel]] = [Schema]
    while pending:
        model = pending.pop()
        for sub in model.__subclasses__():
            pending.append(sub)
            if not issubclass(sub, InputSchema) and sub.__module__.split(".")[0] in PACKAGES:
                found.add(sub)
    return found


def _mentions_datetime(annotation: object) -> bool:
    if annotation is datetime:
        return True
    return any(_mentions_datetime(arg) for arg in typing.get_args(annotation))


def _is_instant(metadata: list[object]) -> bool:
    return any(isinstance(m, AfterValidator) and m.func is to_utc for m in metadata)


def test_every_instant_in_a_response_is_declared_instant() -> None:
    wrong = []
    for model in _output_models():
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if not _mentions_datetime(annotation):
                continue
            metadata = list(field.metadata)
            for arg in typing.get_args(annotation):
                if typing.get_origin(arg) is typing.Annotated:
                    metadata.extend(arg.__metadata__)
            if not _is_instant(metadata):
                wrong.append(f"{model.__module__}.{model.__qualname__}.{name}")
    assert not wrong, "declare these Instant, not datetime: " + ", ".join(sorted(wrong))


def test_an_instant_is_written_in_utc_with_z() -> None:
    class Example(Schema):
        at: Instant
        maybe: Instant | None = None

    shanghai = timezone(timedelta(hours=8))
    example = Example(at=datetime(2026, 12, 7, 17, 30, tzinfo=shanghai), maybe=datetime(2026, 1, 1))
    assert example.model_dump(mode="json") == {
        "at": "2026-12-07T09:30:00Z",
        "maybe": "2026-01-01T00:00:00Z",
    }
    assert rfc3339(datetime(2026, 12, 7, 17, 30, 5, 120000, tzinfo=shanghai)) == (
        "2026-12-07T09:30:05.120000Z"
    )
    assert to_utc(datetime(2026, 1, 1, tzinfo=UTC)).tzinfo is UTC
