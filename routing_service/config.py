from ipaddress import IPv4Network, IPv6Network
from typing import Literal, Self

from pydantic import Field, PositiveInt, model_validator
from pydantic_settings import SettingsConfigDict

from services.settings import BaseServiceSettings

# The hash of the history chains (cases, projects): SM3 (GB/T 32905) or SHA-256.
HistoryHash = Literal["sm3", "sha256"]


class RoutingSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTING_", env_file=".env", extra="ignore")

    service_name: str = "routing"
    # Working-day limits (DESIGN §3); hour limits are working hours.
    verify_days: int = 1
    general_days: int = 5
    complex_days: int = 10
    special_days: int = 20
    multi_days: int = 10
    urgent_hours: float = 2.0
    sign_hours: float = 2.0
    contact_days: int = 1
    return_window_days: int = 2
    redo_days: int = 3
    listed_after_days: int = 5
    max_returns_before_designation: int = 2
    redo_escalation_count: int = 2
    supervision_batch: int = 1000
    supervision_tick_seconds: int = 15
    webhook_timeout_seconds: float = 5.0
    webhook_max_attempts: int = 12
    # Seconds to wait after the n-th failed attempt; the last step repeats. With the default 12
    # attempts a delivery is retried for about 24 hours, so a department system that is down
    # for an hour (or a night) misses nothing. A JSON list in the environment.
    webhook_retry_schedule: tuple[PositiveInt, ...] = Field(
        (5, 30, 120, 300, 600, 1800, 3600, 7200, 14400, 28800), min_length=1
    )
    # After a secret rotation the replaced secret keeps signing, alongside the new one, this
    # many seconds (Standard Webhooks' rotation window: receivers switch without a gap); 0 cuts
    # over at once.
    webhook_rotation_overlap: int = Field(24 * 3600, ge=0, le=30 * 24 * 3600)
    # Networks (CIDRs, a JSON list) webhook targets may be in besides the public internet: the
    # intranet ranges department systems live on, e.g. ["10.0.0.0/8", "172.16.0.0/12"].
    # Loopback, link-local, metadata, multicast and reserved addresses stay refused whatever
    # is listed (routing_service/webhook/targets.py).
    webhook_allowed_networks: tuple[IPv4Network | IPv6Network, ...] = ()
    # Loopback targets (a receiver on this machine): development and tests only; unset means
    # allowed outside production, and setting it true in production refuses to start.
    webhook_allow_loopback: bool | None = None
    # Deprecated alias of webhook_allow_loopback (it never opened private ranges in production;
    # webhook_allowed_networks does).
    webhook_allow_private: bool | None = None
    # A department is told (knowledge.article_expiring) this many days before a published
    # answer it owns stops being valid; the knowledge figures count the same window.
    knowledge_expiry_warning_days: int = Field(30, ge=1, le=365)
    # What new history events are hashed with; SM3 is what GB/T 39786 asks for audit records.
    # Each event records its own algorithm, so changing this never breaks an existing chain.
    history_hash: HistoryHash = "sm3"
    # Staff passwords (routing_service/department/passwords.py): the shortest one accepted.
    password_min_length: int = Field(12, ge=8, le=128)
    # Sign-in lockout (routing_service/department/lockout.py): this many failed sign-ins for one
    # username, each within the window of the one before, lock it for the first lock period;
    # every further failure doubles the period, up to the cap. A client address is locked the
    # same way after its own (higher) count, whichever usernames it tried.
    login_max_failures: int = Field(5, ge=1)
    login_max_failures_per_address: int = Field(20, ge=1)
    login_failure_window_seconds: int = Field(15 * 60, ge=1)
    login_lock_seconds: int = Field(60, ge=1)
    login_lock_max_seconds: int = Field(3600, ge=1)

    @model_validator(mode="after")
    def _refuse_loopback_in_production(self) -> Self:
        if self.common().env == "production":
            if self.webhook_allow_loopback:
                raise ValueError(
                    "ROUTING_WEBHOOK_ALLOW_LOOPBACK is for development only and must not be set "
                    "in production"
                )
            if self.webhook_allow_private:
                raise ValueError(
                    "ROUTING_WEBHOOK_ALLOW_PRIVATE is no longer honoured: list the intranet "
                    "ranges of department systems in ROUTING_WEBHOOK_ALLOWED_NETWORKS instead"
                )
        return self

    def webhook_loopback_allowed(self) -> bool:
        """Whether webhook targets may be loopback addresses: never in production."""
        if self.common().env == "production":
            return False
        for explicit in (self.webhook_allow_loopback, self.webhook_allow_private):
            if explicit is not None:
                return explicit
        return True


settings = RoutingSettings()
