"""Webhook errors. Subscriptions, deliveries and units outside the caller's scope answer 404,
exactly like ones that do not exist, so probing ids reveals nothing."""

from services.errors import BadRequest, Conflict, NotFound


class SubscriptionNotFound(NotFound):
    code = "subscription_not_found"
    message = "未找到该 Webhook 订阅"
    message_en = "No such webhook subscription"


class DeliveryNotFound(NotFound):
    code = "delivery_not_found"
    message = "未找到该 Webhook 投递记录"
    message_en = "No such webhook delivery"


class UnitNotFound(NotFound):
    code = "unit_not_found"
    message = "未找到该单位,或无权为其管理订阅"
    message_en = "No such unit, or it is outside your scope"


class UnitRequired(BadRequest):
    status_code = 422
    code = "unit_code_required"
    message = "请指定订阅所属单位(unit_code)"
    message_en = "unit_code is required"


class UnknownEventType(BadRequest):
    status_code = 422
    code = "unknown_event_type"
    message = "存在未知的事件类型"
    message_en = "Unknown event type"


class UrlNotAllowed(BadRequest):
    status_code = 422
    code = "url_not_allowed"
    message = "Webhook 地址不能指向本机、元数据或允许网段以外的内网地址"
    message_en = (
        "Webhook URLs may not point to loopback, metadata or private addresses outside the "
        "allowed networks"
    )


class UrlInvalid(BadRequest):
    status_code = 422
    code = "url_invalid"
    message = "Webhook 地址格式无效"
    message_en = "Malformed webhook URL"


class TooManySubscriptions(Conflict):
    code = "too_many_subscriptions"
    message = "该单位的有效订阅数已达上限"
    message_en = "This unit has reached the maximum number of active subscriptions"


class TooManyChannelSubscriptions(Conflict):
    code = "too_many_subscriptions"
    message = "该渠道的有效订阅数已达上限"
    message_en = "This channel has reached the maximum number of active subscriptions"


class SubscriptionInactive(Conflict):
    code = "subscription_inactive"
    message = "订阅已停用,请先启用"
    message_en = "The subscription is inactive; activate it first"


class DeliveryPending(Conflict):
    code = "delivery_pending"
    message = "该投递仍在等待发送,无需重放"
    message_en = "The delivery is still pending; nothing to replay"
