"""Channel notifications (原渠道反馈): a channel's backend subscribes, with its channel API key,
to the status changes of the requests submitted through its channel.

Routing owns the subscriptions and delivers them (the same signing, retries, dead letters and
replay as department webhooks); intake verifies the channel's key and calls routing's
``/v1/webhooks/channels/{channel}/…`` API with a service token, naming the key's channel.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from pydantic import BaseModel, ValidationError

from intake_service.channel.exceptions import RoutingUnavailable
from services.auth import service_token
from services.errors import ServiceError
from services.settings import common_settings
from shared.errors import ErrorResponse

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class ChannelWebhooks:
    """Routing's webhook API for one channel: every call names the channel of the verified
    key (see :func:`intake_service.channel.dependencies.channel_webhooks`)."""

    http: httpx.AsyncClient
    channel: str

    async def call(
        self,
        method: str,
        path: str,
        *,
        body: BaseModel | None = None,
        params: dict[str, Any] | None = None,
    ) -> Any:
        """Routing's answer for one channel's webhooks; its 4xx errors come back as they are
        (another channel's subscription is routing's 404), anything else is a 503."""
        url = f"{common_settings().routing_url}/v1/webhooks/channels/{self.channel}{path}"
        query = {name: value for name, value in (params or {}).items() if value is not None}
        # Fields the caller left out stay out: a PATCH changes only what it names.
        json = None if body is None else body.model_dump(mode="json", exclude_unset=True)
        try:
            response = await self.http.request(
                method,
                url,
                json=json,
                params=query,
                headers={"Authorization": f"Bearer {service_token('intake')}"},
            )
        except httpx.HTTPError as exc:
            log.warning("channel_webhooks.routing_unreachable", error=str(exc)[:300])
            raise RoutingUnavailable() from exc
        if response.status_code < 400:
            return response.json()
        if response.status_code in (401, 403) or response.status_code >= 500:
            # 401/403: routing refused this service's token (a configuration fault, not the
            # channel's): the channel is told to retry, the operators are told why.
            log.warning("channel_webhooks.routing_failed", status_code=response.status_code)
            raise RoutingUnavailable()
        try:
            error = ErrorResponse.model_validate_json(response.content).error
        except ValidationError as exc:
            log.warning("channel_webhooks.routing_answer_unreadable", status=response.status_code)
            raise RoutingUnavailable() from exc
        raise ServiceError(
            error.message,
            error.message_en,
            code=error.code,
            status_code=response.status_code,
            details=error.details,
        )
