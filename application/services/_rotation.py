"""The batched, race-safe re-encryption loop shared by ``rotate-keys`` for credentials and webhook secrets."""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import msgspec

from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.ports.vault import CredentialVault

ROTATION_BATCH = 100


class HasId(Protocol):
    @property
    def id(self) -> Any: ...


Row = TypeVar("Row", bound=HasId)


class Rotation(msgspec.Struct, frozen=True, kw_only=True):
    """What ``rotate_keys`` did: re-encrypted, already under the newest key, changed meanwhile."""

    rotated: int
    current: int
    skipped: int


def under_newest_key(vault: CredentialVault, token: str) -> str | None:
    """``token`` re-encrypted under the vault's newest key, or None when it already is."""
    return None if vault.is_current(token) else vault.rotate(token)


async def rotate_in_batches(
    uow: UnitOfWorkFactory,
    *,
    page: Callable[[UnitOfWork, Any | None, int], Awaitable[Sequence[Row]]],
    new_secret: Callable[[Row], str | None],
    swap: Callable[[UnitOfWork, Row, str], Awaitable[bool]],
    audit: Callable[[UnitOfWork, Row], Awaitable[None]],
) -> Rotation:
    """Walk the rows ``ROTATION_BATCH`` at a time (``page(uow, after, limit)`` reads the ones
    after the id ``after``, None at first); ``new_secret`` gives a row's new ciphertext, or
    None when it is already under the newest key; ``swap`` replaces it only if it is still
    the one read (False when it changed meanwhile), in its own transaction, where a
    replacement is audited and committed."""
    rotated = current = skipped = 0
    after: Any | None = None
    while True:
        async with uow() as unit:
            rows = await page(unit, after, ROTATION_BATCH)
        if not rows:
            return Rotation(rotated=rotated, current=current, skipped=skipped)
        after = rows[-1].id
        for row in rows:
            new = new_secret(row)
            if new is None:
                current += 1
                continue
            async with uow() as unit:
                swapped = await swap(unit, row, new)
                if swapped:
                    await audit(unit, row)
                await unit.commit()
            rotated += swapped
            skipped += not swapped
