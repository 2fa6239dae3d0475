"""Free text as people type it: any script and emoji, never control characters.

The one rule for control characters (C0 and DEL) in everything a client sends: free text may
hold line breaks and tabs; a single-line value (a URL, an e-mail address, an identifier, a path
or query parameter) holds none. Both refuse with the error type ``control_characters``, checked
before any pattern so the client learns what is wrong rather than "does not match".
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, StringConstraints
from pydantic_core import PydanticCustomError

_LINE_BREAKS_AND_TABS = frozenset("\n\r\t")
CONTROL_CHARACTERS_ERROR = "control_characters"
CONTROL_CHARACTERS_MESSAGE = "文本包含控制字符 / Text contains control characters"


def has_control_characters(value: str, *, multiline: bool) -> bool:
    """Whether ``value`` holds C0 controls or DEL (line breaks and tabs allowed if multiline)."""
    allowed = _LINE_BREAKS_AND_TABS if multiline else frozenset()
    return any((ord(ch) < 32 and ch not in allowed) or ch == "\x7f" for ch in value)


def reject_control_characters(value: str) -> str:
    """Free text: line breaks and tabs are text, other controls are not."""
    if has_control_characters(value, multiline=True):
        raise PydanticCustomError(CONTROL_CHARACTERS_ERROR, CONTROL_CHARACTERS_MESSAGE)
    return value


def reject_line_control_characters(value: Any) -> Any:
    """A single-line value (checked before stripping and patterns, so a NUL or ESC is named as
    such); surrounding whitespace is left for ``strip_whitespace`` to trim."""
    if isinstance(value, str) and has_control_characters(value.strip(), multiline=False):
        raise PydanticCustomError(CONTROL_CHARACTERS_ERROR, CONTROL_CHARACTERS_MESSAGE)
    return value


_plain = AfterValidator(reject_control_characters)
SingleLine = BeforeValidator(reject_line_control_characters)

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

# A link a client gives (attachments, media): http(s) only, one line.
# (A BeforeValidator listed last wraps what precedes it, so it runs before the pattern.)
HttpUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=2000, pattern=r"^https?://[^\s]+$"),
    SingleLine,
]
Email = Annotated[
    str,
    StringConstraints(strip_whitespace=True, max_length=200, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"),
    SingleLine,
]
