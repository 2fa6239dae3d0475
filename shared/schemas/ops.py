"""What ``/healthz`` and ``/readyz`` answer (every service, ``services.app``)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from shared.schemas.base import Schema

__all__ = ["DependencyCheck", "Liveness", "Readiness", "ReadinessChecks"]


class Liveness(Schema):
    status: Literal["ok"] = Field(description="Always `ok`: the process answers")
    service: str = Field(description="`intake`, `routing` or `scoring`")


class DependencyCheck(Schema):
    status: Literal["ok", "error"]
    error: str | None = Field(
        None, description="Why the check failed: an exception class name or `timeout`"
    )
    required: bool = Field(
        description="Whether a failure makes the service unready (503); a dependency that is not "
        "required leaves it serving, degraded"
    )
    seconds: float = Field(description="How long the check took")


class ReadinessChecks(Schema):
    database: DependencyCheck = Field(description="`SELECT 1` on the service's database")
    redis: DependencyCheck = Field(description="`PING` to Redis (arq queues, rate limits)")


class Readiness(Schema):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="`ok`: every check passed; `degraded`: only a dependency that is not "
        "required failed (200); `unavailable`: a required one failed (503)"
    )
    service: str
    failed: list[Literal["database", "redis"]] = Field(
        description="The dependencies whose check failed, required or not"
    )
    checks: ReadinessChecks
