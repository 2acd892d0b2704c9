"""The batched, race-safe re-encryption loop shared by ``rotate-keys`` for credentials and webhook secrets."""

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import msgspec

from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory

ROTATION_BATCH = 100

Row = TypeVar("Row")


class Rotation(msgspec.Struct, frozen=True, kw_only=True):
    """What ``rotate_keys`` did: re-encrypted, already under the newest key, changed meanwhile."""

    rotated: int
    current: int
    skipped: int


async def rotate_in_batches(
    uow: UnitOfWorkFactory,
    *,
    batch: Callable[[UnitOfWork, Row | None], Awaitable[Sequence[Row]]],
    new_secret: Callable[[Row], str | None],
    swap: Callable[[UnitOfWork, Row, str], Awaitable[bool]],
) -> Rotation:
    """Walk the rows ``ROTATION_BATCH`` at a time (``batch`` reads the ones after the last
    row it was given, None at first); ``new_secret`` gives a row's new ciphertext, or None
    when it is already under the newest key; ``swap`` replaces it, in its own transaction
    that this commits, only if it is still the one read (False when it changed meanwhile)."""
    rotated = current = skipped = 0
    last: Row | None = None
    while True:
        async with uow() as unit:
            rows = await batch(unit, last)
        if not rows:
            return Rotation(rotated=rotated, current=current, skipped=skipped)
        last = rows[-1]
        for row in rows:
            new = new_secret(row)
            if new is None:
                current += 1
                continue
            async with uow() as unit:
                swapped = await swap(unit, row, new)
                await unit.commit()
            rotated += swapped
            skipped += not swapped
