"""Settings common to every service, and the base class each service's settings extend.

Each service reads its own variables with its prefix (``INTAKE_``, ``ROUTING_``, ``SCORING_``);
``DATABASE_URL``, ``REDIS_URL`` and friends are common to all of them, and a prefixed variable
(``INTAKE_DATABASE_URL``) overrides the common one for that service only.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Literal

from pydantic import Field, IPvAnyNetwork, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Environment = Literal["development", "testing", "production"]

DEV_SECRET = "development-only-secret-change-me-in-production"


class CommonSettings(BaseSettings):
    """Variables shared by all services (no prefix)."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    env: Environment = "development"
    database_url: str | None = None
    redis_url: str | None = None
    var_dir: Path = Path("var")
    log_level: str = "INFO"
    log_json: bool = True
    secret_key: str = DEV_SECRET
    intake_url: str = "http://127.0.0.1:8001"
    routing_url: str = "http://127.0.0.1:8002"
    scoring_url: str = "http://127.0.0.1:8003"
    cors_origins: list[str] = Field(default_factory=list)
    # The reverse proxies (CIDRs, JSON list) whose X-Forwarded-For is believed when they are the
    # direct peer (services/ratelimit.py client_ip). Empty: no forwarded header is believed, the
    # peer is the client. Only the ingress/proxy network: any address listed here can claim to be
    # any client, and so escape every per-IP limit.
    trusted_proxies: list[IPvAnyNetwork] = Field(default_factory=list)
    # Field encryption (services/crypto.py): key ids → base64 SM4 keys (16 bytes), JSON. The
    # active id seals new values; the others still open older ones until the background
    # rotation has re-wrapped every value. Unset outside production: keys derived from
    # SECRET_KEY; in production every one is required.
    data_keys: dict[str, str] = Field(default_factory=dict)
    data_key_active: str | None = None
    # The ring of whistleblowers' identities, opened only by the discipline role's read path.
    confidential_keys: dict[str, str] = Field(default_factory=dict)
    confidential_key_active: str | None = None
    # HMAC-SM3 key (base64, ≥ 32 bytes) of the blind indexes; changing it means re-indexing.
    blind_index_key: str | None = None
    max_body_bytes: int = 12 * 1024 * 1024
    # Ping each pooled connection before use: one more round trip per transaction (about a tenth
    # of a submission's CPU here). Off by default: a connection a database restart cut fails
    # one request with a retryable 503 and SQLAlchemy then renews the whole pool.
    db_pool_pre_ping: bool = False
    # PostgreSQL's JIT for the services' connections. Off: it compiles any plan whose estimated
    # cost passes jit_above_cost, and a list query with a misestimated filter spent ~50 ms
    # compiling to answer in 10 ms; these services run short queries.
    db_jit: bool = False
    # How long an idle arq worker waits between queue polls; it bounds the pickup latency of a
    # job (arq's default is 0.5 s).
    worker_poll_seconds: float = 0.05
    # A worker that cannot reach Redis waits and retries instead of exiting: from this delay,
    # doubling per failure up to the cap, with jitter so replicas do not reconnect in step.
    worker_redis_retry_seconds: float = 0.5
    worker_redis_retry_max_seconds: float = 30.0
    # How old an API process's copy of the staff token cutoffs (services/auth.py) may get before
    # a request reloads it from Redis: the delay until a disabled, moved or re-roled staff
    # member's earlier tokens stop working everywhere.
    token_cutoff_refresh_seconds: float = 15.0
    # Staff sessions: a staff token lives this long, so a session nobody uses ends after it (the
    # idle timeout); POST /v1/auth/refresh renews it, for at most STAFF_SESSION_MAX_HOURS after
    # the sign-in (the absolute limit, carried in the token as ``auth_time``).
    staff_token_idle_minutes: int = Field(30, ge=1, le=24 * 60)
    staff_session_max_hours: int = Field(12, ge=1, le=30 * 24)
    # An external identity provider's tokens (RS256/ES256), verified against its JWKS.
    jwks_url: str | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_role_claim: str = "role"
    jwt_unit_claim: str = "unit"
    jwt_path_claim: str = "path"

    @field_validator("trusted_proxies")
    @classmethod
    def _not_everyone(cls, value: list[IPvAnyNetwork]) -> list[IPvAnyNetwork]:
        # 0.0.0.0/0 would be uvicorn's --forwarded-allow-ips=* again: every client its own proxy.
        if any(network.prefixlen == 0 for network in value):
            raise ValueError("TRUSTED_PROXIES must list the proxies' networks, not every address")
        return value

    def check_production(self) -> None:
        """Refuse development defaults where real data lives."""
        if self.env == "production":
            if self.secret_key == DEV_SECRET or len(self.secret_key) < 32:
                raise RuntimeError("SECRET_KEY must be set (at least 32 characters) in production")
            if not self.database_url or not self.redis_url:
                raise RuntimeError("DATABASE_URL and REDIS_URL must be set in production")
        from services.crypto import CryptoConfigError, load_keys

        try:
            load_keys(self)
        except CryptoConfigError as error:
            # Refuse to start: a service without its keys would store plaintext or lose data.
            raise RuntimeError(f"field encryption keys: {error}") from error


class BaseServiceSettings(BaseSettings):
    """Per-service settings; subclasses set ``env_prefix``."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    service_name: str = "service"
    database_url: str | None = None
    # Concurrent transactions per process. One event loop drives them all, so more connections
    # only interleave more transactions, each holding its locks and connection longer: in the
    # loop benchmark (2 cores, 100/s) the dispatch p50 was 24-31 ms with 4-5 connections and
    # 560-910 ms with 10-64. Requests beyond the pool wait for a connection (503 after 10 s).
    db_pool_size: int = 5
    db_max_overflow: int = 0
    outbox_relay_seconds: int = 2
    # Bookkeeping kept after it served (services/retention.py); purged by the workers.
    outbox_retention_days: int = 7
    inbox_retention_days: int = 30
    idempotency_retention_days: int = 7
    worker_max_jobs: int = 20
    # Workers serve /metrics on this port when > 0 (APIs serve it on their own port).
    worker_metrics_port: int = 0

    def common(self) -> CommonSettings:
        return common_settings()

    def resolved_database_url(self) -> str:
        """The service's own URL, else the common one, else a SQLite file under ``var/``."""
        common = self.common()
        url = self.database_url or common.database_url
        if url:
            return normalize_database_url(url)
        var_dir = common.var_dir
        var_dir.mkdir(parents=True, exist_ok=True)
        return f"sqlite+aiosqlite:///{(var_dir / f'{self.service_name}.db').resolve()}"

    def resolved_redis_url(self) -> str:
        # `python -m services` sets REDIS_URL to its embedded Redis; a bare worker falls back to
        # a local Redis on the default port.
        return self.common().redis_url or os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"


def normalize_database_url(url: str) -> str:
    """Accept plain ``postgresql://`` / ``sqlite://`` URLs and pick the async drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    if url.startswith("postgresql://"):
        return "postgresql+asyncpg://" + url.removeprefix("postgresql://")
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url.removeprefix("sqlite:///")
    return url


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


@functools.lru_cache(maxsize=1)
def common_settings() -> CommonSettings:
    """The process's common settings, read once (environment changes need a restart)."""
    return CommonSettings()
