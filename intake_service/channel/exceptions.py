"""Errors of the channel notification API (stable codes, Chinese first). Errors about a
subscription or delivery (``subscription_not_found``, ``delivery_not_found``,
``unknown_event_type``, ``url_not_allowed``…) come from the routing service unchanged."""

from services.errors import ServiceUnavailable


class RoutingUnavailable(ServiceUnavailable):
    message = "派单督办服务暂不可用,请稍后重试"
    message_en = "The routing service is unavailable, retry later"
