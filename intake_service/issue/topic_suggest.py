"""Suggest a :class:`~shared.enums.Topic` (and, for clients that do not say, a
:class:`~shared.enums.RequestType`) for a new request from its title and description.

Keyword scoring over Chinese text, meant to pre-fill the topic for the operator, never to decide
alone.  The vocabulary lives in :data:`TOPIC_KEYWORDS` so it can be extended without touching the
algorithm (append phrases, or pass a whole ``vocabulary`` to :func:`suggest_topic`).

How a text is scored:

* Both texts are NFKC-normalized and lower-cased.  Every phrase of the vocabulary is searched
  for; where matches overlap, the longest phrase wins (``营业执照`` beats ``执照``, ``不动产登记``
  beats ``登记``, ``营商环境`` beats ``环境``).
* Each distinct phrase scores its length in characters, times :data:`TITLE_WEIGHT` when it is in
  the title.  Repeating a phrase does not add to the score.
* Phrases listed under ``Topic.other`` are *neutral*: they consume the text they cover (so the
  shorter words inside them do not count) but score nothing.
* The topic with the highest score wins (ties: declaration order of :class:`Topic`).
  ``confidence = (1 - exp(-best / SATURATION)) * best / (best + runner_up)``: it grows with the
  evidence and shrinks when another topic is close.  No match gives ``Topic.other`` with
  confidence 0.
"""

import functools
import math
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final, TypeVar

from shared.enums import RequestType, Topic

__all__ = [
    "REQUEST_TYPE_KEYWORDS",
    "SATURATION",
    "TITLE_WEIGHT",
    "TOPIC_KEYWORDS",
    "TopicSuggestion",
    "TypeSuggestion",
    "suggest_request_type",
    "suggest_topic",
]

TITLE_WEIGHT: Final = 2.0
"""A phrase found in the title counts this many times as much as one in the description."""

SATURATION: Final = 6.0
"""Score at which the evidence part of the confidence reaches 1 - 1/e (about 0.63)."""

TOPIC_KEYWORDS: dict[Topic, tuple[str, ...]] = {
    Topic.land: (
        "土地", "用地", "征地", "土地证", "土地使用证", "国有土地使用证", "土地使用权",
        "不动产", "不动产权证", "不动产登记", "房产证", "产权证", "确权", "招拍挂", "土地出让",
        "土地流转", "土地指标", "用地指标", "闲置土地", "拆迁", "征收", "宅基地", "规划",
        "规划许可", "用地规划许可", "规划调整", "地块", "厂房用地", "耕地", "林地", "占地",
        "用地手续", "征地手续", "用地审批",
    ),
    Topic.funds: (
        "资金", "贷款", "融资", "融资难", "补贴", "补助", "奖补", "扶持资金", "专项资金",
        "拖欠", "欠款", "欠薪", "工资", "款项", "工程款", "货款", "账款", "回款", "垫资",
        "结算", "保证金", "税费", "税收", "减税", "降费", "退税", "留抵退税", "税务", "信贷",
        "担保", "银行", "贴息", "利息", "资金周转", "资金困难", "资金链",
    ),
    Topic.transport: (
        "公交", "公交车", "公交线路", "公交站", "道路", "交通", "交通承载力", "交通规划",
        "道路规划", "线路", "班次", "停车", "停车位", "停车场", "修路", "路灯", "红绿灯",
        "信号灯", "拥堵", "堵车", "路面", "断头路", "通勤", "出行", "客运", "高速", "路口",
        "桥梁", "坑洼", "物流通道",
    ),
    Topic.environment: (
        "环境", "污染", "噪音", "噪声", "垃圾", "扬尘", "粉尘", "异味", "臭味", "排污", "污水",
        "废气", "废水", "油烟", "黑烟", "绿化", "杂乱", "脏乱", "脏乱差", "乱堆乱放", "卫生",
        "环境卫生", "环保", "环境整治", "市容",
    ),
    Topic.electricity: (
        "用电", "供电", "停电", "断电", "限电", "电力", "电压", "电费", "电价", "变压器",
        "电网", "增容", "电力增容", "用电报装", "供电线路", "电力线路", "输电线路", "电表",
        "跳闸",
    ),
    Topic.water: (
        "供水", "用水", "停水", "断水", "水压", "水费", "水价", "管网", "供水管网",
        "排水管网", "污水管网", "排水", "自来水", "水管", "水质", "漏水", "爆管", "水表",
        "用水报装", "积水",
    ),
    Topic.permit: (
        "审批", "备案", "项目备案", "投资项目备案", "许可", "许可证", "施工许可", "证照",
        "执照", "营业执照", "手续", "办证", "登记", "注册", "变更登记", "注销", "年检", "年报",
        "资质", "核准", "企业名称", "名称申报", "名称自主申报", "企业开办", "开办企业",
        "环评", "消防验收", "竣工验收", "一网通办", "一窗受理", "办事窗口",
    ),
    Topic.legal: (
        "法律", "法律咨询", "法律援助", "法律服务", "诉讼", "起诉", "官司", "合同纠纷", "纠纷",
        "维权", "仲裁", "律师", "法院", "判决", "强制执行", "执行难", "侵权", "知识产权",
        "商标侵权", "专利", "调解", "劳动争议", "法治", "法治环境",
    ),
    Topic.market_order: (
        "市场秩序", "市场环境", "乱收费", "乱罚款", "乱摊派", "垄断", "不正当竞争", "恶意竞争",
        "假冒", "假冒伪劣", "伪劣", "欺诈", "价格欺诈", "虚假宣传", "哄抬物价", "哄抬价格",
        "强买强卖", "欺行霸市", "串标", "围标", "地方保护", "吃拿卡要", "刁难", "故意刁难",
        "推诿", "扯皮", "不作为", "乱作为", "索要", "索贿",
    ),
    # Neutral phrases: they contain words of other topics but say nothing about the topic.
    Topic.other: (
        "营商环境", "营商环境优化中心", "政务环境", "人民服务中心",
    ),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class TopicSuggestion:
    topic: Topic
    confidence: float
    """In [0, 1]; 0 when nothing matched."""
    matched: tuple[str, ...]
    """Phrases of the winning topic found, title first, in order of appearance."""


@dataclass(frozen=True, slots=True)
class TypeSuggestion:
    type: RequestType
    confidence: float
    """In [0, 1]; 0 when nothing matched (the type is then the policy's default)."""
    matched: tuple[str, ...]


# What a request says about its type: how people phrase a consultation, a complaint, a report.
# Scored exactly like topics. No match gives the default type chosen by the caller's policy.
REQUEST_TYPE_KEYWORDS: dict[RequestType, tuple[str, ...]] = {
    RequestType.consult: (
        "咨询", "请问", "想问", "问一下", "如何办理", "怎么办理", "怎样办理", "怎么申请",
        "如何申请", "需要什么材料", "需要哪些材料", "办理流程", "办事流程", "什么条件",
        "是否可以", "能否", "可不可以", "在哪里办", "去哪里办", "多长时间", "政策是什么",
    ),
    RequestType.help: (
        "求助", "帮忙", "帮助", "协调", "帮我们", "请帮", "急需", "困难", "解决一下",
    ),
    RequestType.complaint: (
        "投诉", "不作为", "乱作为", "推诿", "扯皮", "刁难", "态度恶劣", "态度差", "拖延",
        "久拖不办", "拖着不办", "乱收费", "不予受理", "拒绝办理", "多次反映", "一直没人管",
    ),
    RequestType.report: (
        "举报", "索贿", "受贿", "行贿", "索要", "吃拿卡要", "贪污", "违纪", "违法违纪",
        "偷排", "非法排放", "违法建设", "违章建筑", "非法经营", "黑作坊",
    ),
    RequestType.suggestion: (
        "建议", "提议", "希望增加", "希望能", "希望开通", "能否增设", "建议增设", "意见建议",
        "合理化建议",
    ),
    RequestType.praise: (
        "表扬", "感谢", "点赞", "致谢", "锦旗", "服务周到", "热情周到", "效率很高", "为民办实事",
    ),
}  # fmt: skip

K = TypeVar("K")


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def _lexicon(vocabulary: Mapping[K, Iterable[str]]) -> dict[str, tuple[K, str]]:
    """Normalized phrase → (label, phrase as written).

    A phrase listed under several labels belongs to the first one.
    """
    lexicon: dict[str, tuple[K, str]] = {}
    for label, phrases in vocabulary.items():
        for phrase in phrases:
            norm = _normalize(phrase).strip()
            if norm:
                lexicon.setdefault(norm, (label, phrase.strip()))
    return lexicon


@functools.cache
def _default_lexicon() -> dict[str, tuple[Topic, str]]:
    # Built once per process: normalizing every phrase cost as much as matching a request.
    return _lexicon(TOPIC_KEYWORDS)


@functools.cache
def _type_lexicon() -> dict[str, tuple[RequestType, str]]:
    return _lexicon(REQUEST_TYPE_KEYWORDS)


def _matches(
    text: str, lexicon: Mapping[str, tuple[K, str]]
) -> list[tuple[int, str, tuple[K, str]]]:
    """Non-overlapping phrase matches, longest first, returned in order of position."""
    if not text:
        return []
    candidates: list[tuple[int, int, str]] = []
    for phrase in lexicon:
        start = text.find(phrase)
        while start != -1:
            candidates.append((start, start + len(phrase), phrase))
            start = text.find(phrase, start + 1)
    candidates.sort(key=lambda c: (c[0] - c[1], c[0]))  # longest first, then leftmost
    taken = [False] * len(text)
    chosen: list[tuple[int, str, tuple[K, str]]] = []
    for start, end, phrase in candidates:
        if not any(taken[start:end]):
            taken[start:end] = [True] * (end - start)
            chosen.append((start, phrase, lexicon[phrase]))
    chosen.sort(key=lambda c: c[0])
    return chosen


def _score(
    title: str,
    description: str,
    lexicon: Mapping[str, tuple[K, str]],
    order: Sequence[K],
    neutral: K | None = None,
) -> tuple[K, float, tuple[str, ...]] | None:
    """The best label with its confidence and matched phrases; None when nothing matched."""
    scores: dict[K, float] = {}
    found: dict[K, list[str]] = {}
    for text, weight in ((title, TITLE_WEIGHT), (description, 1.0)):
        seen: set[str] = set()
        for _, _, (label, phrase) in _matches(_normalize(text), lexicon):
            if label == neutral or phrase in seen:
                continue
            seen.add(phrase)
            scores[label] = scores.get(label, 0.0) + weight * len(phrase)
            if phrase not in found.setdefault(label, []):
                found[label].append(phrase)
    if not scores:
        return None

    rank = {label: i for i, label in enumerate(order)}
    ranked = sorted(scores.items(), key=lambda item: (-item[1], rank[item[0]]))
    best_label, best = ranked[0]
    runner_up = ranked[1][1] if len(ranked) > 1 else 0.0
    confidence = (1.0 - math.exp(-best / SATURATION)) * best / (best + runner_up)
    return best_label, round(min(1.0, max(0.0, confidence)), 3), tuple(found[best_label])


def suggest_topic(
    title: str,
    description: str,
    *,
    vocabulary: Mapping[Topic, Iterable[str]] | None = None,
) -> TopicSuggestion:
    """Suggest the topic of a request; see the module docstring for the scoring."""
    lexicon = _default_lexicon() if vocabulary is None else _lexicon(vocabulary)
    best = _score(title, description, lexicon, list(Topic), neutral=Topic.other)
    if best is None:
        return TopicSuggestion(Topic.other, 0.0, ())
    return TopicSuggestion(*best)


def suggest_request_type(title: str, description: str, *, default: RequestType) -> TypeSuggestion:
    """Suggest the type of a request that did not say (an Open311 app without attributes)."""
    best = _score(title, description, _type_lexicon(), list(RequestType))
    if best is None:
        return TypeSuggestion(default, 0.0, ())
    return TypeSuggestion(*best)
