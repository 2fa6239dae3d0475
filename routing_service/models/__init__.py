"""Every ORM model of the routing service, on one metadata (one alembic history)."""

from routing_service.models._base import ApiKey, IdempotencyRecord, InboxEvent, Model, OutboxEvent
from routing_service.models._case import (
    CalendarYear,
    Card,
    CardNote,
    Case,
    CaseEvent,
    DisciplineTransfer,
    Extension,
    Milestone,
    SupervisionEvent,
)
from routing_service.models._knowledge import KnowledgeArticle, KnowledgeEvent, KnowledgeVersion
from routing_service.models._org import DispatchRule, OrgUnit, StaffUser
from routing_service.models._project import (
    Procedure,
    Project,
    ProjectBlocker,
    ProjectEvent,
    ProjectStep,
)
from routing_service.models._radar import HotIssue, HotIssueAlert, HotIssueMember, RadarPolicy
from routing_service.models._webhook import WebhookDelivery, WebhookSubscription

__all__ = [
    "ApiKey",
    "CalendarYear",
    "Card",
    "CardNote",
    "Case",
    "CaseEvent",
    "DisciplineTransfer",
    "DispatchRule",
    "Extension",
    "HotIssue",
    "HotIssueAlert",
    "HotIssueMember",
    "IdempotencyRecord",
    "InboxEvent",
    "KnowledgeArticle",
    "KnowledgeEvent",
    "KnowledgeVersion",
    "Milestone",
    "Model",
    "OrgUnit",
    "OutboxEvent",
    "Procedure",
    "Project",
    "ProjectBlocker",
    "ProjectEvent",
    "ProjectStep",
    "RadarPolicy",
    "StaffUser",
    "SupervisionEvent",
    "WebhookDelivery",
    "WebhookSubscription",
]
