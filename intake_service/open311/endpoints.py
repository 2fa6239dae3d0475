"""Open311 GeoReport v2 (http://wiki.open311.org/GeoReport_v2) and its Service Discovery.

``/open311/discovery.{json,xml}`` and, under ``/open311/v2``: ``services``, ``services/{code}``,
``requests`` (POST, GET), ``requests/{id}``, ``tokens/{token}``, each as ``.json`` or ``.xml``.
Every error under ``/open311`` — unknown paths and formats included — is answered in the
spec's shape and in the requested format (see :mod:`intake_service.open311.errors`).

The OpenAPI types each answer's JSON form (:mod:`intake_service.open311.schemas`). The list of
requests keeps the spec's own paging (``page``/``page_size``, the GeoReport pagination
extension) rather than the project's cursors: Open311 clients are written against the
published standard. POST answers 200, as the spec says, so it carries no ``Location``.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from fastapi.routing import APIRoute
from starlette.convertors import Convertor, register_url_convertor

from intake_service.issue.endpoints import duplicate_tracking_no
from intake_service.issue.group import SubmissionGroups
from intake_service.issue.service import issue_service
from intake_service.open311 import catalog
from intake_service.open311.errors import (
    Open311Error,
    Open311Route,
    bad_request,
    not_found,
)
from intake_service.open311.formats import Format, parse_format, render
from intake_service.open311.schemas import (
    Discovery,
    Open311ErrorItem,
    Service,
    ServiceDefinition,
    ServiceRequest,
    ServiceRequestCreated,
    ServiceRequestToken,
)
from intake_service.open311.service import (
    authenticate,
    build_query,
    build_submission,
    parse_ids,
    request_by_id,
    request_view,
    requests_by_ids,
    search_requests,
    settings,
    submit_notice,
)
from services.db import SessionDep
from services.errors import bilingual
from services.ratelimit import public_base_url

router = APIRouter(tags=["open311"], route_class=Open311Route)

SPECIFICATION: Final = "http://wiki.open311.org/GeoReport_v2"
V2: Final = "/open311/v2"
_FORM_TYPES: Final = ("application/x-www-form-urlencoded", "multipart/form-data")
_MAX_FORM_FIELDS: Final = 200

JurisdictionId = Annotated[
    str | None, Query(description="Ignored: this endpoint serves one jurisdiction")
]
_XML: Final = {"text/xml": {"schema": {"type": "string", "description": "The same fields as XML"}}}


def _answers(model: Any, *errors: tuple[int, str]) -> dict[int | str, dict[str, Any]]:
    """``responses=``: the JSON form's schema (and the XML alternative) for 200 and for the
    spec's errors, a list of ``{code, description}`` (``<errors>`` in XML)."""
    answers: dict[int | str, dict[str, Any]] = {
        200: {"model": model, "description": "JSON (`.json`) or XML (`.xml`)", "content": _XML}
    }
    for status_code, description in ((400, "Open311 errors: invalid request"),
                                     (404, "Open311 errors: unknown resource or format"), *errors):  # fmt: skip
        answers[status_code] = {
            "model": list[Open311ErrorItem], "description": description, "content": _XML,
        }  # fmt: skip
    return answers


def _format(fmt: str) -> Format:
    parsed = parse_format(fmt)
    if parsed is None:
        raise not_found(
            bilingual("不支持的格式,请使用 .json 或 .xml", "Unsupported format: use .json or .xml")
        )
    return parsed


# --- discovery ----------------------------------------------------------------------------------


@router.get(
    "/open311/discovery.{fmt}",
    response_class=Response,
    responses=_answers(Discovery),
    summary="Open311 service discovery",
)
async def discovery(request: Request, fmt: str) -> Response:
    """Open311 Service Discovery: the GeoReport v2 endpoint, its formats and contact. Public."""
    response_format = _format(fmt)
    base = public_base_url(request)
    document = {
        "changeset": catalog.CATALOG_CHANGESET,
        "contact": settings.contact,
        "key_service": settings.key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": base + V2,
                "changeset": catalog.CATALOG_CHANGESET,
                "type": settings.endpoint_type,
                "formats": [
                    Format.xml.media_type.split(";")[0],
                    Format.json.media_type.split(";")[0],
                ],
            }
        ],
    }
    return render(response_format, "discovery", document)


# --- services -----------------------------------------------------------------------------------


@router.get(
    V2 + "/services.{fmt}",
    response_class=Response,
    responses=_answers(list[Service]),
    summary="Open311 service list (one service per topic)",
)
async def list_services(fmt: str, jurisdiction_id: JurisdictionId = None) -> Response:
    """GeoReport v2 GET services: one service per topic, each with attributes. Public."""
    return render(_format(fmt), "services", catalog.service_list())


@router.get(
    V2 + "/services/{service_code}.{fmt}",
    response_class=Response,
    responses=_answers(ServiceDefinition),
    summary="Open311 service definition (attributes)",
)
async def service_definition(
    service_code: str, fmt: str, jurisdiction_id: JurisdictionId = None
) -> Response:
    """GeoReport v2 GET service definition: the attributes a request may carry (request type,
    urgency, enterprise). Public."""
    response_format = _format(fmt)
    topic = catalog.find_topic(service_code)
    if topic is None:
        raise not_found(
            bilingual(
                f"未找到服务 {service_code[:40]}", f"service_code {service_code[:40]!r} not found"
            )
        )
    return render(response_format, "service_definition", catalog.service_definition(topic))


# --- requests -----------------------------------------------------------------------------------


async def _fields(request: Request) -> dict[str, list[str]]:
    """The POST parameters: the form body (the spec), then the query string for anything the
    body does not carry (older clients, and the ``api_key`` security scheme in query)."""
    fields: dict[str, list[str]] = {}
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type in _FORM_TYPES:
        form = await request.form(max_files=0, max_fields=_MAX_FORM_FIELDS)
        for key, value in form.multi_items():
            if not isinstance(value, str):
                raise bad_request(
                    bilingual(
                        "不接受文件上传,请使用 media_url", "Files are not accepted: use media_url"
                    )
                )
            fields.setdefault(key, []).append(value)
    query: dict[str, list[str]] = {}
    for key, value in request.query_params.multi_items():
        query.setdefault(key, []).append(value)
    for key, values in query.items():
        fields.setdefault(key, values)
    return fields


@router.post(
    V2 + "/requests.{fmt}",
    response_class=Response,
    responses=_answers(list[ServiceRequestCreated], (403, "api_key missing or invalid")),
    summary="Open311 POST service request (form-encoded)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "required": ["api_key", "service_code"],
                        "properties": {
                            "api_key": {"type": "string"},
                            "service_code": {"type": "string"},
                            "lat": {"type": "number"},
                            "long": {"type": "number"},
                            "address_string": {"type": "string"},
                            "address_id": {"type": "string"},
                            "email": {"type": "string"},
                            "device_id": {"type": "string"},
                            "account_id": {"type": "string"},
                            "first_name": {"type": "string"},
                            "last_name": {"type": "string"},
                            "phone": {"type": "string"},
                            "description": {"type": "string", "maxLength": 4000},
                            "media_url": {"type": "array", "items": {"type": "string"}},
                            "attribute[request_type]": {"type": "string"},
                            "attribute[urgency]": {"type": "string"},
                            "attribute[enterprise_name]": {"type": "string"},
                            "attribute[uscc]": {"type": "string"},
                        },
                    }
                }
            },
        }
    },
)
async def create_request(request: Request, fmt: str, session: SessionDep) -> Response:
    """GeoReport v2 POST service request, form-encoded, by an Open311 client with an `api_key`
    (form field, query or X-API-Key). Answers 200 with the tracking number as
    `service_request_id` (realtime: no token); writes are rate limited per key."""
    response_format = _format(fmt)
    fields = await _fields(request)
    api_key = next((v for v in fields.get("api_key", []) if v.strip()), None)
    api_key = api_key or request.headers.get("x-api-key")
    client = await authenticate(session, api_key)
    submission = build_submission(fields)
    data, suggested = submission.data, submission.type_suggested
    groups: SubmissionGroups | None = request.app.state.submission_groups
    if groups is not None and groups.takes(data):
        accepted, _answer = await groups.accept(
            session, data, client=client, key=None, type_suggested=suggested
        )
        tracking_no, duplicate_of = accepted.issue.tracking_no, accepted.duplicate_of
    else:
        issue, _secret = await issue_service.submit(
            session, data, client=client, type_suggested=suggested
        )
        tracking_no, duplicate_of = issue.tracking_no, await duplicate_tracking_no(session, issue)
    # The spec answers 200 (the OpenAPI description too); there is no place for the tracking
    # secret: the tracking number is the Open311 id, and GET requests/{id} is public.
    body = [{"service_request_id": tracking_no, "service_notice": submit_notice(duplicate_of)}]
    return render(response_format, "service_requests", body)


@router.get(
    V2 + "/requests.{fmt}",
    response_class=Response,
    responses=_answers(list[ServiceRequest]),
    summary="Open311 GET service requests",
)
async def list_requests(
    request: Request,
    fmt: str,
    session: SessionDep,
    jurisdiction_id: JurisdictionId = None,
    service_request_id: Annotated[
        str | None, Query(description="Comma-delimited; overrides every other argument")
    ] = None,
    service_code: Annotated[str | None, Query(description="Comma-delimited")] = None,
    start_date: Annotated[str | None, Query(description="W3C datetime")] = None,
    end_date: Annotated[str | None, Query(description="W3C datetime")] = None,
    status: Annotated[str | None, Query(description="open, closed (comma-delimited)")] = None,
    page: Annotated[str | None, Query(description="Pagination extension, from 1")] = None,
    page_size: Annotated[
        str | None, Query(description="Pagination extension, at most 1000")
    ] = None,
) -> Response:
    """GeoReport v2 GET service requests of the public channels, newest first, filtered as the
    spec says; paged with the spec's `page`/`page_size` extension. Public; confidential
    requests show no description or location."""
    response_format = _format(fmt)
    params = request.query_params
    ids = parse_ids(params.getlist("service_request_id"))
    # Every argument is checked, though service_request_id "overrides all other arguments".
    query = build_query(
        start_date=start_date,
        end_date=end_date,
        service_codes=params.getlist("service_code"),
        statuses=params.getlist("status"),
        page=page,
        page_size=page_size,
    )
    if ids:
        issues = await requests_by_ids(session, ids)
    else:
        issues = await search_requests(session, query)
    return render(response_format, "service_requests", [request_view(issue) for issue in issues])


@router.get(
    V2 + "/requests/{service_request_id}.{fmt}",
    response_class=Response,
    responses=_answers(list[ServiceRequest]),
    summary="Open311 GET service request",
)
async def get_request(
    service_request_id: str, fmt: str, session: SessionDep, jurisdiction_id: JurisdictionId = None
) -> Response:
    """GeoReport v2 GET service request by tracking number (a one-item list). Public;
    confidential requests show no description or location."""
    response_format = _format(fmt)
    issue = await request_by_id(session, service_request_id)
    return render(response_format, "service_requests", [request_view(issue)])


@router.get(
    V2 + "/tokens/{token}.{fmt}",
    response_class=Response,
    responses=_answers(list[ServiceRequestToken]),
    summary="Open311 GET service_request_id from a token",
)
async def get_token(
    token: str, fmt: str, session: SessionDep, jurisdiction_id: JurisdictionId = None
) -> Response:
    """Every service is `realtime`: POST answers with the service_request_id and never a
    token. For clients that ask anyway, a token that is a tracking number resolves to itself.
    Public."""
    response_format = _format(fmt)
    issues = await requests_by_ids(session, [token])
    if not issues:
        raise not_found(bilingual("未找到该 token", "token not found"))
    body = [{"service_request_id": issues[0].tracking_no, "token": token}]
    return render(response_format, "service_requests", body)


# --- everything else under /open311 -------------------------------------------------------------

_ALL_METHODS: Final = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


class _AnyRest(Convertor[str]):
    """Starlette's ``path`` convertor is ``.*``, which stops at a newline: a path with ``%0A``
    would miss the catch-all and get the native 404. This one spans every character, so such a
    path reaches the control-character check and gets Open311's 400."""

    regex = "(?s:.*)"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("open311_rest", _AnyRest())


@router.api_route("/open311", methods=_ALL_METHODS, include_in_schema=False)
@router.api_route("/open311/{path:open311_rest}", methods=_ALL_METHODS, include_in_schema=False)
async def not_an_open311_resource(request: Request) -> Response:
    """Unknown paths and methods under /open311 get Open311 errors, not the native envelope.
    Must stay the router's last route."""
    allowed: set[str] = set()
    for route in router.routes:
        if (
            isinstance(route, APIRoute)
            and route.endpoint is not not_an_open311_resource
            and route.path_regex.match(request.url.path)
        ):
            allowed |= route.methods or set()
    if allowed:
        raise Open311Error(
            405,
            [(405, bilingual("不支持该请求方法", "Method not allowed"))],
            headers={"Allow": ", ".join(sorted(allowed))},
        )
    raise not_found(bilingual("资源不存在", "Resource not found"))
