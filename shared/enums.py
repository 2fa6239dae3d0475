"""Enumerations that cross service boundaries.

Values are stable ASCII codes (they appear in URLs, events and exports); ``label_zh`` gives the
Chinese name shown to people.
"""

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A string enum whose members also carry a Chinese label."""

    @property
    def label_zh(self) -> str:
        return _LABELS_ZH.get(self, self.value)


class Channel(LabelledEnum):
    app = "app"
    smart_hall = "smart_hall"
    website = "website"
    hotline = "hotline"
    report_platform = "report_platform"
    tv = "tv"
    cppcc_165 = "cppcc_165"
    visit = "visit"
    symposium = "symposium"
    open311 = "open311"


class RequestType(LabelledEnum):
    consult = "consult"
    help = "help"
    complaint = "complaint"
    report = "report"
    suggestion = "suggestion"
    praise = "praise"


class Topic(LabelledEnum):
    land = "land"
    funds = "funds"
    transport = "transport"
    environment = "environment"
    electricity = "electricity"
    water = "water"
    permit = "permit"
    legal = "legal"
    market_order = "market_order"
    other = "other"


class Urgency(LabelledEnum):
    normal = "normal"
    urgent = "urgent"
    critical = "critical"


class SubmitterKind(LabelledEnum):
    enterprise = "enterprise"
    person = "person"


class RequestStatus(LabelledEnum):
    """Submitter-facing status of a request, kept current from routing's events."""

    received = "received"
    duplicate = "duplicate"
    verifying = "verifying"
    rejected = "rejected"
    merged = "merged"
    answered = "answered"
    dispatched = "dispatched"
    in_progress = "in_progress"
    extended = "extended"
    suspended = "suspended"
    completed = "completed"
    closed = "closed"
    withdrawn = "withdrawn"


_LABELS_ZH: dict[StrEnum, str] = {
    Channel.app: "手机APP",
    Channel.smart_hall: "智慧大厅",
    Channel.website: "人民服务中心网",
    Channel.hotline: "热线电话",
    Channel.report_platform: "举报平台",
    Channel.tv: "电视问政",
    Channel.cppcc_165: "165政协委员直通车",
    Channel.visit: "走访",
    Channel.symposium: "座谈",
    Channel.open311: "Open311",
    RequestType.consult: "咨询",
    RequestType.help: "求助",
    RequestType.complaint: "投诉",
    RequestType.report: "举报",
    RequestType.suggestion: "建议",
    RequestType.praise: "表扬",
    Topic.land: "土地",
    Topic.funds: "资金",
    Topic.transport: "交通",
    Topic.environment: "环境",
    Topic.electricity: "用电",
    Topic.water: "用水",
    Topic.permit: "审批手续",
    Topic.legal: "法律",
    Topic.market_order: "市场秩序",
    Topic.other: "其他",
    Urgency.normal: "一般",
    Urgency.urgent: "紧急",
    Urgency.critical: "特急",
    SubmitterKind.enterprise: "企业",
    SubmitterKind.person: "个人",
    RequestStatus.received: "已受理",
    RequestStatus.duplicate: "重复件",
    RequestStatus.verifying: "核查中",
    RequestStatus.rejected: "不予受理",
    RequestStatus.merged: "已合并",
    RequestStatus.answered: "已直接答复",
    RequestStatus.dispatched: "已派单",
    RequestStatus.in_progress: "办理中",
    RequestStatus.extended: "已延期",
    RequestStatus.suspended: "已挂起",
    RequestStatus.completed: "已办结",
    RequestStatus.closed: "已归档",
    RequestStatus.withdrawn: "已撤回",
}
