"""Opaque keyset cursors for paginated lists, and the one way a handler pages a listing."""

import base64
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Annotated, Protocol, TypeVar
from uuid import UUID

from litestar.params import QueryParameter

from application.services._paging import one_page
from domain.errors import InvalidValueError

T = TypeVar("T")
Shown = TypeVar("Shown")
Tie = TypeVar("Tie")
Id = TypeVar("Id")
P = TypeVar("P")

MAX_PAGE = 200
# The ``limit`` query parameter of a paged listing of the JSON API.
Limit = Annotated[int, QueryParameter(ge=1, le=MAX_PAGE)]


class Created(Protocol):
    """A row of a listing ordered by creation, its id breaking ties."""

    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> UUID: ...


def encode(at: datetime, tiebreak: UUID | int) -> str:
    raw = f"{at.isoformat()}|{tiebreak}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def created(row: Created) -> str:
    """The cursor of a row of a listing ordered by creation."""
    return encode(row.created_at, row.id)


def _decode(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        at, tiebreak = raw.split("|", 1)
        return datetime.fromisoformat(at), tiebreak
    except (ValueError, UnicodeDecodeError):
        raise InvalidValueError("cursor is not valid") from None


def _decode_as(cursor: str, tiebreak: Callable[[str], Tie]) -> tuple[datetime, Tie]:
    at, raw = _decode(cursor)
    try:
        return at, tiebreak(raw)
    except ValueError:
        raise InvalidValueError("cursor is not valid") from None


def decode_uuid(cursor: str) -> tuple[datetime, UUID]:
    return _decode_as(cursor, UUID)


def decode_int(cursor: str) -> tuple[datetime, int]:
    return _decode_as(cursor, int)


def keyset(cursor: str | None, as_id: Callable[[UUID], Id]) -> tuple[datetime, Id] | None:
    """Where the page a ``cursor`` query parameter asks for starts, in a listing keyed by time and
    id (the id typed by ``as_id``); None: the first page."""
    if not cursor:
        return None
    at, row_id = decode_uuid(cursor)
    return at, as_id(row_id)


def decode_id(cursor: str) -> int:
    """A plain integer cursor (an entry id): ASCII digits only, as we issue them."""
    if not (cursor.isascii() and cursor.isdigit() and len(cursor) <= 18):
        raise InvalidValueError("cursor is not valid")
    return int(cursor)


async def paged(
    fetch: Callable[[int], Awaitable[list[T]]],
    limit: int,
    *,
    shown: Callable[[T], Shown],
    cursor: Callable[[T], str],
) -> tuple[list[Shown], str | None]:
    """One page of a listing as a response shows it: its rows mapped by ``shown``, and the
    cursor of its last row (``cursor``) when another page follows, else None."""
    page = await one_page(fetch, limit)
    last = page.last
    return [shown(row) for row in page.items], cursor(last) if last is not None else None


async def page(
    make: Callable[..., P],
    fetch: Callable[[int], Awaitable[list[T]]],
    limit: int,
    *,
    shown: Callable[[T], Shown],
    cursor: Callable[[T], str],
) -> P:
    """``paged`` as the response body ``make`` builds: ``make(items=..., next_cursor=...)``."""
    items, next_cursor = await paged(fetch, limit, shown=shown, cursor=cursor)
    return make(items=items, next_cursor=next_cursor)
