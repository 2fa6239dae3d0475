"""What the runtime kit needs to know about one service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import MetaData
from sqlalchemy.ext.asyncio import AsyncSession

from services.models import ApiKeyMixin, IdempotencyRecordMixin, InboxEventMixin, OutboxEventMixin
from services.settings import BaseServiceSettings


@dataclass(frozen=True)
class ServiceSpec:
    name: str  # also the PostgreSQL schema and the arq queue
    port: int
    settings: BaseServiceSettings
    metadata: MetaData
    outbox_model: type[OutboxEventMixin]
    inbox_model: type[InboxEventMixin]
    idempotency_model: type[IdempotencyRecordMixin]
    api_key_model: type[ApiKeyMixin]
    package_dir: Path
    # Service-specific gauges refreshed on each /metrics scrape (cheap, indexed queries only).
    refresh_metrics: Callable[[AsyncSession], Awaitable[None]] | None = None

    @property
    def alembic_ini(self) -> Path:
        return self.package_dir / "alembic.ini"

    @property
    def app_path(self) -> str:
        return f"{self.name}_service.app:app"

    @property
    def worker_path(self) -> str:
        return f"{self.name}_service.worker.WorkerSettings"
