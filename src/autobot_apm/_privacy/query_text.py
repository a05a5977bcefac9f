"""Query text in and out: scan limits, keyword tables, results cut between words.

Shared by the SQL and Redis sanitizers, which read at most :data:`SCAN_LIMIT`
characters and never cut a name or a ``?`` in half.
"""

from __future__ import annotations

# Text beyond this is not read. A literal cut here is unterminated, and so hidden.
SCAN_LIMIT = 65536


def word_set(text: str) -> frozenset[str]:
    """The words of ``text``, split on whitespace: keyword tables read as one string."""
    return frozenset(text.split())


def cut_at_word(text: str, max_length: int) -> str:
    """Cut at the last space within ``max_length``; hard cut only inside one long token."""
    if len(text) <= max_length:
        return text
    if max_length <= 0:
        return ""
    cut = text.rfind(" ", 0, max_length + 1)
    return text[:cut].rstrip() if cut > 0 else text[:max_length]


def join_within(words: list[str], max_length: int) -> str:
    """``words`` joined by spaces, as many whole words as fit in ``max_length``."""
    length = -1
    for count, word in enumerate(words):
        length += 1 + len(word)
        if length > max_length:
            return " ".join(words[:count])
    return " ".join(words)
