from sqlalchemy.orm import DeclarativeBase

from services.models import (
    ApiKeyMixin,
    IdempotencyRecordMixin,
    InboxEventMixin,
    OutboxEventMixin,
    make_metadata,
)


class Model(DeclarativeBase):
    metadata = make_metadata()


class OutboxEvent(OutboxEventMixin, Model):
    pass


class InboxEvent(InboxEventMixin, Model):
    pass


class IdempotencyRecord(IdempotencyRecordMixin, Model):
    pass


class ApiKey(ApiKeyMixin, Model):
    """Channel client keys for the public rating endpoint (scope: channel code or ``*``)."""
