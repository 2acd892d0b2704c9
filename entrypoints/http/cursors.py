"""Opaque keyset cursors for paginated lists."""

import base64
from datetime import datetime
from uuid import UUID

from domain.errors import InvalidValueError


def encode(at: datetime, tiebreak: UUID | int) -> str:
    raw = f"{at.isoformat()}|{tiebreak}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, tiebreak = raw.split("|", 1)
        return datetime.fromisoformat(at), tiebreak
    except (ValueError, UnicodeDecodeError):
        raise InvalidValueError("cursor is not valid") from None


def decode_uuid(cursor: str) -> tuple[datetime, UUID]:
    at, tiebreak = _decode(cursor)
    try:
        return at, UUID(tiebreak)
    except ValueError:
        raise InvalidValueError("cursor is not valid") from None


def decode_int(cursor: str) -> tuple[datetime, int]:
    at, tiebreak = _decode(cursor)
    try:
        return at, int(tiebreak)
    except ValueError:
        raise InvalidValueError("cursor is not valid") from None


def decode_id(cursor: str) -> int:
    """A plain integer cursor (an entry id): ASCII digits only, as we issue them."""
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
        raise InvalidValueError("cursor is not valid")
    return int(cursor)
