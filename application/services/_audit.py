"""The audit trail: each admin write appends one entry, in the unit of work of the write."""

from collections.abc import Callable
from datetime import datetime
from typing import Any, Protocol, TypeVar

import msgspec

from application.ports.unit_of_work import UnitOfWork
from domain.admins import AdminPrincipal, redact
from domain.ids import OrganizationId


def snapshot(value: object) -> dict[str, Any] | None:
    """A JSON-safe picture of a value (decimals, ids and times as strings), or None."""
    if value is None:
        return None
    built = msgspec.to_builtins(value)
    if not isinstance(built, dict):  # pragma: no cover - callers pass structs or dicts
        raise TypeError("an audit snapshot must be an object")
    return built


async def audit(
    uow: UnitOfWork,
    actor: AdminPrincipal | None,
    action: str,
    *,
    target_type: str,
    target_id: object,
    organization_id: OrganizationId | None,
    at: datetime,
    before: object = None,
    after: object = None,
) -> None:
    """Append who (``None``: the system, e.g. the CLI) did what to which target, secrets redacted."""
    await uow.audit.add(
        at=at,
        actor_id=actor.user_id if actor is not None else None,
        actor_email=actor.email if actor is not None else "system",
        action=action,
        target_type=target_type,
        target_id=str(target_id),
        organization_id=organization_id,
        before=redact(snapshot(before)),
        after=redact(snapshot(after)),
    )


class Scoped(Protocol):
    """A row the audit trail names: its id, and the organization it belongs to."""

    @property
    def id(self) -> Any: ...

    @property
    def organization_id(self) -> OrganizationId | None: ...


Row = TypeVar("Row", bound=Scoped)


async def audit_row(
    uow: UnitOfWork,
    actor: AdminPrincipal | None,
    action: str,
    *,
    target_type: str,
    target: Row,
    picture: Callable[[Row], dict[str, Any]],
    at: datetime,
    before: Row | None,
    after: Row | None,
    changed_secret: str | None = None,
) -> None:
    """``audit`` of a write to ``target``, its before and after pictured by ``picture``;
    ``changed_secret`` names a secret field the write changed, shown as ``[changed]``
    in the after picture (redacted anyway, so the entry only tells it changed)."""
    after_picture = picture(after) if after is not None else None
    if after_picture is not None and changed_secret is not None:
        after_picture[changed_secret] = "[changed]"
    await audit(
        uow,
        actor,
        action,
        target_type=target_type,
        target_id=target.id,
        organization_id=target.organization_id,
        at=at,
        before=picture(before) if before is not None else None,
        after=after_picture,
    )
