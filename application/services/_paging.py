"""One page of a keyset-paginated listing, written once.

A listing asks its repository for one row more than it shows: that row's presence is how
it knows another page follows, without counting. Cursors (their encoding) belong to the
entrypoint; which row a page ends on is decided here.
"""

from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import msgspec

T = TypeVar("T")


class Page(msgspec.Struct, Generic[T], frozen=True, kw_only=True):
    """At most ``limit`` rows, and whether more follow the last of them."""

    items: list[T]
    more: bool

    @property
    def last(self) -> T | None:
        """The row the next page starts after; None when no page follows."""
        return self.items[-1] if self.more and self.items else None


async def one_page(fetch: Callable[[int], Awaitable[list[T]]], limit: int) -> Page[T]:
    """``fetch(n)`` returns at most ``n`` rows in listing order; ``limit`` is at least 1."""
    found = await fetch(limit + 1)
    return Page(items=found[:limit], more=len(found) > limit)
