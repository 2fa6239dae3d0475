"""The staff password policy, applied wherever a password is set: an account created, an admin's
reset, the staff member's own change, and the org-tree import.

A password is refused (422 ``weak_password``, ``details.rule`` naming the rule) when it is
shorter than ``ROUTING_PASSWORD_MIN_LENGTH`` (12), contains the username, is one character or a
short block repeated, is only a run of consecutive digits or letters, or is on the list of
common and breached passwords shipped in ``data/common_passwords.json`` (compared without
regard to case). No installed package carries such a list, hence the file; it is read once.
"""

from __future__ import annotations

import functools
import json
import re
from importlib import resources

from routing_service.config import settings
from routing_service.department.exceptions import WeakPassword

__all__ = ["check_password", "common_passwords", "password_problem"]

_SEPARATORS = re.compile(r"[._\-]")


@functools.cache
def common_passwords() -> frozenset[str]:
    raw = resources.files("routing_service.department") / "data" / "common_passwords.json"
    return frozenset(json.loads(raw.read_text(encoding="utf-8"))["passwords"])


def _repeated(password: str) -> bool:
    # One character, or a block of up to three, over and over: aaaa…, 121212…, abcabc…
    for size in (1, 2, 3):
        if len(password) >= 2 * size and len(password) % size == 0:
            if password == password[:size] * (len(password) // size):
                return True
    return False


def _sequence(password: str) -> bool:
    """Only consecutive digits (wrapping 9→0, either way: 1234567890…, 987654…) or letters
    (abcdef…, zyxw…)."""
    lowered = password.lower()
    if lowered.isdigit():
        steps = {(int(b) - int(a)) % 10 for a, b in zip(lowered, lowered[1:], strict=False)}
        return steps in ({1}, {9})
    if lowered.isascii() and lowered.isalpha():
        steps = {ord(b) - ord(a) for a, b in zip(lowered, lowered[1:], strict=False)}
        return steps in ({1}, {-1})
    return False


def password_problem(password: str, username: str) -> WeakPassword | None:
    """What is wrong with ``password`` for the account ``username``, or None."""
    minimum = settings.password_min_length
    if len(password) < minimum:
        return WeakPassword(
            f"密码太短:至少需要 {minimum} 个字符",
            f"The password is too short: at least {minimum} characters",
            details={"rule": "min_length", "min_length": minimum},
        )
    lowered = password.lower()
    name = username.strip().lower()
    # zhang.san is in "Zhang-San-2026" too: compared with and without the separators.
    names = {name, _SEPARATORS.sub("", name)} - {""}
    texts = {lowered, _SEPARATORS.sub("", lowered)}
    if any(part in text for part in names for text in texts):
        return WeakPassword(
            "密码不能包含用户名",
            "The password must not contain the username",
            details={"rule": "contains_username"},
        )
    if _repeated(password):
        return WeakPassword(
            "密码不能只是同一个字符(或一小段字符)的重复",
            "The password must not be one character (or a short block) repeated",
            details={"rule": "repeated"},
        )
    if _sequence(password):
        return WeakPassword(
            "密码不能只是连续的数字或字母(如 123456…、abcdef…)",
            "The password must not be only consecutive digits or letters (123456…, abcdef…)",
            details={"rule": "sequence"},
        )
    if lowered in common_passwords():
        return WeakPassword(
            "该密码过于常见(在常见或已泄露的密码列表中),请另选一个",
            "This password is too common (it is on a list of common or breached passwords)",
            details={"rule": "common"},
        )
    return None


def check_password(password: str, username: str) -> None:
    """Raise ``WeakPassword`` (422) unless ``password`` passes the policy for ``username``."""
    problem = password_problem(password, username)
    if problem is not None:
        raise problem
