"""Sign-in, the org tree, staff, department API keys and the dispatch catalogue."""

from __future__ import annotations

import asyncio
import uuid
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

from fastapi import APIRouter, Path, Query, Request, Response, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from routing_service.auth import ChangingPasswordPrincipal, CurrentPrincipal
from routing_service.department import schemas
from routing_service.department.dispatch_rules import dispatch_rule_service, rule_out, suggest_units
from routing_service.department.exceptions import (
    DocumentTooLarge,
    UnsupportedGrantType,
    UnsupportedMediaType,
)
from routing_service.department.loader import (
    JSON_TYPES,
    MAX_DOCUMENT_BYTES,
    YAML_TYPES,
    import_document,
    parse_document,
)
from routing_service.department.lockout import SignInGuard
from routing_service.department.oauth import NO_STORE, OAuthError, OAuthTokenRoute
from routing_service.department.service import (
    org_service,
    parent_path,
    staff_out,
    unit_out,
)
from routing_service.department.token_cutoffs import publish_after_commit, staff_cutoffs
from services.db import SessionDep
from services.errors import error_responses
from services.policy import authorize
from services.responses import set_location
from shared.enums import Role, Topic, UnitKind
from shared.errors import ErrorResponse

# Each operation carries one tag of its own (auth, org, dispatch): none on the router.
router = APIRouter(prefix="/v1")

CodePath = Annotated[str, Path(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_\-]+$")]
UsernamePath = Annotated[str, Path(min_length=1, max_length=64, pattern=r"^[0-9A-Za-z_.\-]+$")]
CodeQuery = Annotated[str | None, Query(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_\-@]+$")]

TOKEN_MAX_BYTES = 8 * 1024
FORM_TYPE = "application/x-www-form-urlencoded"
_PRINCIPAL_LABELS = {"unit_key": "部门系统(API 密钥)", "service": "内部服务"}


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";", 1)[0].strip().lower()


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise DocumentTooLarge(details={"max_bytes": limit})
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise DocumentTooLarge(details={"max_bytes": limit})
    return bytes(body)


def _inline_schema(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with ``$defs`` inlined, for ``openapi_extra`` request bodies."""
    schema = model.model_json_schema()
    defs: dict[str, Any] = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(defs[ref.rsplit("/", 1)[-1]])
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(value) for value in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


_TOKEN_SCHEMA = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "grant_type": {"type": "string", "enum": ["password"]},
        "username": {"type": "string", "maxLength": 64},
        "password": {"type": "string", "format": "password", "maxLength": 256},
    },
}
_DOCUMENT_SCHEMA = _inline_schema(schemas.OrgDocument)
_NO_STORE_HEADERS = {
    name: {"schema": {"type": "string", "const": value}} for name, value in NO_STORE.items()
}


# --- auth -------------------------------------------------------------------------------------


async def issue_token(request: Request, session: SessionDep) -> schemas.Token:
    """Exchange a staff username and password for a bearer token (OAuth2 password grant, form or
    JSON); no sign-in needed. Refusals are RFC 6749 errors (`invalid_grant` for wrong credentials),
    and every answer is marked `Cache-Control: no-store`. The token lives
    `STAFF_TOKEN_IDLE_MINUTES` (renew it with `POST /v1/auth/refresh`); `must_change_password`
    says the password must be changed first (enforced in production). Five failures for a
    username (twenty from an address) lock it: 429 `login_locked` with `Retry-After`, even for
    the right password, the lock doubling with each further failure."""
    media_type = _media_type(request)
    if media_type not in (FORM_TYPE, "application/json"):
        raise UnsupportedMediaType(
            "请以表单(application/x-www-form-urlencoded)或 JSON 提交用户名和密码",
            "Send username and password as a form or as JSON",
        )
    raw = await _read_limited(request, TOKEN_MAX_BYTES)
    try:
        if media_type == FORM_TYPE:
            fields = parse_qs(raw.decode("utf-8", errors="replace"), keep_blank_values=True)
            data = {
                name: values[0]
                for name, values in fields.items()
                if name in ("username", "password", "grant_type")
            }
            credentials = schemas.TokenRequest.model_validate(data)
        else:
            credentials = schemas.TokenRequest.model_validate_json(raw)
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_input=False)) from None
    if credentials.grant_type not in (None, "password"):
        raise UnsupportedGrantType()
    return await org_service.issue_token(
        session, credentials.username, credentials.password, SignInGuard.for_request(request)
    )


# Added with its own route class: refusals in RFC 6749 form, every answer marked no-store.
router.add_api_route(
    "/auth/token",
    issue_token,
    methods=["POST"],
    route_class_override=OAuthTokenRoute,
    response_model=schemas.Token,
    responses={
        200: {"headers": _NO_STORE_HEADERS},
        400: {"model": OAuthError, "headers": _NO_STORE_HEADERS,
              "description": "RFC 6749 error: invalid_request, invalid_grant or unsupported_grant_type"},
        413: {"model": ErrorResponse, "description": "Body over the service-wide limit"},
        429: {"model": OAuthError, "headers": _NO_STORE_HEADERS,
              "description": "temporarily_unavailable (code login_locked): too many failed "
                             "sign-ins for the username or from the address; retry after Retry-After"},
        503: {"model": OAuthError, "headers": _NO_STORE_HEADERS,
              "description": "temporarily_unavailable: retry after Retry-After"},
    },
    tags=["auth"],
    summary="Sign in (OAuth2 password grant; form or JSON)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                FORM_TYPE: {"schema": _TOKEN_SCHEMA},
                "application/json": {"schema": _TOKEN_SCHEMA},
            },
        }
    },
)  # fmt: skip


@router.post(
    "/auth/password",
    response_model=schemas.Token,
    responses={200: {"headers": _NO_STORE_HEADERS}, **error_responses(401, 403, 404, 422, 429)},
    tags=["auth"],
    summary="Change my own password (signed-in staff); answers a fresh token",
)
async def change_password(
    data: schemas.PasswordChange,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: ChangingPasswordPrincipal,
) -> schemas.Token:
    """The signed-in staff member changes their own password (auth.change_password, every staff
    role): `current_password` proves it is them (a wrong one answers 422
    `wrong_current_password` and counts towards the username's sign-in lockout, 429
    `login_locked`), `new_password` must pass the password policy and differ from it (422
    `weak_password`, `details.rule` saying which rule). Every token issued before is revoked
    (`token_revoked`, everywhere within `TOKEN_CUTOFF_REFRESH_SECONDS`), a forced change
    (`must_change_password`) is done, and the answer is a fresh token (200, as from
    `POST /v1/auth/token`, marked no-store) so the client goes on without signing in again. The
    one endpoint a token waiting for a forced change may call."""
    authorize(principal, "auth.change_password")
    guard = SignInGuard.for_request(request, by_address=False)
    user, unit = await org_service.change_password(session, principal, data, guard)
    cutoff = user.tokens_valid_after
    # Committed before the cutoff is published, and the new token issued after the cutoff.
    await session.commit()
    if cutoff is not None:
        await publish_after_commit(request.app.state.queue, {user.username: cutoff})
    response.headers.update(NO_STORE)
    return org_service.session_token(user, unit)


@router.post(
    "/auth/refresh",
    response_model=schemas.Token,
    responses={200: {"headers": _NO_STORE_HEADERS}, **error_responses(401, 403)},
    tags=["auth"],
    summary="Renew my session's token before it idles out (signed-in staff)",
)
async def refresh_token(
    response: Response, session: SessionDep, principal: CurrentPrincipal
) -> schemas.Token:
    """A new token for a staff token that is still valid (auth.refresh, every staff role): staff
    tokens live `STAFF_TOKEN_IDLE_MINUTES` (30), so a client refreshes while it is in use and a
    session left alone ends. Refused (401) when the account was disabled, moved or re-roled
    since (`token_revoked`) or the session signed in more than `STAFF_SESSION_MAX_HOURS` (12)
    ago (`session_expired`): then sign in again. The new token keeps the session's sign-in
    time and never outlives the session; the one presented stays valid until it expires."""
    authorize(principal, "auth.refresh")
    response.headers.update(NO_STORE)
    return await org_service.refresh_token(session, principal)


@router.get(
    "/auth/me",
    response_model=schemas.PrincipalOut,
    responses=error_responses(401),
    tags=["auth"],
    summary="Who am I (staff token or department API key)",
)
async def whoami(principal: CurrentPrincipal) -> schemas.PrincipalOut:
    """The caller as the services see it: kind, role, unit and path. Any signed-in caller (staff
    token, department API key or service)."""
    try:
        role_label = Role(principal.role).label_zh
    except ValueError:
        role_label = _PRINCIPAL_LABELS.get(principal.role, principal.role)
    return schemas.PrincipalOut(
        kind=principal.kind,
        subject=principal.subject,
        role=principal.role,
        role_label=role_label,
        unit_code=principal.unit_code,
        unit_path=principal.unit_path,
        display_name=principal.display_name,
    )


# --- org units --------------------------------------------------------------------------------


def _tree(nodes: list[schemas.OrgUnitNode]) -> list[schemas.OrgUnitNode]:
    by_path = {node.path: node for node in nodes}
    roots: list[schemas.OrgUnitNode] = []
    for node in nodes:
        parent = by_path.get(parent_path(node.path) or "")
        (parent.children if parent is not None else roots).append(node)
    return roots


@router.get(
    "/org/units",
    response_model=list[schemas.OrgUnitNode],
    responses=error_responses(401, 403, 422),
    tags=["org"],
    summary="Org units I may see, as a flat list (by path) or a tree",
)
async def list_units(
    session: SessionDep,
    principal: CurrentPrincipal,
    kind: UnitKind | None = None,
    view: Literal["flat", "tree"] = "flat",
    include_inactive: bool = True,
) -> list[schemas.OrgUnitNode]:
    """The org units the caller may see (org.read: staff, auditors and department keys): a center
    its subtree, a department its own unit and the district root, admins and auditors everything.
    Flat by path, or nested with `view=tree`."""
    authorize(principal, "org.read")
    units = await org_service.list_units(
        session, principal, kind=kind, include_inactive=include_inactive
    )
    nodes = [unit_out(unit) for unit in units]
    return _tree(nodes) if view == "tree" else nodes


@router.get(
    "/org/units/{code}",
    response_model=schemas.OrgUnit,
    responses=error_responses(401, 403, 404, 422),
    tags=["org"],
    summary="One org unit",
)
async def get_unit(
    code: CodePath, session: SessionDep, principal: CurrentPrincipal
) -> schemas.OrgUnit:
    """One org unit by code, if the caller may see it (org.read); otherwise 404, so that existence
    is not revealed."""
    authorize(principal, "org.read")
    return unit_out(await org_service.get_visible_unit(session, principal, code))


@router.post(
    "/org/units",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.OrgUnit,
    responses=error_responses(401, 403, 409, 422),
    tags=["org"],
    summary="Create an org unit (admin)",
)
async def create_unit(
    data: schemas.OrgUnitCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> schemas.OrgUnit:
    """Create an org unit under its parent (admins only). Answers 201 with `Location` naming the
    new unit."""
    authorize(principal, "org.manage")
    created = unit_out(await org_service.create_unit(session, data))
    set_location(response, request, "get_unit", code=created.code)
    return created


@router.patch(
    "/org/units/{code}",
    response_model=schemas.OrgUnit,
    responses=error_responses(401, 403, 404, 409, 422),
    tags=["org"],
    summary="Rename, move (with its subtree), deactivate or reactivate an org unit (admin)",
)
async def update_unit(
    code: CodePath,
    data: schemas.OrgUnitUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> schemas.OrgUnit:
    """Rename, move (with its whole subtree), deactivate or reactivate an org unit (admins only). A
    unit with active children, staff or dispatch rules cannot be deactivated (409)."""
    authorize(principal, "org.manage")
    unit = await org_service.get_unit(session, code)
    return unit_out(await org_service.update_unit(session, unit, data))


@router.post(
    "/org/import",
    response_model=schemas.ImportReport,
    responses=error_responses(401, 403, 413, 415, 422),
    tags=["org"],
    summary="Import a whole org tree from YAML or JSON (admin; idempotent, all-or-nothing)",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                media_type: {"schema": _DOCUMENT_SCHEMA}
                for media_type in ("application/json", "application/yaml", "text/yaml")
            },
        }
    },
)
async def import_org(
    request: Request, session: SessionDep, principal: CurrentPrincipal
) -> schemas.ImportReport:
    """Import a whole org tree (units, staff, dispatch catalogue) from a YAML or JSON document
    (admins only). An idempotent, all-or-nothing upsert that never deletes; staff moved or re-roled
    lose their earlier tokens once it commits."""
    authorize(principal, "org.manage")
    media_type = _media_type(request)
    if media_type not in JSON_TYPES | YAML_TYPES:
        raise UnsupportedMediaType(
            "机构文件须为 JSON(application/json)或 YAML(application/yaml)",
            "Send the document as application/json or application/yaml",
        )
    raw = await _read_limited(request, MAX_DOCUMENT_BYTES)
    # Parsing a large YAML document in pure Python takes a while: keep the event loop free.
    document = await asyncio.to_thread(parse_document, raw, media_type)
    report = await import_document(session, document)
    # An import may move or re-role staff (new cutoffs): publish them all once committed.
    await session.commit()
    await publish_after_commit(request.app.state.queue, await staff_cutoffs(session))
    return report


# --- staff ------------------------------------------------------------------------------------


@router.get(
    "/org/staff",
    response_model=schemas.StaffPage,
    responses=error_responses(400, 401, 403, 422),
    tags=["org"],
    summary="Staff users I may see, by unit then username, paged by cursor",
)
async def list_staff(
    session: SessionDep,
    principal: CurrentPrincipal,
    filters: Annotated[schemas.StaffFilters, Query()],
) -> schemas.StaffPage:
    """The staff users the caller may see (org.read; a center its subtree, a department its own
    unit), by unit path then username. Cursor pages: pass `next_cursor` back as `cursor`;
    `with_total=true` adds a count."""
    authorize(principal, "org.read")
    return await org_service.list_staff(session, principal, filters)


@router.get(
    "/org/staff/{username}",
    response_model=schemas.StaffUser,
    responses=error_responses(401, 403, 404, 422),
    tags=["org"],
    summary="One staff user",
)
async def get_staff(
    username: UsernamePath, session: SessionDep, principal: CurrentPrincipal
) -> schemas.StaffUser:
    """One staff user by username, if in the caller's scope (org.read); otherwise 404."""
    authorize(principal, "org.read")
    return staff_out(*await org_service.get_visible_staff(session, principal, username))


@router.post(
    "/org/staff",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.StaffUser,
    responses=error_responses(401, 403, 409, 422),
    tags=["org"],
    summary="Create a staff user (admin)",
)
async def create_staff(
    data: schemas.StaffUserCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> schemas.StaffUser:
    """Create a staff user in a unit whose kind fits the role (admins only). Answers 201 with
    `Location` naming the new user."""
    authorize(principal, "org.manage")
    created = staff_out(*await org_service.create_staff(session, data))
    set_location(response, request, "get_staff", username=created.username)
    return created


@router.patch(
    "/org/staff/{username}",
    response_model=schemas.StaffUser,
    responses=error_responses(401, 403, 404, 409, 422),
    tags=["org"],
    summary="Change a staff user's role, unit or details, reset the password, (de)activate (admin)",
)
async def update_staff(
    request: Request,
    username: UsernamePath,
    data: schemas.StaffUserUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> schemas.StaffUser:
    """Change a staff user's role, unit or details, reset the password or (de)activate the account
    (admins only). A change that affects sign-in revokes the user's earlier tokens."""
    authorize(principal, "org.manage")
    user, unit = await org_service.get_visible_staff(session, principal, username)
    cutoff_before = user.tokens_valid_after
    user, unit = await org_service.update_staff(session, user, unit, data)
    if user.tokens_valid_after != cutoff_before and user.tokens_valid_after is not None:
        # Committed here, not by the session dependency, so the cutoff is published only once
        # it is the record (other processes drop the user's earlier tokens on their next reload).
        await session.commit()
        await publish_after_commit(
            request.app.state.queue, {user.username: user.tokens_valid_after}
        )
    return staff_out(user, unit)


# --- department API keys ----------------------------------------------------------------------


@router.post(
    "/org/units/{code}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.ApiKeyCreated,
    responses=error_responses(401, 403, 404, 409, 422),
    tags=["org"],
    summary="Create a department API key (admin or the department head); the key is shown once",
)
async def create_api_key(
    code: CodePath,
    data: schemas.ApiKeyCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> schemas.ApiKeyCreated:
    """Create an API key for a department's system (an admin, or that department's head). The key
    is in this answer only; `Location` names the unit's key list."""
    org_service.check_can_manage_keys(principal, code.upper())
    unit = await org_service.get_unit(session, code)
    created = await org_service.create_key(session, unit, data.name)
    # A key has no route of its own: the unit's key list shows it (without the secret).
    set_location(response, request, "list_api_keys", code=unit.code)
    return created


@router.get(
    "/org/units/{code}/api-keys",
    response_model=list[schemas.ApiKey],
    responses=error_responses(401, 403, 404, 422),
    tags=["org"],
    summary="A department's API keys (never the secrets)",
)
async def list_api_keys(
    code: CodePath, session: SessionDep, principal: CurrentPrincipal
) -> list[schemas.ApiKey]:
    """A department's API keys without their secrets (an admin, or that department's head)."""
    org_service.check_can_manage_keys(principal, code.upper())
    unit = await org_service.get_unit(session, code)
    return await org_service.list_keys(session, unit)


@router.delete(
    "/org/units/{code}/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
    tags=["org"],
    summary="Revoke a department API key",
)
async def revoke_api_key(
    code: CodePath, key_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    """Revoke a department API key at once (an admin, or that department's head)."""
    org_service.check_can_manage_keys(principal, code.upper())
    unit = await org_service.get_unit(session, code)
    await org_service.revoke_key(session, unit, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# --- dispatch catalogue -----------------------------------------------------------------------


@router.get(
    "/dispatch-rules",
    response_model=list[schemas.DispatchRule],
    responses=error_responses(401, 403, 422),
    tags=["dispatch"],
    summary="The dispatch catalogue (派单目录)",
)
async def list_dispatch_rules(
    session: SessionDep,
    principal: CurrentPrincipal,
    topic: Topic | None = None,
    unit_code: CodeQuery = None,
    area_code: CodeQuery = None,
    include_inactive: bool = True,
) -> list[schemas.DispatchRule]:
    """The dispatch catalogue (派单目录): which unit handles which topic in which area. Readable by
    every signed-in staff member and department key (org.read)."""
    authorize(principal, "org.read")
    return await dispatch_rule_service.list(
        session,
        topic=topic,
        unit_code=unit_code,
        area_code=area_code,
        include_inactive=include_inactive,
    )


@router.get(
    "/dispatch-rules/suggest",
    response_model=schemas.UnitSuggestions,
    responses=error_responses(401, 403, 422),
    tags=["dispatch"],
    summary="Suggest units for a topic and area, best first",
)
async def suggest(
    session: SessionDep,
    principal: CurrentPrincipal,
    topic: Topic,
    area_code: CodeQuery = None,
    limit: Annotated[int, Query(ge=1, le=10)] = 3,
) -> schemas.UnitSuggestions:
    """Units to dispatch a topic in an area to, best first, from the dispatch catalogue; without a
    matching rule, the area's street center or the district center (org.read)."""
    authorize(principal, "org.read")
    area = await org_service.find_unit(session, area_code) if area_code else None
    return schemas.UnitSuggestions(
        topic=topic,
        area_code=area.code if area is not None else None,
        area_name=area.name if area is not None else None,
        suggestions=await suggest_units(session, topic.value, area_code, limit),
    )


@router.get(
    "/dispatch-rules/{rule_id}",
    response_model=schemas.DispatchRule,
    responses=error_responses(401, 403, 404, 422),
    tags=["dispatch"],
    summary="One dispatch rule",
)
async def get_dispatch_rule(
    rule_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> schemas.DispatchRule:
    """One dispatch rule (org.read)."""
    authorize(principal, "org.read")
    return rule_out(*await dispatch_rule_service.get(session, rule_id))


@router.post(
    "/dispatch-rules",
    status_code=status.HTTP_201_CREATED,
    response_model=schemas.DispatchRule,
    responses=error_responses(401, 403, 409, 422),
    tags=["dispatch"],
    summary="Add a dispatch rule (admin)",
)
async def create_dispatch_rule(
    data: schemas.DispatchRuleCreate,
    request: Request,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> schemas.DispatchRule:
    """Add a rule to the dispatch catalogue (admins only). Answers 201 with `Location` naming the
    new rule."""
    authorize(principal, "org.manage")
    created = rule_out(*await dispatch_rule_service.create(session, data))
    set_location(response, request, "get_dispatch_rule", rule_id=created.id)
    return created


@router.patch(
    "/dispatch-rules/{rule_id}",
    response_model=schemas.DispatchRule,
    responses=error_responses(401, 403, 404, 409, 422),
    tags=["dispatch"],
    summary="Change a dispatch rule (admin)",
)
async def update_dispatch_rule(
    rule_id: uuid.UUID,
    data: schemas.DispatchRuleUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> schemas.DispatchRule:
    """Change a dispatch rule: its area, unit, classification, confidence or whether it is active
    (admins only)."""
    authorize(principal, "org.manage")
    rule, unit = await dispatch_rule_service.get(session, rule_id)
    return rule_out(*await dispatch_rule_service.update(session, rule, unit, data))


@router.delete(
    "/dispatch-rules/{rule_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    response_class=Response,
    responses=error_responses(401, 403, 404, 422),
    tags=["dispatch"],
    summary="Delete a dispatch rule (admin)",
)
async def delete_dispatch_rule(
    rule_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Response:
    """Delete a dispatch rule (admins only)."""
    authorize(principal, "org.manage")
    rule, _unit = await dispatch_rule_service.get(session, rule_id)
    await dispatch_rule_service.delete(session, rule)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
