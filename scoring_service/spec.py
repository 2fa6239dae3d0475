from pathlib import Path

from scoring_service.config import settings
from scoring_service.models import ApiKey, IdempotencyRecord, InboxEvent, Model, OutboxEvent
from services.spec import ServiceSpec

spec = ServiceSpec(
    name="scoring",
    port=8003,
    settings=settings,
    metadata=Model.metadata,
    outbox_model=OutboxEvent,
    inbox_model=InboxEvent,
    idempotency_model=IdempotencyRecord,
    api_key_model=ApiKey,
    package_dir=Path(__file__).resolve().parent,
)
