"""Schemas of the org tree, staff, department API keys, the dispatch catalogue and org documents."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, StringConstraints
from pydantic_core import PydanticCustomError

from shared.enums import Classification, Role, Topic, UnitKind
from shared.identifiers import InvalidIdentifier, validate_phone
from shared.schemas.base import InputSchema, Instant, Schema
from shared.schemas.page import CursorPage
from shared.schemas.paging import PageQuery
from shared.schemas.text import SingleLine

AREA_UNIT = "@AREA"  # a dispatch rule target: the street center of the request's area (直派)
UNIT_CODE_PATTERN = r"^[A-Z0-9][A-Z0-9\-]{0,31}$"
USERNAME_PATTERN = r"^[a-z0-9][a-z0-9_.\-]{2,63}$"


def _phone(value: str) -> str:
    try:
        return validate_phone(value)
    except InvalidIdentifier as exc:
        raise PydanticCustomError(
            exc.code, "{zh} / {en}", {"zh": exc.message_zh, "en": exc.message_en}
        ) from exc


UnitCode = Annotated[str, StringConstraints(strip_whitespace=True, pattern=UNIT_CODE_PATTERN)]
UnitName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    SingleLine,
]
PersonName = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    SingleLine,
]
Phone = Annotated[str, StringConstraints(max_length=40), AfterValidator(_phone)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, pattern=USERNAME_PATTERN)]
# The policy (length included: ROUTING_PASSWORD_MIN_LENGTH) is passwords.py's, answered as
# weak_password with the rule broken; the schema only bounds what is hashed.
Password = Annotated[str, StringConstraints(min_length=1, max_length=128)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500), SingleLine]
Confidence = Annotated[float, Field(ge=0.0, le=1.0, allow_inf_nan=False)]


# --- auth -------------------------------------------------------------------------------------


class TokenRequest(Schema):
    """OAuth2 password grant; extra OAuth2 fields (``scope``, ``client_id``) are ignored."""

    username: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
    password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    grant_type: str | None = Field(None, max_length=32)


class Token(Schema):
    """RFC 6749 section 5.1 success answer, with who signed in alongside."""

    access_token: str = Field(description="Send as `Authorization: Bearer …`")
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="Seconds the token stays valid")
    role: Role
    unit_code: str
    display_name: str
    must_change_password: bool = Field(
        False,
        description="The password was set by someone else and must be changed "
        "(POST /v1/auth/password); in production the token is good for nothing else until then",
    )


class PasswordChange(InputSchema):
    """The signed-in staff member's own new password (the policy applies; it must differ)."""

    current_password: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    new_password: Password


class PrincipalOut(Schema):
    kind: str
    subject: str
    role: str
    role_label: str
    unit_code: str | None
    unit_path: str | None
    display_name: str | None


# --- org units --------------------------------------------------------------------------------


class OrgUnit(Schema):
    id: uuid.UUID
    code: str
    name: str
    kind: UnitKind
    kind_label: str
    tier: int
    parent_code: str | None
    path: str
    head_name: str | None
    phone: str | None
    active: bool
    created_at: Instant


class OrgUnitNode(OrgUnit):
    children: list[OrgUnitNode] = Field(default_factory=list)


class OrgUnitCreate(InputSchema):
    code: UnitCode
    name: UnitName
    kind: UnitKind
    parent_code: UnitCode | None = Field(
        None,
        description="Required for street and community centers; departments default to the district",
    )
    head_name: PersonName | None = None
    phone: Phone | None = None


class OrgUnitUpdate(InputSchema):
    """Every field optional; ``head_name``/``phone`` set to null clear the value.

    Changing ``parent_code`` moves the unit with its whole subtree.
    """

    name: UnitName | None = None
    head_name: PersonName | None = None
    phone: Phone | None = None
    active: bool | None = None
    parent_code: UnitCode | None = None


# --- staff ------------------------------------------------------------------------------------


class StaffUser(Schema):
    id: uuid.UUID
    username: str
    display_name: str
    role: Role
    role_label: str
    unit_code: str
    unit_name: str
    phone: str | None
    active: bool
    has_password: bool
    must_change_password: bool
    created_at: Instant


class StaffFilters(PageQuery):
    """Filters of the staff list (by unit path, then username)."""

    unit_code: Annotated[
        str | None, Field(min_length=1, max_length=32, pattern=r"^[0-9A-Za-z_\-@]+$")
    ] = None
    role: Role | None = None
    active: bool | None = None
    limit: int = Field(100, ge=1, le=500)


StaffPage = CursorPage[StaffUser]


class StaffUserCreate(InputSchema):
    username: Username
    display_name: PersonName
    role: Role
    unit_code: UnitCode
    password: Password
    phone: Phone | None = None


class StaffUserUpdate(InputSchema):
    display_name: PersonName | None = None
    role: Role | None = None
    unit_code: UnitCode | None = None
    phone: Phone | None = None
    active: bool | None = None
    password: Password | None = Field(None, description="Set a new password (reset)")
    must_change_password: bool | None = Field(
        None,
        description="Whether the user must change the password at the next sign-in (with a "
        "reset: true makes the new password a one-time one)",
    )


# --- API keys ---------------------------------------------------------------------------------


class ApiKeyCreate(InputSchema):
    name: Annotated[
        str,
        StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
        SingleLine,
    ]


class ApiKey(Schema):
    id: uuid.UUID
    name: str
    prefix: str
    scope: str
    created_at: Instant
    revoked_at: Instant | None
    last_used_at: Instant | None


class ApiKeyCreated(ApiKey):
    api_key: str = Field(description="The key itself: shown once, store it now")


# --- dispatch catalogue -----------------------------------------------------------------------

RuleTarget = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^(@AREA|[A-Z0-9][A-Z0-9\-]{0,31})$")
]


class DispatchRule(Schema):
    id: uuid.UUID
    topic: Topic
    topic_label: str
    area_code: str | None = Field(description="null = the whole district")
    area_path: str
    unit_code: str = Field(
        description='A unit code, or "@AREA": the street center of the request\'s area'
    )
    unit_name: str
    classification: Classification | None
    confidence: float
    note: str | None
    active: bool
    created_at: Instant


class DispatchRuleCreate(InputSchema):
    topic: Topic
    area_code: UnitCode | None = Field(
        None, description="A center's code; null = the whole district"
    )
    unit_code: RuleTarget
    classification: Classification | None = None
    confidence: Confidence = 0.9
    note: Note | None = None
    active: bool = True


class DispatchRuleUpdate(InputSchema):
    """Every field optional; ``area_code``, ``classification`` and ``note`` set to null clear them."""

    topic: Topic | None = None
    area_code: UnitCode | None = None
    unit_code: RuleTarget | None = None
    classification: Classification | None = None
    confidence: Confidence | None = None
    note: Note | None = None
    active: bool | None = None


class UnitSuggestion(Schema):
    unit_code: str
    unit_name: str
    confidence: float
    reason: str
    classification: Classification | None = None
    rule_id: uuid.UUID | None = None


class UnitSuggestions(Schema):
    topic: Topic
    area_code: str | None
    area_name: str | None
    suggestions: list[UnitSuggestion]


# --- org documents (import) -------------------------------------------------------------------


class CommunityDoc(InputSchema):
    code: UnitCode
    name: UnitName
    head_name: PersonName | None = None
    phone: Phone | None = None


class StreetDoc(InputSchema):
    code: UnitCode
    name: UnitName
    kind: Literal["street_center"] = "street_center"
    head_name: PersonName | None = None
    phone: Phone | None = None
    communities: list[CommunityDoc] = Field(default_factory=list, max_length=1000)


class DistrictDoc(InputSchema):
    code: UnitCode
    name: UnitName
    head_name: PersonName | None = None
    phone: Phone | None = None
    streets: list[StreetDoc] = Field(default_factory=list, max_length=200)


class DepartmentDoc(InputSchema):
    code: UnitCode
    name: UnitName
    kind: Literal["department", "discipline"] = "department"
    head_name: PersonName | None = None
    phone: Phone | None = None


class StaffDoc(InputSchema):
    username: Username
    display_name: PersonName
    role: Role
    unit: UnitCode
    password: Password | None = Field(None, description="Only used when the user is created")
    phone: Phone | None = None


class DispatchRuleDoc(InputSchema):
    topic: Topic
    area: UnitCode | None = None
    unit: RuleTarget
    classification: Classification | None = None
    confidence: Confidence = 0.9
    note: Note | None = None


class OrgDocument(InputSchema):
    """A whole org tree: the district with its streets and communities, the departments, and
    optionally staff and the dispatch catalogue. Imported as an idempotent upsert by code."""

    district: DistrictDoc
    departments: list[DepartmentDoc] = Field(default_factory=list, max_length=500)
    staff: list[StaffDoc] = Field(default_factory=list, max_length=5000)
    dispatch_rules: list[DispatchRuleDoc] = Field(default_factory=list, max_length=5000)


class ImportCounts(Schema):
    created: int = 0
    updated: int = 0
    unchanged: int = 0


class ImportReport(Schema):
    created: int
    updated: int
    unchanged: int
    units: ImportCounts
    staff: ImportCounts
    dispatch_rules: ImportCounts
