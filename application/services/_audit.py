"""The audit trail: each admin write appends one entry, in the unit of work of the write."""

from datetime import datetime
from typing import Any

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
