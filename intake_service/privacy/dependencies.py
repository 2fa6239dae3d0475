from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header

from intake_service.privacy.service import MAX_REASON, parse_access_reason
from services.headers import ACCESS_REASON


async def access_reason(
    reason: Annotated[
        str | None,
        Header(
            alias=ACCESS_REASON,
            description=f"查阅举报人身份的理由(纪检监察,留痕)/ Why the discipline role opens a "
            f"whistleblower's identity (audited): 1–{MAX_REASON} characters, UTF-8 "
            "percent-encoded when not ASCII. Without it the identity stays masked",
        ),
    ] = None,
) -> str | None:
    return parse_access_reason(reason)


AccessReason = Annotated[str | None, Depends(access_reason)]
