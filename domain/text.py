"""Text that can be stored: what PostgreSQL's ``text`` and ``jsonb`` accept.

Postgres refuses the NUL character and cannot encode lone UTF-16 surrogates, so a value
carrying either must be refused where it enters (client input) or cleaned where it is
produced by someone we do not control (a provider's error message or model name).
"""

from collections.abc import Mapping, Sequence
from typing import Any

from domain.errors import InvalidValueError


def is_storable(text: str) -> bool:
    """True when the text has no NUL and no lone surrogate (both checks run in C)."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def ensure_storable(text: str, field: str) -> str:
    if not is_storable(text):
        raise InvalidValueError(f"{field} contains a character that cannot be stored (NUL or a lone surrogate)")
    return text


def storable(text: str) -> str:
    """The text with NUL and lone surrogates replaced by U+FFFD (for text we do not control)."""
    if is_storable(text):
        return text
    cleaned = text.replace("\x00", "\ufffd")
    # surrogatepass writes lone surrogates as bytes that are not UTF-8; decoding replaces them.
    return cleaned.encode("utf-8", "surrogatepass").decode("utf-8", "replace")


def ensure_storable_json(value: Any, field: str, *, max_depth: int = 32, _depth: int = 0) -> None:
    """Every key and string inside a JSON value is storable, and it nests at most ``max_depth`` deep."""
    if _depth > max_depth:
        raise InvalidValueError(f"{field} nests deeper than {max_depth} levels")
    if isinstance(value, str):
        ensure_storable(value, field)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            ensure_storable(str(key), f"{field} (a key)")
            ensure_storable_json(item, field, max_depth=max_depth, _depth=_depth + 1)
    elif isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for item in value:
            ensure_storable_json(item, field, max_depth=max_depth, _depth=_depth + 1)
