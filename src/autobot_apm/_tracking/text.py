"""Any value as text, and text cut to a length, never raising.

The one place where user objects become strings: attribute coercion, span names, error
descriptions, the query and URL sanitizers and the GPU sampler all read text through
:func:`safe_str`, and cut it with :func:`truncate`.
"""

from __future__ import annotations

from typing import Final

MAX_ATTRIBUTE_LENGTH: Final = 4096
TRUNCATION_MARKER: Final = "…"
UNPRINTABLE: Final = "<unprintable>"
OTHER: Final = "_OTHER"


def truncate(text: str, max_length: int) -> str:
    """``text`` cut to ``max_length`` characters, the last being ``…`` when cut.

    Lone surrogates (from ``surrogateescape`` decoding) are replaced as well: they
    cannot be encoded as UTF-8, and one of them would fail the export of a whole batch.
    A ``str`` subclass is copied to a plain ``str`` first: its methods never run.
    """
    if type(text) is not str:
        text = safe_str(text)
    if len(text) > max_length:
        text = text[: max_length - 1] + TRUNCATION_MARKER if max_length > 0 else ""
    if text.isascii():
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace").decode("utf-8")
    return text


def safe_str(value: object, unprintable: str = UNPRINTABLE) -> str:
    """The text of any value as a plain ``str``; ``unprintable`` when there is none.

    Bytes-like values are decoded as UTF-8, bad bytes replaced (read through
    ``memoryview``, which no subclass overrides). A ``str`` subclass is copied with
    ``str.__str__``, so its overridden methods never run; any other value is
    ``str(value)``, and a ``__str__`` that returns a subclass is copied the same way.
    Never raises: the one place where user objects become text.
    """
    kind = type(value)
    try:
        if issubclass(kind, bytes | bytearray | memoryview):
            return memoryview(value).tobytes().decode("utf-8", "replace")  # type: ignore[arg-type]
        text = str.__str__(value) if issubclass(kind, str) else str(value)
        return text if type(text) is str else str.__str__(text)
    except Exception:
        return unprintable
