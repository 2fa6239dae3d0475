"""考核验收: monthly scorecards, rankings, the year-end evaluation, exports, the policy in force,
and the public figures of the smart hall."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response

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
from services.responses import set_location
from shared.enums import UnitKind

router = APIRouter(prefix="/v1", tags=["evaluation"])
# The figures have a tag of their own (one per operation, for client generators).
statistics_router = APIRouter(prefix="/v1", tags=["statistics"])

UnitKindQuery = Annotated[
    UnitKind | None, Query(description="Rank only units of this kind (inferred from the name)")
]
FormatQuery = Annotated[Literal["csv", "xlsx"], Query(alias="format")]
# A file, not JSON: the media type says which (format=csv or xlsx).
DOWNLOAD: dict[str, Any] = {
    "description": "The file, named in `Content-Disposition`",
    "content": {
        "text/csv": {"schema": {"type": "string"}},
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
            "schema": {"type": "string", "format": "binary"}
        },
    },
    "headers": {
        "Content-Disposition": {
            "description": "attachment; with the file name (RFC 6266)",
            "schema": {"type": "string"},
        }
    },
}


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
    """The weights, k and deductions in force in a month: the newest policy effective on or before
    it, else the service defaults. Staff and auditors (evaluation.read)."""
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
    """Set the policy in force from `month` on; setting a past month rescores it. Leaders and
    admins (evaluation.configure)."""
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
    """Every unit's scorecard for the month, best first, with the top and bottom lists. Center
    staff, auditors and admins (the whole ranking is not for departments)."""
    ensure_may_read_all(principal)
    return await evaluation_service.scorecards(session, month, unit_kind=unit_kind, top=top)


@router.get(
    "/evaluation/scorecards/export",
    response_class=Response,
    responses={200: DOWNLOAD, **error_responses(401, 403, 422)},
)
async def export_scorecards(
    principal: CurrentStaff,
    session: SessionDep,
    month: MonthParam,
    unit_kind: UnitKindQuery = None,
    fmt: FormatQuery = "csv",
) -> Response:
    """The month's scorecards as a download, CSV (UTF-8 with BOM) or XLSX (`format`), with Chinese
    headers and `Content-Disposition`. Who may read the ranking may export it."""
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
    """One unit's scorecard, ranked among all units. Department staff may read their own unit's
    only."""
    ensure_may_read_unit(principal, unit_code)
    return await evaluation_service.scorecard(session, month, unit_code)


@router.post(
    "/evaluation/months/{month}/close",
    response_model=schemas.MonthVersion,
    status_code=201,
    responses=error_responses(401, 403, 409, 422),
)
async def close_month(
    principal: CurrentStaff,
    session: SessionDep,
    month: ClosingMonth,
    request: Request,
    response: Response,
) -> schemas.MonthVersion:
    """关账: freeze the month's scorecards (version 1); from then on its scorecards, rankings and
    exports are served from the snapshot and only a recompute changes them. Admins only
    (evaluation.close); `Location` names the month's history."""
    authorize(principal, "evaluation.close")
    version = await month_closing_service.close(session, principal, month)
    set_location(response, request, "month_history", month=str(month))
    return version


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
    request: Request,
    response: Response,
    body: Annotated[schemas.MonthRecompute | None, Body()] = None,
) -> schemas.MonthVersion:
    """Recompute a closed month from the current facts as a new version (reason required); earlier
    versions stay in the history. Admins only (evaluation.recompute); `Location` names the month's
    history."""
    authorize(principal, "evaluation.recompute")
    version = await month_closing_service.recompute(session, principal, month, body)
    set_location(response, request, "month_history", month=str(month))
    return version


@router.get(
    "/evaluation/months/{month}/history",
    response_model=schemas.MonthHistory,
    responses=error_responses(401, 403, 422),
)
async def month_history(
    principal: CurrentStaff, session: SessionDep, month: ClosingMonth
) -> schemas.MonthHistory:
    """Every version of a closed month: who closed or recomputed it, when and why. Center staff,
    auditors and admins."""
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
    """年终综合考评: each unit's mean monthly score for the year, ranked. Center staff, auditors and
    admins."""
    ensure_may_read_all(principal)
    return await evaluation_service.annual(session, year, unit_kind=unit_kind, top=top)


@router.get(
    "/evaluation/annual/export",
    response_class=Response,
    responses={200: DOWNLOAD, **error_responses(401, 403, 422)},
)
async def export_annual(
    principal: CurrentStaff,
    session: SessionDep,
    year: YearParam,
    unit_kind: UnitKindQuery = None,
    fmt: FormatQuery = "csv",
) -> Response:
    """The year-end evaluation as a download, CSV (UTF-8 with BOM) or XLSX (`format`), with Chinese
    headers and `Content-Disposition`. Center staff, auditors and admins."""
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
    """One unit's year-end evaluation, ranked among all units. Department staff may read their own
    unit's only."""
    ensure_may_read_unit(principal, unit_code)
    return await evaluation_service.annual_entry(session, year, unit_code)


@statistics_router.get(
    "/statistics",
    response_model=schemas.Statistics,
    responses=error_responses(401, 403, 422),
)
async def staff_statistics(
    principal: CurrentStaff, session: SessionDep, period: DateRangeParam
) -> schemas.Statistics:
    """Visits, issues collected, resolved, in progress and satisfaction, per channel and topic,
    over a date range. Staff and auditors (evaluation.read)."""
    authorize(principal, "evaluation.read")
    return await statistics_service.figures(session, period.start, period.end)


@statistics_router.get(
    "/public/statistics",
    response_model=schemas.Statistics,
    responses=error_responses(422),
)
async def public_statistics(
    session: SessionDep, period: DateRangeParam, response: Response
) -> schemas.Statistics:
    """The same aggregate figures for the smart hall, without sign-in; cached for 60 s."""
    response.headers["Cache-Control"] = f"public, max-age={int(public_cache.ttl)}"
    return await public_cache.figures(session, period.start, period.end)
