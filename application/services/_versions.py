"""Optimistic concurrency of admin updates: patches of what changed, checked row versions.

An update reads the row, decides the new values, and writes only those that differ
(``changed``), guarded by the version it read when the caller sent one (``If-Match``).
"""

from typing import Any, TypeVar

import msgspec

from application.errors import NotFoundError, PreconditionFailedError

T = TypeVar("T")


def changed(before: T, after: T) -> T | msgspec.UnsetType:
    """``after`` when it differs from ``before``, else ``UNSET`` (nothing to write)."""
    return msgspec.UNSET if before == after else after


def changed_fields(before: object, after: object, *names: str) -> dict[str, Any]:
    """``changed`` of each field ``names`` of two pictures of a row, by field (a patch's keywords)."""
    return {name: changed(getattr(before, name), getattr(after, name)) for name in names}


def given(value: T | msgspec.UnsetType, current: T) -> T:
    """The value a partial update gives, or ``current`` when it leaves it ``UNSET``."""
    return current if isinstance(value, msgspec.UnsetType) else value


def check_version(current: int, expected: int | None) -> None:
    """Refuse at once when the caller's version is already stale (412)."""
    if expected is not None and expected != current:
        raise PreconditionFailedError(f"the version is {current}, not {expected}: read it again and retry")


def stored(row: T | None, expected: int | None, what: str) -> T:
    """The row an update returned; None means it changed (with ``If-Match``) or vanished meanwhile."""
    if row is not None:
        return row
    if expected is not None:
        raise PreconditionFailedError(f"the {what} changed meanwhile: read it again and retry")
    raise NotFoundError(f"{what} not found")
