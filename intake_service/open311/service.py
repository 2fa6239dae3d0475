"""Open311 GeoReport v2 on top of the intake service: submissions become :class:`IssueCreate`
on the ``open311`` channel; requests are shown with Open311's two statuses.

Mapping decisions
-----------------
* ``service_code`` is the topic; the attribute ``request_type`` gives the request type (key
  ``complaint`` or name ``投诉``), ``urgency`` the urgency (default 一般). Most Open311 apps send
  no attributes at all, so a missing ``request_type`` is suggested from the text the way a
  missing topic is (``type_suggested`` on the request; the verifier confirms it), falling back
  to ``INTAKE_OPEN311_DEFAULT_REQUEST_TYPE`` (求助) when the text says nothing. A value not in
  the list is still refused.
* Title: the first line of ``description``, cut to 30 characters; the service name and type
  (``用电投诉``) when the description is missing or too short. A missing description (the spec
  makes it optional) is replaced by a short generated one.
* Submitter: a person (an enterprise with ``attribute[uscc]``) named ``last_name`` +
  ``first_name``; a phone makes the request real-name, no phone makes it anonymous (the native
  API's rule: real-name needs a phone). ``device_id`` and ``account_id`` have no place in a
  request and are not kept.
* Location: ``lat``/``long``, ``address_string`` → address, ``address_id`` → area code (the
  jurisdiction's own address/area id, used by routing).
* ``media_url`` (repeatable, up to 10) → URL attachments.
* Status: ``closed`` once the request is finished one way or another — completed, archived,
  answered directly, rejected, merged, a duplicate of another, or withdrawn — else ``open``
  (a request sent back for redo becomes ``open`` again). ``status_notes`` is the latest status
  note, else the Chinese name of the detailed status (``已派单``).

Visibility: GET requests is public in GeoReport v2 (no API key), so it shows only requests that
came in through a public channel (``open311`` by default, ``INTAKE_OPEN311_PUBLIC_CHANNELS``):
someone who used the app or the hotline never agreed to have the text published, and the
native API hides even the status behind the tracking secret. Confidential requests (reports,
举报) are left out of searches; looked up by their tracking number they show only the status
fields, never text, address, position or media.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal

from pydantic import ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from intake_service.issue.schemas import IssueCreate
from intake_service.issue.topic_suggest import suggest_request_type
from intake_service.models import ApiKey, Issue
from intake_service.open311 import catalog
from intake_service.open311.errors import bad_request, forbidden, not_found
from intake_service.open311.formats import w3_datetime
from services.api_keys import ApiKeyIdentity, verify_api_key
from services.errors import bilingual
from services.models import utcnow
from shared.calendar import SHANGHAI
from shared.enums import Channel, RequestStatus, RequestType, SubmitterKind, Topic, Urgency
from shared.identifiers import InvalidIdentifier, validate_phone, validate_uscc
from shared.schemas.text import has_control_characters


class Open311Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_OPEN311_", env_file=".env", extra="ignore")

    contact: str = "区营商环境优化中心(诉求受理):工作日 08:30–12:00、13:30–17:30 电话 12345"
    key_service: str = (
        "API 密钥由区营商环境优化中心签发(渠道 open311),请向中心运维管理员申请 / "
        "API keys (channel open311) are issued by the center's operations administrator"
    )
    endpoint_type: Literal["production", "test"] = "production"
    public_channels: list[str] = [Channel.open311.value]
    # The type of a request whose app sent no request_type and whose text does not say.
    default_request_type: RequestType = RequestType.help


settings = Open311Settings()

MAX_DESCRIPTION: Final = 4000  # GeoReport v2: "free form text limited to 4,000 characters"
TITLE_LENGTH: Final = 30
MAX_MEDIA: Final = 10
MAX_RESULTS: Final = 1000  # "first 1000 requests returned"
DEFAULT_SPAN: Final = timedelta(days=90)  # "most recent 90 days"; a range may not span more
MAX_IDS: Final = 1000

CLOSED_STATUSES: Final = frozenset(
    {
        RequestStatus.completed,
        RequestStatus.closed,
        RequestStatus.answered,
        RequestStatus.rejected,
        RequestStatus.merged,
        RequestStatus.duplicate,
        RequestStatus.withdrawn,
    }
)
_CLOSED_VALUES: Final = sorted(status.value for status in CLOSED_STATUSES)
OPEN311_STATUSES: Final = ("open", "closed")


def open311_status(status: str) -> str:
    return "closed" if status in _CLOSED_VALUES else "open"


def _status_label(status: str) -> str:
    try:
        return RequestStatus(status).label_zh
    except ValueError:
        return status


# --- output -------------------------------------------------------------------------------------


def submit_notice(duplicate_of: str | None) -> str:
    if duplicate_of:
        return f"与诉求 {duplicate_of} 重复,已关联至原诉求一并办理"
    return "已受理,受理中心将在1个工作日内核查并派单办理,办理进度可凭诉求编号查询"


def _notice(issue: Issue) -> str | None:
    if issue.expected_at is None or open311_status(issue.status) == "closed":
        return None
    due = issue.expected_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    if issue.expected_provisional:
        return f"预计 {due} 前办结(暂定:节假日安排公布后重新计算)"
    return f"预计 {due} 前办结"


def request_view(issue: Issue) -> dict[str, Any]:
    """One ``request`` of GET requests; ``issue.attachments`` must be loaded."""
    status = open311_status(issue.status)
    updated = issue.updated_at
    if status == "closed" and issue.status_changed_at is not None:
        # "For requests with status=closed, this will be the date the request was closed."
        updated = issue.status_changed_at
    view: dict[str, Any] = {
        "service_request_id": issue.tracking_no,
        "status": status,
        "status_notes": issue.status_note or _status_label(issue.status),
        "service_name": catalog.service_name(issue.topic),
        "service_code": issue.topic,
        "description": issue.description[:MAX_DESCRIPTION],
        "agency_responsible": issue.agency_responsible,
        "service_notice": _notice(issue),
        "requested_datetime": w3_datetime(issue.received_at),
        "updated_datetime": w3_datetime(updated),
        "expected_datetime": w3_datetime(issue.expected_at),
        "address": issue.address,
        "address_id": issue.area_code,
        "lat": issue.lat,
        "long": issue.lon,
        "media_url": next((a.url for a in issue.attachments if a.url), None),
    }
    if issue.confidential:
        for key in ("description", "address", "address_id", "lat", "long", "media_url"):
            view[key] = None
    return view


# --- queries ------------------------------------------------------------------------------------


def _visible() -> Any:
    return Issue.channel.in_(settings.public_channels)


async def requests_by_ids(session: AsyncSession, ids: Sequence[str]) -> list[Issue]:
    wanted = [i for i in dict.fromkeys(i.strip().upper() for i in ids) if 0 < len(i) <= 32]
    if not wanted:
        return []
    stmt = (
        select(Issue)
        .options(selectinload(Issue.attachments))
        .where(Issue.tracking_no.in_(wanted), _visible())
    )
    found = {issue.tracking_no: issue for issue in (await session.scalars(stmt)).all()}
    return [found[i] for i in wanted if i in found]


async def request_by_id(session: AsyncSession, service_request_id: str) -> Issue:
    issues = await requests_by_ids(session, [service_request_id])
    if not issues:
        raise not_found(
            bilingual(f"未找到诉求 {service_request_id[:40]}", "service_request_id not found")
        )
    return issues[0]


@dataclass(frozen=True, slots=True)
class RequestQuery:
    start: datetime
    end: datetime
    service_codes: tuple[str, ...] = ()
    statuses: frozenset[str] = frozenset()
    page: int = 1
    page_size: int = MAX_RESULTS


async def search_requests(session: AsyncSession, query: RequestQuery) -> list[Issue]:
    stmt = (
        select(Issue)
        .options(selectinload(Issue.attachments))
        .where(
            _visible(),
            Issue.confidential.is_(False),
            Issue.received_at >= query.start,
            Issue.received_at <= query.end,
        )
    )
    if query.service_codes:
        stmt = stmt.where(Issue.topic.in_(query.service_codes))
    if query.statuses == {"open"}:
        stmt = stmt.where(Issue.status.not_in(_CLOSED_VALUES))
    elif query.statuses == {"closed"}:
        stmt = stmt.where(Issue.status.in_(_CLOSED_VALUES))
    stmt = (
        stmt.order_by(Issue.received_at.desc(), Issue.id)
        .offset((query.page - 1) * query.page_size)
        .limit(query.page_size)
    )
    return list((await session.scalars(stmt)).all())


# --- query parameters ---------------------------------------------------------------------------


def split_list(values: Sequence[str]) -> list[str]:
    """``a,b`` and repeated parameters alike; empty items dropped ("optional" means an empty
    parameter is the same as none)."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


# W3C NOTE-datetime (the spec's "w3 format"): a year, year-month or date, or a date and time
# with its zone designator. The zone's "+" often arrives as a space when sent unencoded.
_W3C_DATETIME: Final = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:[Tt](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?P<fraction>\.\d+)?)?"
    r"(?P<zone>[Zz]|[+\- ]\d{2}:\d{2}))?)?)?$",
    re.ASCII,
)


def parse_w3_datetime(name: str, value: str) -> datetime:
    """A W3C datetime (``2026-01-01T00:00:00Z``, ``2026-01-01T08:00+08:00``, ``2026-01-01``) in
    UTC; a bare date or month is local midnight in Asia/Shanghai."""
    match = _W3C_DATETIME.match(value.strip())
    try:
        if match is None:
            raise ValueError(value)
        parts = match.groupdict()
        zone = parts["zone"]
        if zone is None:
            tz: Any = SHANGHAI
        elif zone in "Zz":
            tz = UTC
        else:
            tz = datetime.strptime(zone.replace(" ", "+").replace(":", ""), "%z").tzinfo
        fraction = parts["fraction"] or ".0"
        parsed = datetime(
            int(parts["year"]),
            int(parts["month"] or 1),
            int(parts["day"] or 1),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            int(fraction[1:7].ljust(6, "0")),
            tzinfo=tz,
        )
        return parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        raise bad_request(
            bilingual(
                f"{name} 须为 W3C 日期时间格式,如 2026-01-01T00:00:00+08:00",
                f"{name} must be a W3C datetime, e.g. 2026-01-01T00:00:00Z",
            )
        ) from None


def _shift(value: datetime, delta: timedelta) -> datetime:
    try:
        return value + delta
    except OverflowError:
        return (
            datetime.max.replace(tzinfo=UTC)
            if delta > timedelta(0)
            else datetime.min.replace(tzinfo=UTC)
        )


def _positive_int(name: str, value: str | None, default: int, maximum: int) -> int:
    if value is None or not value.strip():
        return default
    text = value.strip()
    if not text.isascii() or not text.isdigit() or not 1 <= int(text) <= maximum:
        raise bad_request(
            bilingual(
                f"{name} 须为 1–{maximum} 的整数", f"{name} must be an integer from 1 to {maximum}"
            )
        )
    return int(text)


def build_query(
    *,
    start_date: str | None,
    end_date: str | None,
    service_codes: Sequence[str],
    statuses: Sequence[str],
    page: str | None,
    page_size: str | None,
) -> RequestQuery:
    """GET requests' filters with the spec's defaults: the most recent 90 days, a range of at
    most 90 days, at most 1000 requests (``page``/``page_size``: the pagination extension)."""
    start = (
        parse_w3_datetime("start_date", start_date) if start_date and start_date.strip() else None
    )
    end = parse_w3_datetime("end_date", end_date) if end_date and end_date.strip() else None
    if start is None and end is None:
        end = utcnow()
        start = end - DEFAULT_SPAN
    elif start is None:
        assert end is not None
        start = _shift(end, -DEFAULT_SPAN)
    elif end is None:
        end = _shift(start, DEFAULT_SPAN)
    elif start > end:
        raise bad_request(
            bilingual("start_date 不能晚于 end_date", "start_date must not be after end_date")
        )
    elif end - start > DEFAULT_SPAN:
        raise bad_request(
            bilingual("查询时间范围不能超过 90 天", "The date range may not span more than 90 days")
        )
    wanted_statuses = {status.lower() for status in split_list(statuses)}
    unknown = wanted_statuses - set(OPEN311_STATUSES)
    if unknown:
        raise bad_request(
            bilingual(
                "status 只能为 open 或 closed",
                f"status must be open or closed, not {sorted(unknown)[0][:40]}",
            )
        )
    return RequestQuery(
        start=start,
        end=end,
        service_codes=tuple(dict.fromkeys(split_list(service_codes))),
        statuses=frozenset(wanted_statuses),
        page=_positive_int("page", page, 1, 1_000_000),
        page_size=_positive_int("page_size", page_size, MAX_RESULTS, MAX_RESULTS),
    )


def parse_ids(values: Sequence[str]) -> list[str]:
    ids = split_list(values)
    if len(ids) > MAX_IDS:
        raise bad_request(
            bilingual(
                f"service_request_id 最多 {MAX_IDS} 个",
                f"At most {MAX_IDS} service_request_id values",
            )
        )
    return ids


# --- POST requests ------------------------------------------------------------------------------


async def authenticate(session: AsyncSession, raw: str | None) -> ApiKeyIdentity:
    """GeoReport v2: "403 - api_key was not provided or is invalid"; a key bound to another
    channel is refused the same way."""
    if not raw or not raw.strip():
        raise forbidden(bilingual("未提供 api_key", "api_key was not provided"))
    identity = await verify_api_key(session, ApiKey, raw.strip())
    if identity is None:
        raise forbidden(
            bilingual(
                "api_key 无效", "Invalid api_key received -- can't proceed with create_request"
            )
        )
    if identity.scope not in ("*", Channel.open311.value):
        raise forbidden(
            bilingual(
                "该 api_key 无权通过 Open311 提交诉求",
                "This api_key may not submit requests through Open311",
            )
        )
    return identity


_URL: Final = re.compile(r"^https?://[^\s\x00-\x1f\x7f]+$")
_ATTRIBUTE_KEY: Final = re.compile(r"^attribute\[([^\]\[]+)\](\[\])?$")

_FIELD_NAMES: Final = {
    ("title",): "description",
    ("description",): "description",
    ("submitter", "name"): "first_name/last_name",
    ("submitter", "phone"): "phone",
    ("submitter", "email"): "email",
    ("submitter", "uscc"): "attribute[uscc]",
    ("submitter", "enterprise_name"): "attribute[enterprise_name]",
    ("location", "address"): "address_string",
    ("location", "area_code"): "address_id",
    ("location", "lat"): "lat",
    ("location", "lon"): "long",
    ("location",): "lat/long",
    ("attachments",): "media_url",
}


def _field_name(loc: tuple[int | str, ...]) -> str:
    parts = tuple(part for part in loc if isinstance(part, str))
    for length in range(len(parts), 0, -1):
        name = _FIELD_NAMES.get(parts[:length])
        if name is not None:
            return name
    return ".".join(parts) or "request"


def _attributes(fields: Mapping[str, list[str]]) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for key, values in fields.items():
        match = _ATTRIBUTE_KEY.match(key)
        if match:
            found.setdefault(match.group(1), []).extend(values)
    return found


def _single(values: list[str] | None) -> str | None:
    """The one value of a parameter; empty means absent."""
    if not values:
        return None
    present = [value.strip() for value in values if value.strip()]
    return present[-1] if present else None


def _list_attribute(
    attribute: catalog.Attribute, values: list[str] | None, problems: list[str]
) -> str | None:
    value = _single(values)
    if value is None:
        if attribute.required:
            problems.append(
                bilingual(
                    f"缺少必填属性 attribute[{attribute.code}]",
                    f"attribute[{attribute.code}] is required",
                )
            )
        return None
    if values is not None and len([v for v in values if v.strip()]) > 1:
        problems.append(
            bilingual(
                f"attribute[{attribute.code}] 只能选一个值",
                f"attribute[{attribute.code}] takes a single value",
            )
        )
        return None
    key = attribute.lookup(value)
    if key is None:
        allowed = ", ".join(f"{k}({n})" for k, n in attribute.values)
        problems.append(
            bilingual(
                f"attribute[{attribute.code}] 取值无效,可选:{allowed}",
                f"attribute[{attribute.code}] must be one of {', '.join(k for k, _ in attribute.values)}",
            )
        )
    return key


def _coordinate(name: str, value: str | None, problems: list[str]) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        problems.append(bilingual(f"{name} 须为数字", f"{name} must be a number"))
        return None
    return number


def _person_name(first: str | None, last: str | None) -> str | None:
    parts = [part for part in (last, first) if part]
    if not parts:
        return None
    # Chinese names run family name first with no space; Latin ones "first last".
    if all(not part.isascii() for part in parts):
        return "".join(parts)
    return " ".join(part for part in (first, last) if part)


@dataclass(frozen=True, slots=True)
class Submission:
    data: IssueCreate
    topic: Topic
    type_suggested: bool


def build_submission(fields: Mapping[str, list[str]]) -> Submission:
    """The form of POST requests (``attribute[code]=value`` included) as an ``IssueCreate``;
    raises the spec's 404 for an unknown service_code and 400 for anything else wrong."""
    code = _single(fields.get("service_code"))
    if code is None:
        raise bad_request(bilingual("未提供 service_code", "service_code was not provided"))
    topic = catalog.find_topic(code)
    if topic is None:
        raise not_found(
            bilingual(f"未找到服务 {code[:40]}", f"service_code {code[:40]!r} not found")
        )

    problems: list[str] = []
    attributes = _attributes(fields)
    request_type = _list_attribute(catalog.REQUEST_TYPE, attributes.get("request_type"), problems)
    urgency = _list_attribute(catalog.URGENCY, attributes.get("urgency"), problems)
    enterprise_name = _single(attributes.get("enterprise_name"))
    uscc = _single(attributes.get("uscc"))
    if uscc is not None:
        try:
            uscc = validate_uscc(uscc)
        except InvalidIdentifier as exc:
            problems.append(f"attribute[uscc]: {bilingual(exc.message_zh, exc.message_en)}")

    lat = _coordinate("lat", _single(fields.get("lat")), problems)
    lon = _coordinate("long", _single(fields.get("long")), problems)
    address = _single(fields.get("address_string"))
    address_id = _single(fields.get("address_id"))
    if lat is None and lon is None and address is None and address_id is None and not problems:
        problems.append(
            bilingual(
                "缺少位置信息:须提供 lat 与 long、address_string 或 address_id 之一",
                "A location is required: lat & long, address_string or address_id",
            )
        )

    phone = _single(fields.get("phone"))
    if phone is not None:
        try:
            phone = validate_phone(phone)
        except InvalidIdentifier as exc:
            problems.append(f"phone: {bilingual(exc.message_zh, exc.message_en)}")

    text = (_single(fields.get("description")) or "").strip()
    if len(text) > MAX_DESCRIPTION:
        problems.append(
            bilingual(
                f"description 不能超过 {MAX_DESCRIPTION} 字",
                f"description is limited to {MAX_DESCRIPTION} characters",
            )
        )
    media = [url.strip() for url in fields.get("media_url", []) if url.strip()]
    if any(has_control_characters(url, multiline=False) for url in media):
        problems.append(
            bilingual("media_url 含有控制字符", "media_url contains control characters")
        )
    elif any(not _URL.match(url) for url in media):
        problems.append(
            bilingual("media_url 须为 http(s) 网址", "media_url must be an http(s) URL")
        )
    if len(media) > MAX_MEDIA:
        problems.append(
            bilingual(f"media_url 最多 {MAX_MEDIA} 个", f"At most {MAX_MEDIA} media_url values")
        )
    if problems:
        raise bad_request(*problems)

    first_line = " ".join(next((line for line in text.splitlines() if line.strip()), "").split())
    if request_type is None:
        kind = suggest_request_type(first_line, text, default=settings.default_request_type).type
    else:
        kind = RequestType(request_type)
    label = f"{topic.label_zh}{kind.label_zh}"  # 用电投诉
    if len(text) >= 5:
        description = text
    elif text:
        description = f"{label}:{text}"
    else:
        description = f"{label}(经 Open311 提交,未填写描述)"
    title = first_line[:TITLE_LENGTH] if len(first_line) >= 2 else label

    name = _person_name(_single(fields.get("first_name")), _single(fields.get("last_name")))
    email = _single(fields.get("email"))
    submitter: dict[str, Any] | None = None
    if phone or name or email or uscc or enterprise_name:
        submitter = {
            "kind": (SubmitterKind.enterprise if uscc else SubmitterKind.person).value,
            "name": name,
            "phone": phone,
            "email": email,
            "uscc": uscc,
            "enterprise_name": enterprise_name,
        }
    location = {"address": address, "lat": lat, "lon": lon, "area_code": address_id}
    payload = {
        "channel": Channel.open311.value,
        "type": kind.value,
        "topic": topic.value,
        "urgency": urgency or Urgency.normal.value,
        "title": title,
        "description": description,
        "location": location,
        "submitter": submitter,
        "anonymous": phone is None,
        "attachments": [{"url": url} for url in media],
    }
    try:
        data = IssueCreate.model_validate(payload)
    except ValidationError as exc:
        messages = (
            f"{_field_name(error['loc'])}: {error['msg']}"
            for error in exc.errors(include_url=False)
        )
        raise bad_request(*dict.fromkeys(messages)) from None
    return Submission(data=data, topic=topic, type_suggested=request_type is None)
