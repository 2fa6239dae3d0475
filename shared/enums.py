"""Enumerations that cross service boundaries.

Values are stable ASCII codes (they appear in URLs, events and exports); ``label_zh`` gives the
Chinese name shown to people.
"""

from enum import StrEnum


class LabelledEnum(StrEnum):
    """A string enum whose members also carry a Chinese label."""

    @property
    def label_zh(self) -> str:
        # Keyed by class too: members of different enums may share a value (e.g. "urgent").
        return _LABELS_ZH.get((type(self).__name__, self.value), self.value)


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
    # Raised by the center's agent from a project (帮办代办): blockers and the agency plan.
    agency = "agency"
    # Opened by the center for a radar cluster (主动治理 / 未诉先办): no request of its own.
    proactive = "proactive"


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


_LABEL_PAIRS: list[tuple[StrEnum, str]] = [
    (Channel.app, "手机APP"),
    (Channel.smart_hall, "智慧大厅"),
    (Channel.website, "人民服务中心网"),
    (Channel.hotline, "热线电话"),
    (Channel.report_platform, "举报平台"),
    (Channel.tv, "电视问政"),
    (Channel.cppcc_165, "165政协委员直通车"),
    (Channel.visit, "走访"),
    (Channel.symposium, "座谈"),
    (Channel.open311, "Open311"),
    (Channel.agency, "帮办代办"),
    (Channel.proactive, "主动治理"),
    (RequestType.consult, "咨询"),
    (RequestType.help, "求助"),
    (RequestType.complaint, "投诉"),
    (RequestType.report, "举报"),
    (RequestType.suggestion, "建议"),
    (RequestType.praise, "表扬"),
    (Topic.land, "土地"),
    (Topic.funds, "资金"),
    (Topic.transport, "交通"),
    (Topic.environment, "环境"),
    (Topic.electricity, "用电"),
    (Topic.water, "用水"),
    (Topic.permit, "审批手续"),
    (Topic.legal, "法律"),
    (Topic.market_order, "市场秩序"),
    (Topic.other, "其他"),
    (Urgency.normal, "一般"),
    (Urgency.urgent, "紧急"),
    (Urgency.critical, "特急"),
    (SubmitterKind.enterprise, "企业"),
    (SubmitterKind.person, "个人"),
    (RequestStatus.received, "已受理"),
    (RequestStatus.duplicate, "重复件"),
    (RequestStatus.verifying, "核查中"),
    (RequestStatus.rejected, "不予受理"),
    (RequestStatus.merged, "已合并"),
    (RequestStatus.answered, "已直接答复"),
    (RequestStatus.dispatched, "已派单"),
    (RequestStatus.in_progress, "办理中"),
    (RequestStatus.extended, "已延期"),
    (RequestStatus.suspended, "已挂起"),
    (RequestStatus.completed, "已办结"),
    (RequestStatus.closed, "已归档"),
    (RequestStatus.withdrawn, "已撤回"),
]


class CaseStatus(LabelledEnum):
    pending_verification = "pending_verification"
    rejected = "rejected"
    merged = "merged"
    answered = "answered"
    duplicate = "duplicate"
    awaiting_dispatch = "awaiting_dispatch"
    dispatched = "dispatched"
    in_progress = "in_progress"
    transferred = "transferred"
    completed = "completed"
    closed = "closed"
    withdrawn = "withdrawn"


class Classification(LabelledEnum):
    general = "general"
    complex = "complex"
    special = "special"
    multi = "multi"
    violation = "violation"
    urgent = "urgent"


class CardStatus(LabelledEnum):
    dispatched = "dispatched"
    signed = "signed"
    returned = "returned"
    suspended = "suspended"
    submitted = "submitted"
    approved = "approved"
    cancelled = "cancelled"


class CardRole(LabelledEnum):
    single = "single"
    lead = "lead"
    co = "co"
    # One procedure of a project's agency plan (代办事项): done on its own, not with the others.
    step = "step"


class SupervisionLevel(LabelledEnum):
    """The ladder (督办阶梯), in order; each step happens at most once per card and due date."""

    none = "none"
    sign_overdue = "sign_overdue"
    yellow = "yellow"
    red = "red"
    listed = "listed"
    escalated = "escalated"


class Satisfaction(LabelledEnum):
    """A revisit's answer (回访测评)."""

    satisfied = "satisfied"
    basic = "basic"
    unsatisfied = "unsatisfied"


class UnitKind(LabelledEnum):
    district_center = "district_center"
    street_center = "street_center"
    community_center = "community_center"
    department = "department"
    discipline = "discipline"


class Role(LabelledEnum):
    operator = "operator"
    dispatcher = "dispatcher"
    supervisor = "supervisor"
    leader = "leader"
    liaison = "liaison"
    handler = "handler"
    head = "head"
    discipline_officer = "discipline_officer"
    auditor = "auditor"
    admin = "admin"


_LABEL_PAIRS.extend(
    [
        (CaseStatus.pending_verification, "待核查"),
        (CaseStatus.rejected, "不予受理"),
        (CaseStatus.merged, "已合并"),
        (CaseStatus.answered, "已直接答复"),
        (CaseStatus.duplicate, "重复件"),
        (CaseStatus.awaiting_dispatch, "待派单"),
        (CaseStatus.dispatched, "已派单"),
        (CaseStatus.in_progress, "办理中"),
        (CaseStatus.transferred, "已移交纪委监委"),
        (CaseStatus.completed, "已办结"),
        (CaseStatus.closed, "已归档"),
        (CaseStatus.withdrawn, "已撤回"),
        (Classification.general, "一般问题(5个工作日)"),
        (Classification.complex, "复杂问题(10个工作日)"),
        (Classification.special, "特殊问题(跟踪督办)"),
        (Classification.multi, "多部门问题(全程督办帮办)"),
        (Classification.violation, "违规问题(移交纪委监委)"),
        (Classification.urgent, "紧急问题"),
        (CardStatus.dispatched, "已派单待签收"),
        (CardStatus.signed, "已签收办理中"),
        (CardStatus.returned, "已退单"),
        (CardStatus.suspended, "已挂起"),
        (CardStatus.submitted, "已办结待审核"),
        (CardStatus.approved, "审核通过"),
        (CardStatus.cancelled, "已撤销"),
        (CardRole.single, "承办"),
        (CardRole.lead, "主办"),
        (CardRole.co, "协办"),
        (CardRole.step, "代办事项"),
        (SupervisionLevel.none, "无"),
        (SupervisionLevel.sign_overdue, "超时未签收"),
        (SupervisionLevel.yellow, "黄牌催办"),
        (SupervisionLevel.red, "红牌督办"),
        (SupervisionLevel.listed, "挂牌督办"),
        (SupervisionLevel.escalated, "提级督办"),
        (Satisfaction.satisfied, "满意"),
        (Satisfaction.basic, "基本满意"),
        (Satisfaction.unsatisfied, "不满意"),
        (UnitKind.district_center, "区营商环境优化中心"),
        (UnitKind.street_center, "街道(乡镇、园区)中心"),
        (UnitKind.community_center, "社区(村)中心"),
        (UnitKind.department, "职能部门"),
        (UnitKind.discipline, "纪委监委"),
        (Role.operator, "受理员"),
        (Role.dispatcher, "派单员"),
        (Role.supervisor, "督办员"),
        (Role.leader, "中心领导"),
        (Role.liaison, "部门联络员"),
        (Role.handler, "部门承办人"),
        (Role.head, "部门负责人"),
        (Role.discipline_officer, "纪检人员"),
        (Role.auditor, "审计员"),
        (Role.admin, "系统管理员"),
    ]
)


class ProjectLevel(LabelledEnum):
    """How high a project is listed (重点项目级别)."""

    provincial = "provincial"
    city = "city"
    district = "district"
    general = "general"


class ProjectStage(LabelledEnum):
    """Where an investment project stands: planned → signed → started → continuing → completed,
    or paused (resumes where it left) or terminated (final)."""

    planned = "planned"
    signed = "signed"
    started = "started"
    continuing = "continuing"
    completed = "completed"
    paused = "paused"
    terminated = "terminated"


class StepStatus(LabelledEnum):
    """A step of a project's agency plan: waiting for its prerequisites, with the department
    (its card open), back at the center (returned, to dispatch again), done, or cancelled."""

    waiting = "waiting"
    in_progress = "in_progress"
    returned = "returned"
    done = "done"
    cancelled = "cancelled"


class ArticleStatus(LabelledEnum):
    """A knowledge article's workflow: the owning department drafts, the center reviews and
    publishes; a published article is withdrawn when it no longer holds (an edit of a published
    article is a new version, drafted and reviewed in turn)."""

    draft = "draft"
    in_review = "in_review"
    published = "published"
    withdrawn = "withdrawn"


class HotIssueState(LabelledEnum):
    """A cluster of related requests on the radar: forming, hot (past the policy's threshold),
    handled by a proactive case, or resolved (that case completed)."""

    forming = "forming"
    hot = "hot"
    handling = "handling"
    resolved = "resolved"


class ProjectMilestone(LabelledEnum):
    """The stages at which the enterprise rates the agency service."""

    started = "started"
    completed = "completed"


_LABEL_PAIRS.extend(
    [
        (StepStatus.waiting, "待前置事项"),
        (StepStatus.in_progress, "办理中"),
        (StepStatus.returned, "已退回中心"),
        (StepStatus.done, "已办结"),
        (StepStatus.cancelled, "已撤销"),
        (ArticleStatus.draft, "草稿"),
        (ArticleStatus.in_review, "待审核"),
        (ArticleStatus.published, "已发布"),
        (ArticleStatus.withdrawn, "已撤回"),
        (HotIssueState.forming, "聚集中"),
        (HotIssueState.hot, "热点"),
        (HotIssueState.handling, "主动治理中"),
        (HotIssueState.resolved, "已解决"),
        (ProjectMilestone.started, "开工"),
        (ProjectMilestone.completed, "建成投用"),
        (ProjectLevel.provincial, "省重点"),
        (ProjectLevel.city, "市重点"),
        (ProjectLevel.district, "区重点"),
        (ProjectLevel.general, "一般"),
        (ProjectStage.planned, "谋划"),
        (ProjectStage.signed, "签约"),
        (ProjectStage.started, "开工"),
        (ProjectStage.continuing, "续建"),
        (ProjectStage.completed, "建成投用"),
        (ProjectStage.paused, "暂停"),
        (ProjectStage.terminated, "终止"),
    ]
)

_LABELS_ZH: dict[tuple[str, str], str] = {
    (type(member).__name__, member.value): label for member, label in _LABEL_PAIRS
}
