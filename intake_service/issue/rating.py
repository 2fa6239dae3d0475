"""The public rating of a request: intake proves the submitter's ownership, scoring records it."""

from __future__ import annotations

from typing import Literal

import httpx
from pydantic import Field

from services.auth import service_token
from services.errors import ServiceUnavailable
from services.responses import JSONResponse
from services.settings import common_settings
from shared.schemas.base import InputSchema
from shared.schemas.text import Comment


class RatingIn(InputSchema):
    satisfaction: Literal["satisfied", "basic", "unsatisfied"] = Field(
        description="满意 satisfied / 基本满意 basic / 不满意 unsatisfied"
    )
    score: float | None = Field(None, ge=0, le=100)
    resolved: bool | None = None
    unit_at_fault: bool = False
    comment: Comment | None = None


async def relay_rating(http: httpx.AsyncClient, tracking_no: str, data: RatingIn) -> JSONResponse:
    try:
        response = await http.post(
            f"{common_settings().scoring_url}/v1/ratings/by-platform",
            json={**data.model_dump(mode="json"), "tracking_no": tracking_no},
            headers={"Authorization": f"Bearer {service_token('intake')}"},
        )
    except httpx.HTTPError as exc:
        raise ServiceUnavailable(
            "评价服务暂不可用,请稍后再试", "The rating service is unavailable"
        ) from exc
    if response.status_code >= 500:
        raise ServiceUnavailable("评价服务暂不可用,请稍后再试", "The rating service is unavailable")
    return JSONResponse(response.json(), status_code=response.status_code)
