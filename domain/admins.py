"""Operators: admin users, their roles and organization scope, and the audit trail."""

from datetime import datetime
from enum import StrEnum
from typing import Any

import msgspec

from domain.errors import DomainError
from domain.ids import AdminUserId, OrganizationId


class AdminRole(StrEnum):
    OWNER = "owner"  # everything, including admin users
    ADMIN = "admin"  # organizations, teams, models, credentials
    VIEWER = "viewer"  # read only


class AdminUser(msgspec.Struct, frozen=True, kw_only=True):
    id: AdminUserId
    email: str
    password_hash: str
    role: AdminRole
    created_at: datetime
    organization_id: OrganizationId | None = None  # None: sees every organization

    def __repr__(self) -> str:  # the hash stays out of logs and tracebacks
        return f"AdminUser(id={self.id}, email={self.email!r}, role={self.role!s})"


class AdminPrincipal(msgspec.Struct, frozen=True, kw_only=True):
    """An authenticated operator (from a verified access token)."""

    user_id: AdminUserId
    email: str
    role: AdminRole
    organization_id: OrganizationId | None = None


class ForbiddenError(DomainError):
    code = "forbidden"


class HiddenError(DomainError):
    """The resource is outside the caller's organization: answered as not found."""

    code = "not_found"


def ensure_can_write(actor: AdminPrincipal) -> None:
    if actor.role is AdminRole.VIEWER:
        raise ForbiddenError("viewers have read-only access")


def ensure_owner(actor: AdminPrincipal) -> None:
    if actor.role is not AdminRole.OWNER:
        raise ForbiddenError("only owners manage admin users")


def ensure_platform_wide(actor: AdminPrincipal) -> None:
    """Platform-wide configuration (aliases, access groups) needs an unscoped admin."""
    ensure_can_write(actor)
    if actor.organization_id is not None:
        raise ForbiddenError("organization-scoped admins cannot change platform-wide configuration")


# ---- organization scope: the one rule ------------------------------------------------
# An unscoped admin (organization_id None) sees every organization; a scoped one sees its
# own only, and what it may not see answers exactly like what does not exist (404, not
# 403), so ids of other tenants' resources leak nothing. ``None`` as the actor is the
# system (CLI, seeding): trusted, it sees everything.


def sees(actor: AdminPrincipal | None, organization_id: OrganizationId | None) -> bool:
    """Whether the actor (None: the system) sees this organization's resources."""
    return actor is None or actor.organization_id is None or actor.organization_id == organization_id


def ensure_sees(actor: AdminPrincipal | None, organization_id: OrganizationId | None, what: str = "resource") -> None:
    """Refuse, as "<what> not found", a resource of an organization the actor does not see."""
    if not sees(actor, organization_id):
        raise HiddenError(f"{what} not found")


def visible_scope(actor: AdminPrincipal | None, requested: OrganizationId | None) -> OrganizationId | None:
    """The organization a listing (or a new resource) is limited to: the actor's own scope
    wins; asking for another organization answers 404. None: every organization."""
    if actor is None or actor.organization_id is None:
        return requested
    ensure_sees(actor, requested or actor.organization_id, "organization")
    return actor.organization_id


SECRET_FIELDS = frozenset({"api_key", "password", "password_hash", "encrypted_key", "secret", "token"})


def redact(snapshot: dict[str, Any] | None) -> dict[str, Any] | None:
    """A before/after snapshot for the audit log, secrets replaced (recursively)."""
    if snapshot is None:
        return None
    clean: dict[str, Any] = {}
    for key, value in snapshot.items():
        if key in SECRET_FIELDS:
            clean[key] = "[redacted]"
        elif isinstance(value, dict):
            clean[key] = redact(value)
        else:
            clean[key] = value
    return clean


class AuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """Who changed what, when: appended by every admin write, in the same transaction."""

    id: int
    at: datetime
    actor_id: AdminUserId | None  # None: the system (CLI, setup)
    actor_email: str
    action: str  # e.g. "team.suspend"
    target_type: str
    target_id: str
    organization_id: OrganizationId | None = None
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
