from pydantic import Field, PositiveInt
from pydantic_settings import SettingsConfigDict

from services.settings import BaseServiceSettings


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
    # Origins of department webhook URLs may be loopback in development only.
    webhook_allow_private: bool = True
    # A department is told (knowledge.article_expiring) this many days before a published
    # answer it owns stops being valid; the knowledge figures count the same window.
    knowledge_expiry_warning_days: int = Field(30, ge=1, le=365)


settings = RoutingSettings()
