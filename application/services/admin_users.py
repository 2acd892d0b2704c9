"""Owner use cases: admin users, and reading the audit log."""

from typing import Any

import msgspec

from application.errors import ConflictError
from application.ports.admin import NewAuditEntry
from application.ports.security import PasswordHasher
from application.ports.system import Clock
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.services._access import seen
from application.services.admin_auth import check_password
from domain.admins import AdminPrincipal, AdminRole, AdminUser, AuditEntry, ensure_owner, sees, visible_scope
from domain.ids import AdminUserId, OrganizationId


def user_snapshot(user: AdminUser) -> dict[str, Any]:
    return {
        "email": user.email,
        "role": user.role.value,
        "organization_id": str(user.organization_id) if user.organization_id else None,
    }


class AdminUserService:
    """Rules: only owners manage admin users; an organization-scoped owner manages only
    users of its organization; the last unscoped owner cannot be deleted or demoted, also
    when two owners are removed at once (changes to admin users queue on ``lock_owners``)."""

    def __init__(self, *, uow: UnitOfWorkFactory, hasher: PasswordHasher, clock: Clock) -> None:
        self._uow = uow
        self._hasher = hasher
        self._clock = clock

    async def list_users(self, actor: AdminPrincipal) -> list[AdminUser]:
        ensure_owner(actor)
        async with self._uow() as uow:
            users = await uow.admin_users.list()
        return [u for u in users if sees(actor, u.organization_id)]

    async def _load(self, uow: UnitOfWork, actor: AdminPrincipal, user_id: AdminUserId) -> AdminUser:
        ensure_owner(actor)
        # A scoped owner sees only its organization's users.
        return seen(await uow.admin_users.get(user_id), actor, "admin user")

    async def update_user(
        self,
        actor: AdminPrincipal,
        user_id: AdminUserId,
        *,
        role: AdminRole | None = None,
        password: str | None = None,
        organization_id: OrganizationId | msgspec.UnsetType | None = msgspec.UNSET,
    ) -> AdminUser:
        ensure_owner(actor)
        if password is not None:
            check_password(password)
        new_hash = await self._hasher.hash(password) if password is not None else None
        async with self._uow() as uow:
            await uow.admin_users.lock_owners()
            user = await self._load(uow, actor, user_id)
            changes: dict[str, Any] = {}
            if role is not None:
                changes["role"] = role
            if new_hash is not None:
                changes["password_hash"] = new_hash
            if not isinstance(organization_id, msgspec.UnsetType):
                changes["organization_id"] = visible_scope(actor, organization_id)
            updated = msgspec.structs.replace(user, **changes)
            await self._keep_an_owner(uow, user, updated)
            await uow.admin_users.update(updated)
            await self._audit(uow, actor, "user.update", user, updated, password_changed=new_hash is not None)
            await uow.commit()
        return updated

    async def delete_user(self, actor: AdminPrincipal, user_id: AdminUserId) -> None:
        ensure_owner(actor)
        async with self._uow() as uow:
            await uow.admin_users.lock_owners()
            user = await self._load(uow, actor, user_id)
            await self._keep_an_owner(uow, user, None)
            await uow.admin_users.delete(user_id)
            await self._audit(uow, actor, "user.delete", user, None)
            await uow.commit()

    async def audit_log(self, actor: AdminPrincipal, *, before_id: int | None, limit: int) -> list[AuditEntry]:
        async with self._uow() as uow:
            return await uow.audit.list(organization_id=actor.organization_id, before_id=before_id, limit=limit)

    @staticmethod
    async def _keep_an_owner(uow: UnitOfWork, before: AdminUser, after: AdminUser | None) -> None:
        was_global_owner = before.role is AdminRole.OWNER and before.organization_id is None
        still = after is not None and after.role is AdminRole.OWNER and after.organization_id is None
        if was_global_owner and not still:
            users = await uow.admin_users.list()
            owners = [u for u in users if u.role is AdminRole.OWNER and u.organization_id is None]
            if len(owners) <= 1:
                raise ConflictError("the last owner cannot be removed or demoted")

    async def _audit(
        self,
        uow: UnitOfWork,
        actor: AdminPrincipal,
        action: str,
        before: AdminUser,
        after: AdminUser | None,
        *,
        password_changed: bool = False,
    ) -> None:
        after_snapshot = user_snapshot(after) if after else None
        if after_snapshot is not None and password_changed:
            after_snapshot["password"] = "[changed]"  # noqa: S105 - a marker, not a password
        await uow.audit.add(
            NewAuditEntry(
                at=self._clock.now(),
                actor_id=actor.user_id,
                actor_email=actor.email,
                action=action,
                target_type="admin_user",
                target_id=str(before.id),
                organization_id=before.organization_id,
                before=user_snapshot(before),
                after=after_snapshot,
            )
        )
