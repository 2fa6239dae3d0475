"""Submissions that look like a district's real traffic: several topics, varied wording, a
different submitter each time (so none is a duplicate of another), some with a location.

Deterministic for a given seed, cheap to produce (the load generator builds one per request).
"""

from __future__ import annotations

import random
from typing import Any
from urllib.parse import urlencode

import orjson

# topic → (titles, sentences). The words are what the topic suggester looks for.
TOPICS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "transport": (
        ("园区公交班次太少", "企业门口道路破损", "货车停车位不足", "路口红绿灯时长不合理"),
        (
            "早晚高峰公交车很挤,员工上下班困难",
            "希望增加公交班次,延伸公交线路到园区",
            "道路坑洼多年未修,运货车辆经常颠坏货物",
            "周边没有停车场,客户来访只能路边停车",
            "红绿灯配时太短,大货车过不去",
            "建议在厂区门口增设公交站",
            "夜间路灯不亮,存在安全隐患",
        ),
    ),
    "electricity": (
        ("厂区频繁停电", "电力增容审批慢", "变压器容量不够"),
        (
            "本月已经停电三次,生产线被迫停工",
            "申请增容两个月仍未接电",
            "供电电压不稳,设备经常跳闸",
            "希望供电公司提前通知计划停电",
            "新上生产线需要专线供电",
            "电费结算有误,请核实",
        ),
    ),
    "water": (
        ("园区停水未通知", "自来水水压不足", "污水管网未接通"),
        (
            "连续两天停水,食堂无法开伙",
            "楼层高处水压太低,消防用水不够",
            "污水管网一直没有接通,只能用罐车拉",
            "供水管道漏水严重",
            "希望尽快完成供水管道改造",
            "水费单价比周边园区高",
        ),
    ),
    "environment": (
        ("附近工厂夜间噪音扰民", "河道有异味", "扬尘污染严重"),
        (
            "夜里机器轰鸣影响员工休息",
            "河道发黑发臭,夏天气味很大",
            "工地扬尘没有覆盖,车辆带泥上路",
            "环评手续办理周期太长",
            "希望环保检查不要一刀切停产",
            "垃圾清运不及时,堆在路边",
        ),
    ),
    "land": (
        ("厂房用地手续办不下来", "不动产权证迟迟未发", "用地指标不足"),
        (
            "项目用地规划许可已经申请半年",
            "土地出让金已缴清,不动产登记还没办",
            "扩建需要新增用地指标",
            "园区闲置土地较多,希望盘活",
            "征地补偿款还未到位",
            "厂房用地性质需要调整",
        ),
    ),
    "funds": (
        ("中小企业融资难", "政府补贴未兑现", "工程款被拖欠"),
        (
            "银行贷款审批慢,资金周转困难",
            "去年申报的扶持资金至今未拨付",
            "政府项目工程款拖欠一年多",
            "希望出台贴息政策",
            "留抵退税进度很慢",
            "担保公司收费太高",
        ),
    ),
    "permit": (
        ("营业执照变更跑了好几趟", "施工许可审批时间长", "证照办理材料重复提交"),
        (
            "同样的材料在不同窗口要交好几次",
            "施工许可证审批超过承诺时限",
            "希望网上就能办理执照变更",
            "消防验收排队时间太长",
            "食品经营许可延续需要现场核查,等了很久",
            "审批事项能否一窗通办",
        ),
    ),
}
PLACES = (
    "邯山经济开发区",
    "光明路街道",
    "新兴国际商贸物流中心",
    "马庄乡",
    "渚河路街道",
    "北张庄镇",
    "火磨街道",
    "陵园路街道",
    "罗城头街道",
    "河沙镇镇",
)
SURNAMES = "张王李赵刘陈杨黄周吴"
TOPIC_NAMES = tuple(TOPICS)


class Workload:
    """Builds request bodies; ``index`` makes the submitter (phone) unique per request."""

    def __init__(self, seed: int, phone_base: int) -> None:
        self.random = random.Random(seed)
        self.phone_base = phone_base
        self.last_topic = ""

    def _text(self) -> tuple[str, str, str, str]:
        rnd = self.random
        topic = rnd.choice(TOPIC_NAMES)
        titles, sentences = TOPICS[topic]
        place = rnd.choice(PLACES)
        picked = rnd.sample(sentences, 2)
        description = f"{place}{picked[0]},{picked[1]}。第{rnd.randrange(1, 60)}号。"
        return topic, rnd.choice(titles), description, place

    def phone(self, index: int) -> str:
        return f"13{(self.phone_base + index) % 10**9:09d}"

    def submission(self, index: int, channel: str = "app") -> dict[str, Any]:
        topic, title, description, place = self._text()
        self.last_topic = topic
        rnd = self.random
        body: dict[str, Any] = {
            "channel": channel,
            "type": rnd.choice(("complaint", "help", "suggestion", "complaint")),
            "title": title,
            "description": description,
            "submitter": {
                "kind": "person",
                "name": rnd.choice(SURNAMES) + "先生",
                "phone": self.phone(index),
            },
        }
        if rnd.random() < 0.7:
            body["location"] = {
                "address": f"邯山区{place}",
                "lat": round(36.55 + rnd.random() / 20, 5),
                "lon": round(114.48 + rnd.random() / 20, 5),
            }
        return body

    def json_body(self, index: int) -> bytes:
        return orjson.dumps(self.submission(index))

    def open311_form(self, index: int, api_key: str) -> bytes:
        topic, _title, description, place = self._text()
        rnd = self.random
        fields = {
            "api_key": api_key,
            "service_code": topic,
            "description": description,
            "first_name": "先生",
            "last_name": rnd.choice(SURNAMES),
            "phone": self.phone(index),
            "attribute[request_type]": "投诉",
        }
        if rnd.random() < 0.5:
            fields["lat"] = f"{36.55 + rnd.random() / 20:.5f}"
            fields["long"] = f"{114.48 + rnd.random() / 20:.5f}"
        else:
            fields["address_string"] = f"邯山区{place}"
        return urlencode(fields).encode()
