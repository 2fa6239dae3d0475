"""What Open311 clients can ask for: one service per topic, and the attributes every service
takes (GET services, GET service definition).

``service_code`` is the topic's stable ASCII code; ``service_name`` its Chinese name. Every
service has ``metadata: true`` because the request type (咨询/求助/投诉/举报/建议/表扬) is a
required attribute, and ``type: realtime`` because the tracking number is returned at once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from shared.enums import RequestType, Topic, Urgency

# Sortable (Service Discovery): bump when the service list or the definitions below change, so
# that clients refresh what they cache.
CATALOG_CHANGESET: Final = "2026-11-27 00:00"

SERVICE_TYPE: Final = "realtime"


@dataclass(frozen=True, slots=True)
class TopicInfo:
    description: str
    keywords: str
    group: str


_TOPICS: Final[dict[str, TopicInfo]] = {
    Topic.land: TopicInfo(
        "用地审批、土地供应、征地拆迁、不动产登记等土地问题",
        "土地,用地,征地,拆迁,不动产,规划",
        "要素保障",
    ),
    Topic.funds: TopicInfo(
        "融资贷款、财政补贴与奖补资金兑现、拖欠账款等资金问题",
        "资金,融资,贷款,补贴,奖补,欠款",
        "要素保障",
    ),
    Topic.transport: TopicInfo(
        "道路、公交、物流运输、停车等交通问题",
        "交通,道路,公交,物流,停车",
        "基础设施",
    ),
    Topic.environment: TopicInfo(
        "环评审批、污染、环境整治等生态环境问题",
        "环境,环保,环评,污染,噪音,扬尘",
        "生态环境",
    ),
    Topic.electricity: TopicInfo(
        "供电接入、停电、电价、线路等用电问题",
        "用电,供电,停电,电价,线路,电力",
        "要素保障",
    ),
    Topic.water: TopicInfo(
        "供水接入、停水、水价、排水等用水问题",
        "用水,供水,停水,水价,排水,管网",
        "要素保障",
    ),
    Topic.permit: TopicInfo(
        "行政审批、证照办理、备案等手续办理问题",
        "审批,手续,证照,许可,备案,办证",
        "政务服务",
    ),
    Topic.legal: TopicInfo(
        "法律咨询、合同纠纷、知识产权、执法检查等法治问题",
        "法律,合同,纠纷,知识产权,执法",
        "法治保障",
    ),
    Topic.market_order: TopicInfo(
        "不正当竞争、乱收费、欺行霸市等市场秩序问题",
        "市场,竞争,收费,垄断,监管",
        "市场环境",
    ),
    Topic.other: TopicInfo("其他营商环境问题", "其他,营商环境", "其他"),
}


def topic_info(topic: Topic) -> TopicInfo:
    # A topic added later still gets a service, with its label as description.
    return _TOPICS.get(topic) or TopicInfo(topic.label_zh, topic.label_zh, "其他")


def find_topic(service_code: str) -> Topic | None:
    try:
        return Topic(service_code)
    except ValueError:
        return None


def service_name(code: str) -> str:
    topic = find_topic(code)
    return topic.label_zh if topic is not None else code


def service_entry(topic: Topic) -> dict[str, Any]:
    info = topic_info(topic)
    return {
        "service_code": topic.value,
        "service_name": topic.label_zh,
        "description": info.description,
        "metadata": True,
        "type": SERVICE_TYPE,
        "keywords": info.keywords,
        "group": info.group,
    }


def service_list() -> list[dict[str, Any]]:
    return [service_entry(topic) for topic in Topic]


# --- attributes -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Attribute:
    code: str
    datatype: str
    required: bool
    order: int
    description: str
    datatype_description: str | None = None
    values: tuple[tuple[str, str], ...] = field(default_factory=tuple)

    def as_dict(self) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "variable": True,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": self.datatype_description,
            "order": self.order,
            "description": self.description,
        }
        if self.values:
            entry["values"] = [{"key": key, "name": name} for key, name in self.values]
        return entry

    def lookup(self, given: str) -> str | None:
        """The key of a list value given by its key or its name (``complaint`` or ``投诉``)."""
        text = given.strip()
        for key, name in self.values:
            if text.lower() == key or text == name:
                return key
        return None


REQUEST_TYPE: Final = Attribute(
    code="request_type",
    datatype="singlevaluelist",
    # Optional: most Open311 apps send no attributes. Left out, the type is suggested from the
    # description (求助 when it says nothing) and confirmed by the center at verification.
    required=False,
    order=1,
    description=(
        "诉求类型:咨询、求助、投诉、举报、建议或表扬(举报默认保密处理);"
        "不填时按描述推荐,无法判断时为求助,由中心核查时确认"
    ),
    datatype_description="填写选项的 key(如 complaint)或名称(如 投诉)",
    values=tuple((member.value, member.label_zh) for member in RequestType),
)
URGENCY: Final = Attribute(
    code="urgency",
    datatype="singlevaluelist",
    required=False,
    order=2,
    description="紧急程度,不填为一般",
    values=tuple((member.value, member.label_zh) for member in Urgency),
)
ENTERPRISE_NAME: Final = Attribute(
    code="enterprise_name",
    datatype="string",
    required=False,
    order=3,
    description="企业名称(以企业名义提交时填写)",
)
USCC: Final = Attribute(
    code="uscc",
    datatype="string",
    required=False,
    order=4,
    description="统一社会信用代码(以企业名义提交时填写,18位)",
    datatype_description="18 位统一社会信用代码,如 91130404MA0CTE1N15",
)

ATTRIBUTES: Final = (REQUEST_TYPE, URGENCY, ENTERPRISE_NAME, USCC)


def service_definition(topic: Topic) -> dict[str, Any]:
    return {
        "service_code": topic.value,
        "attributes": [attribute.as_dict() for attribute in ATTRIBUTES],
    }
