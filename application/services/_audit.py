"""The audit trail: each admin write appends one entry, in the unit of work of the write."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, Protocol, TypeVar

import msgspec

from application.ports.admin import NewAuditEntry
from application.ports.system import Clock
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
        NewAuditEntry(
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
    )


class Scoped(Protocol):
    """A row the audit trail names: its id, and the organization it belongs to."""

    @property
    def id(self) -> Any: ...

    @property
    def organization_id(self) -> OrganizationId | None: ...


Row = TypeVar("Row", bound=Scoped)


@dataclass(frozen=True)
class RowAudit(Generic[Row]):
    """The audit entries of one kind of row: ``audit`` of a write to ``target``, its before
    and after pictured by ``picture``, at the clock's now. With ``secret_changed`` the
    after picture shows the ``sensitive_field`` as ``[changed]`` (redacted anyway, so the
    entry only tells that it changed)."""

    target_type: str
    picture: Callable[[Row], dict[str, Any]]
    clock: Clock
    sensitive_field: str | None = None

    async def __call__(
        self,
        uow: UnitOfWork,
        actor: AdminPrincipal | None,
        action: str,
        target: Row,
        before: Row | None,
        after: Row | None,
        *,
        secret_changed: bool = False,
    ) -> None:
        after_picture = self.picture(after) if after is not None else None
        if after_picture is not None and secret_changed and self.sensitive_field is not None:
            after_picture[self.sensitive_field] = "[changed]"
        await audit(
            uow,
            actor,
            action,
            target_type=self.target_type,
            target_id=target.id,
            organization_id=target.organization_id,
            at=self.clock.now(),
            before=self.picture(before) if before is not None else None,
            after=after_picture,
        )
