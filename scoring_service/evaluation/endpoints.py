"""考核验收: monthly scorecards, rankings, the year-end evaluation, exports, the policy in force,
and the public figures of the smart hall."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response

from scoring_service.evaluation import schemas
from scoring_service.evaluation.closing import month_closing_service
from scoring_service.evaluation.dependencies import (
    ClosingMonth,
    CurrentStaff,
    DateRangeParam,
    MonthParam,
    PolicyMonth,
    TopParam,
    UnitCode,
    YearParam,
    ensure_may_read_all,
    ensure_may_read_unit,
)
from scoring_service.evaluation.export import ExportFile, annual_file, scorecards_file
from scoring_service.evaluation.service import evaluation_service
from scoring_service.evaluation.statistics import public_cache, statistics_service
from services.db import SessionDep
from services.errors import error_responses
from services.policy import authorize
from shared.enums import UnitKind

router = APIRouter(prefix="/v1", tags=["evaluation"])

UnitKindQuery = Annotated[
    UnitKind | None, Query(description="Rank only units of this kind (inferred from the name)")
]
FormatQuery = Annotated[Literal["csv", "xlsx"], Query(alias="format")]


def _download(file: ExportFile) -> Response:
    return Response(
        content=file.content,
        media_type=file.media_type,
        headers={"Content-Disposition": file.content_disposition, "Cache-Control": "no-store"},
    )


@router.get(
    "/evaluation/policy",
    response_model=schemas.EvaluationPolicy,
    responses=error_responses(401, 403, 422),
)
async def get_policy(
    principal: CurrentStaff, session: SessionDep, month: MonthParam
) -> schemas.EvaluationPolicy:
    """The weights, k and deductions in force in a month: the newest policy effective on or
    before it, else the service defaults."""
    authorize(principal, "evaluation.read")
    return await evaluation_service.policy_for(session, month)


@router.put(
    "/evaluation/policy/{month}",
    response_model=schemas.EvaluationPolicy,
    responses=error_responses(401, 403, 422),
)
async def set_policy(
    principal: CurrentStaff,
    session: SessionDep,
    month: PolicyMonth,
    body: schemas.EvaluationPolicyUpdate,
) -> schemas.EvaluationPolicy:
    """Set the policy in force from ``month`` on. Setting a past month rescores it."""
    authorize(principal, "evaluation.configure")
    return await evaluation_service.set_policy(session, principal, month, body)


@router.get(
    "/evaluation/scorecards",
    response_model=schemas.ScorecardList,
    responses=error_responses(401, 403, 422),
)
async def list_scorecards(
    principal: CurrentStaff,
    session: SessionDep,
    month: MonthParam,
    unit_kind: UnitKindQuery = None,
    top: TopParam = 3,
) -> schemas.ScorecardList:
    """Every unit's scorecard for the month, best first, with the top and bottom lists."""
    ensure_may_read_all(principal)
    return await evaluation_service.scorecards(session, month, unit_kind=unit_kind, top=top)


@router.get(
    "/evaluation/scorecards/export",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        },
        **error_responses(401, 403, 422),
    },
)
async def export_scorecards(
    principal: CurrentStaff,
    session: SessionDep,
    month: MonthParam,
    unit_kind: UnitKindQuery = None,
    fmt: FormatQuery = "csv",
) -> Response:
    """The month's scorecards as CSV (UTF-8 with BOM) or XLSX, with Chinese headers."""
    ensure_may_read_all(principal)
    result = await evaluation_service.scorecards(session, month, unit_kind=unit_kind)
    return _download(scorecards_file(result, fmt))


@router.get(
    "/evaluation/scorecards/{unit_code}",
    response_model=schemas.UnitScorecard,
    responses=error_responses(401, 403, 404, 422),
)
async def get_scorecard(
    principal: CurrentStaff, session: SessionDep, unit_code: UnitCode, month: MonthParam
) -> schemas.UnitScorecard:
    """One unit's scorecard, ranked among all units (department staff: their own unit)."""
    ensure_may_read_unit(principal, unit_code)
    return await evaluation_service.scorecard(session, month, unit_code)


@router.post(
    "/evaluation/months/{month}/close",
    response_model=schemas.MonthVersion,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
async def close_month(
    principal: CurrentStaff, session: SessionDep, month: ClosingMonth
) -> schemas.MonthVersion:
    """关账: freeze the month's scorecards (version 1). From then on its scorecards, rankings
    and exports are served from the snapshot; only a recompute changes them."""
    authorize(principal, "evaluation.close")
    return await month_closing_service.close(session, principal, month)


@router.post(
    "/evaluation/months/{month}/recompute",
    response_model=schemas.MonthVersion,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
async def recompute_month(
    principal: CurrentStaff,
    session: SessionDep,
    month: ClosingMonth,
    body: Annotated[schemas.MonthRecompute | None, Body()] = None,
) -> schemas.MonthVersion:
    """Recompute a closed month from the current facts as a new version (reason required);
    earlier versions stay in the history."""
    authorize(principal, "evaluation.recompute")
    return await month_closing_service.recompute(session, principal, month, body)


@router.get(
    "/evaluation/months/{month}/history",
    response_model=schemas.MonthHistory,
    responses=error_responses(401, 403, 422),
)
async def month_history(
    principal: CurrentStaff, session: SessionDep, month: ClosingMonth
) -> schemas.MonthHistory:
    """Every version of a closed month: who closed or recomputed it, when and why."""
    ensure_may_read_all(principal)
    return await month_closing_service.history(session, month)


@router.get(
    "/evaluation/annual",
    response_model=schemas.AnnualList,
    responses=error_responses(401, 403, 422),
)
async def annual_evaluation(
    principal: CurrentStaff,
    session: SessionDep,
    year: YearParam,
    unit_kind: UnitKindQuery = None,
    top: TopParam = 3,
) -> schemas.AnnualList:
    """年终综合考评: each unit's mean monthly score, ranked."""
    ensure_may_read_all(principal)
    return await evaluation_service.annual(session, year, unit_kind=unit_kind, top=top)


@router.get(
    "/evaluation/annual/export",
    response_class=Response,
    responses={
        200: {
            "content": {
                "text/csv": {},
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {},
            }
        },
        **error_responses(401, 403, 422),
    },
)
async def export_annual(
    principal: CurrentStaff,
    session: SessionDep,
    year: YearParam,
    unit_kind: UnitKindQuery = None,
    fmt: FormatQuery = "csv",
) -> Response:
    ensure_may_read_all(principal)
    result = await evaluation_service.annual(session, year, unit_kind=unit_kind)
    return _download(annual_file(result, fmt))


@router.get(
    "/evaluation/annual/{unit_code}",
    response_model=schemas.AnnualEntry,
    responses=error_responses(401, 403, 404, 422),
)
async def get_annual_entry(
    principal: CurrentStaff, session: SessionDep, unit_code: UnitCode, year: YearParam
) -> schemas.AnnualEntry:
    ensure_may_read_unit(principal, unit_code)
    return await evaluation_service.annual_entry(session, year, unit_code)


@router.get(
    "/statistics",
    response_model=schemas.Statistics,
    tags=["statistics"],
    responses=error_responses(401, 403, 422),
)
async def staff_statistics(
    principal: CurrentStaff, session: SessionDep, period: DateRangeParam
) -> schemas.Statistics:
    """Visits, issues collected, resolved, in progress and satisfaction, per channel and topic."""
    authorize(principal, "evaluation.read")
    return await statistics_service.figures(session, period.start, period.end)


@router.get(
    "/public/statistics",
    response_model=schemas.Statistics,
    tags=["statistics"],
    responses=error_responses(422),
)
async def public_statistics(
    session: SessionDep, period: DateRangeParam, response: Response
) -> schemas.Statistics:
    """The same aggregate figures for the smart hall, without sign-in; cached for 60 s."""
    response.headers["Cache-Control"] = f"public, max-age={int(public_cache.ttl)}"
    return await public_cache.figures(session, period.start, period.end)
