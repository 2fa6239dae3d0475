"""Every ORM model of the scoring service, on one metadata (one alembic history)."""

from scoring_service.models._base import ApiKey, IdempotencyRecord, InboxEvent, Model, OutboxEvent
from scoring_service.models._closing import MonthlyScorecardClose, MonthlyScorecardSnapshot
from scoring_service.models._facts import CardFact, CaseFact, ProjectFact, RequestFact, VisitFact
from scoring_service.models._feedback import (
    EvaluationPolicy,
    Feedback,
    ProjectRating,
    Rating,
    RevisitTask,
)
from scoring_service.models._knowledge import KnowledgeAnswerFact
from scoring_service.models._radar import HotIssueFact
from scoring_service.models._tallies import FigureDayTally, TallyState, UnitMonthTally

__all__ = [
    "ApiKey",
    "CardFact",
    "CaseFact",
    "EvaluationPolicy",
    "FigureDayTally",
    "Feedback",
    "HotIssueFact",
    "IdempotencyRecord",
    "InboxEvent",
    "KnowledgeAnswerFact",
    "Model",
    "MonthlyScorecardClose",
    "MonthlyScorecardSnapshot",
    "OutboxEvent",
    "ProjectFact",
    "ProjectRating",
    "Rating",
    "RequestFact",
    "RevisitTask",
    "TallyState",
    "UnitMonthTally",
    "VisitFact",
]
