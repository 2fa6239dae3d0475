"""Free text as people type it: any script and emoji, never control characters."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, StringConstraints
from pydantic_core import PydanticCustomError

_ALLOWED_CONTROLS = frozenset("\n\r\t")


def reject_control_characters(value: str) -> str:
    if any((ord(ch) < 32 and ch not in _ALLOWED_CONTROLS) or ch == "\x7f" for ch in value):
        raise PydanticCustomError(
            "control_characters", "文本包含控制字符 / Text contains control characters"
        )
    return value


_plain = AfterValidator(reject_control_characters)

# Lengths are in characters. Stripped of surrounding whitespace.
PlainText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000), _plain
]
Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=2, max_length=1000), _plain
]
Comment = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000), _plain]
ShortText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200), _plain
]
Label = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100), _plain
]
