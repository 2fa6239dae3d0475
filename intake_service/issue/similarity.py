"""Near-duplicate text detection for Chinese requests: character-bigram Jaccard similarity.

Chinese has no spaces, so word tokens would need a segmenter; bigrams of the normalized text are
the classic cheap proxy and catch the same complaint re-typed with small edits.
"""

from __future__ import annotations

import functools
import unicodedata

_KEEP_CATEGORIES = ("L", "N")


def normalize(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).lower()
    return "".join(ch for ch in text if unicodedata.category(ch)[0] in _KEEP_CATEGORIES)


# Every submission compares itself with the same recent texts: cache their (immutable) bigrams.
@functools.lru_cache(maxsize=50_000)
def bigrams(text: str) -> frozenset[str]:
    norm = normalize(text)
    if len(norm) < 2:
        return frozenset({norm}) if norm else frozenset()
    return frozenset(norm[i : i + 2] for i in range(len(norm) - 1))


def similarity(a: frozenset[str], b: frozenset[str]) -> float:
    if not a or not b:
        return 0.0
    # |a ∪ b| from |a ∩ b|: the union would be a third set built for its size alone.
    shared = len(a & b)
    return shared / (len(a) + len(b) - shared)
