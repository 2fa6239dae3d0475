"""The JSON form of Open311 GeoReport v2 answers, for the OpenAPI description (and the tests
that check real answers against it). The XML form carries the same fields as elements, each
list wrapped as :mod:`intake_service.open311.formats` describes.

A field with no value is left out, never null (the spec: "may not be returned"), so optional
fields here are typed without ``null``.
"""

from __future__ import annotations

from typing import Any

from pydantic import ConfigDict, Field

from shared.schemas.base import Schema


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def _optional(description: str | None = None) -> Any:
    """A field that is left out when it has no value."""
    return Field(None, description=description, json_schema_extra=_drop_default)


class Open311Schema(Schema):
    # Undocumented fields in an answer are a test failure, not a silent extra.
    model_config = ConfigDict(extra="forbid")


class DiscoveryEndpoint(Open311Schema):
    specification: str = Field(description="http://wiki.open311.org/GeoReport_v2")
    url: str
    changeset: str
    type: str = Field(description="production, test")
    formats: list[str] = Field(description="Media types: text/xml, application/json")


class Discovery(Open311Schema):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[DiscoveryEndpoint]


class Service(Open311Schema):
    service_code: str = Field(description="The topic's code")
    service_name: str = Field(description="The topic's Chinese name")
    description: str
    metadata: bool = Field(description="Always true: the service definition has attributes")
    type: str = Field(description="Always realtime: the id is answered at once")
    keywords: str
    group: str


class AttributeValue(Open311Schema):
    key: str
    name: str


class ServiceAttribute(Open311Schema):
    variable: bool
    code: str
    datatype: str = Field(description="string, singlevaluelist ...")
    required: bool
    datatype_description: str = _optional()
    order: int
    description: str
    values: list[AttributeValue] = _optional("For list datatypes")


class ServiceDefinition(Open311Schema):
    service_code: str
    attributes: list[ServiceAttribute]


class ServiceRequest(Open311Schema):
    service_request_id: str = Field(description="The tracking number")
    status: str = Field(description="open, closed")
    status_notes: str = _optional()
    service_name: str = _optional()
    service_code: str = _optional()
    description: str = _optional("Left out for confidential requests")
    agency_responsible: str = _optional()
    service_notice: str = _optional()
    requested_datetime: str = _optional("W3C datetime with the +08:00 offset")
    updated_datetime: str = _optional("W3C datetime with the +08:00 offset")
    expected_datetime: str = _optional("W3C datetime with the +08:00 offset")
    address: str = _optional("Left out for confidential requests")
    address_id: str = _optional("Area code; left out for confidential requests")
    lat: float = _optional("Left out for confidential requests")
    long: float = _optional("Left out for confidential requests")
    media_url: str = _optional("Left out for confidential requests")


class ServiceRequestCreated(Open311Schema):
    service_request_id: str = Field(description="The tracking number (never a token)")
    service_notice: str = _optional()


class ServiceRequestToken(Open311Schema):
    service_request_id: str
    token: str


class Open311ErrorItem(Open311Schema):
    code: int
    description: str
