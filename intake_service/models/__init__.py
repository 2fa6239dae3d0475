"""Every ORM model of the intake service, on one metadata (one alembic history)."""

from intake_service.models._base import ApiKey, IdempotencyRecord, InboxEvent, Model, OutboxEvent
from intake_service.models._cppcc import CppccMember, CppccVisit, LiaisonStation
from intake_service.models._issue import Issue, IssueAttachment, IssueHistory, IssueSupplement
from intake_service.models._knowledge import KnowledgeAnswer, KnowledgeArticle
from intake_service.models._privacy import IdentityAccess

__all__ = [
    "ApiKey",
    "CppccMember",
    "CppccVisit",
    "IdempotencyRecord",
    "IdentityAccess",
    "InboxEvent",
    "Issue",
    "IssueAttachment",
    "IssueHistory",
    "IssueSupplement",
    "KnowledgeAnswer",
    "KnowledgeArticle",
    "LiaisonStation",
    "Model",
    "OutboxEvent",
]
