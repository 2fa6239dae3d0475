from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from services.settings import BaseServiceSettings


class IntakeSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", env_file=".env", extra="ignore")

    service_name: str = "intake"
    duplicate_window_days: int = 30
    duplicate_similarity: float = 0.6
    related_similarity: float = 0.45
    related_scan_limit: int = 50
    # Submissions arriving together are written in one transaction (group commit): at most
    # this many per transaction; 0 writes each in its own.
    group_commit_max: int = 64
    upload_dir: Path | None = None
    upload_max_bytes: int = 10 * 1024 * 1024
    # Limits per minute; 0 disables one. Channel clients are often servers relaying many users
    # from one address (smart hall, hotline console), so their writes are limited per key;
    # the unauthenticated submitter endpoints (track, withdraw, supplement, rate) per IP.
    rate_submit_per_key: int = 12000
    rate_track_per_ip: int = 60
    # Failed ownership checks per IP and 10 minutes before tracking is refused (brute force).
    rate_track_failures_per_ip: int = 20
    # Public knowledge-base reads (search and articles) per IP and minute: the smart hall
    # shows answers to anyone, a scraper gets the same 429 as everyone past it.
    rate_knowledge_per_ip: int = 60
    # Receipts of consultations: how many candidate articles (found through the bigram index)
    # are compared with the request, and how much of an article's question and keywords the
    # request must cover to be offered.
    knowledge_candidates: int = 50
    knowledge_match_min: float = 0.3
    # PIPL: days after archiving (归档) that the submitter's name, phone and e-mail of a request
    # that is neither confidential nor anonymous are kept; 0 keeps them (no erasure).
    personal_retention_days: int = Field(3 * 365, ge=0)

    def resolved_upload_dir(self) -> Path:
        path = self.upload_dir or (self.common().var_dir / "uploads")
        path.mkdir(parents=True, exist_ok=True)
        return path


settings = IntakeSettings()
