from pathlib import Path

from routing_service.config import settings
from routing_service.deadline.metrics import refresh
from routing_service.models import ApiKey, IdempotencyRecord, InboxEvent, Model, OutboxEvent
from services.spec import ServiceSpec

spec = ServiceSpec(
    name="routing",
    port=8002,
    settings=settings,
    metadata=Model.metadata,
    outbox_model=OutboxEvent,
    inbox_model=InboxEvent,
    idempotency_model=IdempotencyRecord,
    api_key_model=ApiKey,
    package_dir=Path(__file__).resolve().parent,
    refresh_metrics=refresh,
)
