"""Keyword topic suggestion (intake_service/issue/topic_suggest.py)."""

import dataclasses

import pytest

from intake_service.issue.topic_suggest import (
    TOPIC_KEYWORDS,
    TopicSuggestion,
    suggest_topic,
)
from shared.enums import Topic


@pytest.mark.parametrize(
    ("title", "description", "topic"),
    [
        # Sentences from the seed articles.
        ("", "希望增加公交班次、提高园区交通承载力", Topic.transport),
        ("", "医药公司药品款被拖欠", Topic.funds),
        ("", "《土地使用证》办理", Topic.land),
        ("", "商场周边杂乱", Topic.environment),
        ("", "企业名称自主申报", Topic.permit),
        ("", "投资项目备案", Topic.permit),
        ("", "为红旗家具公司脱困提供法律援助", Topic.legal),
        # One per remaining topic, plus mixed texts.
        ("厂区频繁停电", "变压器老化，供电不稳定，影响生产", Topic.electricity),
        ("小区停水", "停水已三天，恢复后水压不足", Topic.water),
        ("反映乱收费问题", "某单位办事时吃拿卡要、故意刁难企业", Topic.market_order),
        ("营业执照变更", "办理营业执照变更登记需要哪些手续", Topic.permit),
        ("征地补偿", "宅基地拆迁补偿标准不明确", Topic.land),
        ("企业融资难", "申请银行贷款被拒，资金周转困难", Topic.funds),
        ("园区道路破损", "道路坑洼不平，路灯不亮，夜间出行不便", Topic.transport),
        ("工厂噪音扰民", "夜间噪音大，还有刺鼻异味和扬尘", Topic.environment),
        ("合同纠纷", "与供应商发生合同纠纷，希望申请仲裁", Topic.legal),
        ("申请用电报装", "新厂房需要用电报装和电力增容", Topic.electricity),
        ("排水管网堵塞", "雨天积水严重", Topic.water),
    ],
)
def test_suggests_expected_topic(title: str, description: str, topic: Topic) -> None:
    suggestion = suggest_topic(title, description)
    assert suggestion.topic is topic
    assert 0.0 < suggestion.confidence <= 1.0
    assert suggestion.matched
    assert set(suggestion.matched) <= set(TOPIC_KEYWORDS[topic])


@pytest.mark.parametrize(
    ("title", "description"),
    [
        ("", ""),
        ("咨询", "请问办公时间是几点"),
        ("表扬", "工作人员态度很好"),
        ("hello", "world"),
    ],
)
def test_nothing_matches_gives_other_with_zero_confidence(title: str, description: str) -> None:
    assert suggest_topic(title, description) == TopicSuggestion(Topic.other, 0.0, ())


def test_business_environment_is_not_an_environment_topic() -> None:
    # "营商环境" is what the whole system is about; its "环境" is not pollution.
    assert suggest_topic("优化营商环境的建议", "希望进一步优化营商环境").topic is Topic.other
    assert suggest_topic("优化营商环境", "园区垃圾无人清理").topic is Topic.environment


def test_longest_phrase_wins_over_contained_words() -> None:
    assert suggest_topic("", "不动产登记").matched == ("不动产登记",)  # not permit's 登记
    assert suggest_topic("", "营业执照").matched == ("营业执照",)  # not 执照
    assert suggest_topic("", "为企业提供法律援助").matched == ("法律援助",)  # not 法律
    assert suggest_topic("", "污水管网破裂").topic is Topic.water  # not environment's 污水


def test_matched_lists_title_phrases_first_in_order_and_without_duplicates() -> None:
    suggestion = suggest_topic("公交班次太少", "交通不便，公交班次少，希望增开公交线路")
    assert suggestion.topic is Topic.transport
    assert suggestion.matched == ("公交", "班次", "交通", "公交线路")


def test_title_match_weighs_more_than_description_match() -> None:
    in_title = suggest_topic("停电", "")
    in_description = suggest_topic("", "停电")
    assert in_title.topic is in_description.topic is Topic.electricity
    assert in_title.confidence > in_description.confidence
    # A title phrase outweighs a description phrase of another topic of the same length.
    assert suggest_topic("停水", "停电").topic is Topic.water
    assert suggest_topic("停电", "停水").topic is Topic.electricity


def test_longer_phrase_weighs_more_than_shorter() -> None:
    assert suggest_topic("", "法律援助").confidence > suggest_topic("", "法律").confidence
    # 不正当竞争 (5 characters) against 线路 (2): market order wins.
    assert suggest_topic("", "公交线路存在不正当竞争").topic is Topic.market_order


def test_more_evidence_raises_confidence() -> None:
    one = suggest_topic("", "噪音")
    three = suggest_topic("", "噪音、垃圾、扬尘")
    assert three.confidence > one.confidence


def test_competing_topic_lowers_confidence() -> None:
    alone = suggest_topic("", "园区停电")
    contested = suggest_topic("", "园区停电又停水，电压不稳")
    assert contested.topic is Topic.electricity
    assert contested.confidence < suggest_topic("", "园区停电，电压不稳").confidence
    assert alone.confidence > 0


def test_repeating_a_phrase_does_not_add_evidence() -> None:
    assert suggest_topic("", "垃圾").confidence == suggest_topic("", "垃圾垃圾垃圾").confidence


def test_confidence_stays_within_bounds_for_long_texts() -> None:
    description = "，".join(TOPIC_KEYWORDS[Topic.land]) * 20
    suggestion = suggest_topic("土地" + "征地" * 50, description)
    assert suggestion.topic is Topic.land
    assert 0.99 <= suggestion.confidence <= 1.0


def test_ties_follow_topic_declaration_order() -> None:
    assert suggest_topic("", "征地手续费").topic is Topic.land
    assert suggest_topic("", "停水停电").topic is Topic.electricity  # electricity before water


def test_text_is_normalized() -> None:
    assert suggest_topic("", "ＡＢ公司　扬尘污染").topic is Topic.environment
    custom = {Topic.permit: ("ICP备案",)}
    assert suggest_topic("", "网站icp备案", vocabulary=custom).matched == ("ICP备案",)


def test_custom_vocabulary_extends_without_touching_the_module() -> None:
    assert suggest_topic("", "充电桩安装").topic is Topic.other
    vocabulary = {
        **TOPIC_KEYWORDS,
        Topic.electricity: (*TOPIC_KEYWORDS[Topic.electricity], "充电桩"),
    }
    suggestion = suggest_topic("", "充电桩安装", vocabulary=vocabulary)
    assert suggestion.topic is Topic.electricity
    assert suggestion.matched == ("充电桩",)
    assert "充电桩" not in TOPIC_KEYWORDS[Topic.electricity]


def test_suggestion_is_frozen() -> None:
    suggestion = suggest_topic("", "停电")
    with pytest.raises(dataclasses.FrozenInstanceError):
        suggestion.topic = Topic.water  # type: ignore[misc]


def test_vocabulary_is_well_formed() -> None:
    assert set(TOPIC_KEYWORDS) == set(Topic)
    seen: dict[str, Topic] = {}
    for topic, phrases in TOPIC_KEYWORDS.items():
        assert phrases, topic
        for phrase in phrases:
            assert phrase, topic
            assert phrase == phrase.strip(), phrase
            assert phrase not in seen, f"{phrase} is listed under {seen.get(phrase)} and {topic}"
            seen[phrase] = topic
