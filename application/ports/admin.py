"""Ports of the operator side: admin users, the audit log and webhook outbox.

The unit of work exposes these repositories next to the tenant ones
(``application.ports.unit_of_work.UnitOfWork``), so an admin write, its audit entry and
the webhook events it causes commit together.
"""

from datetime import datetime
from typing import Any, Protocol

import msgspec

from domain.admins import AdminUser, AuditEntry
from domain.ids import AdminUserId, OrganizationId


class AdminUserRepository(Protocol):
    async def add(self, user: AdminUser) -> None:
        """Insert; raises ``ConflictError`` when the email (case-insensitive) exists."""
        ...

    async def add_first(self, user: AdminUser) -> bool:
        """Insert ``user`` only while no admin user exists at all; False (nothing inserted) otherwise.

        Serialized with every other ``add_first`` and ``lock_owners`` (they queue until the
        transaction that went first ends), so concurrent first-run setups create exactly one
        user. The caller commits.
        """
        ...

    async def lock_owners(self) -> None:
        """Serialize changes to the set of owners until this transaction ends.

        A second caller waits here until the first one's transaction ends and then reads
        what it committed: call it before reading the owners that a removal or demotion
        is checked against, so "keep at least one owner" holds under concurrency.
        """
        ...

    async def get(self, user_id: AdminUserId) -> AdminUser | None: ...

    async def find_by_email(self, email: str) -> AdminUser | None:
        """Case-insensitive lookup."""
        ...

    async def list(self) -> list[AdminUser]: ...

    async def update(self, user: AdminUser) -> None: ...

    async def delete(self, user_id: AdminUserId) -> bool: ...

    async def count(self) -> int: ...


class NewAuditEntry(msgspec.Struct, frozen=True, kw_only=True):
    """An audit entry to append (``AuditEntry`` but for the id the log gives it)."""

    at: datetime
    actor_id: AdminUserId | None  # None: the system (CLI, setup)
    actor_email: str
    action: str
    target_type: str
    target_id: str
    organization_id: OrganizationId | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


class AuditLogRepository(Protocol):
    async def add(self, entry: NewAuditEntry) -> None:
        """Append one entry (secrets must already be redacted)."""
        ...

    async def list(
        self, *, organization_id: OrganizationId | None, before_id: int | None, limit: int
    ) -> list[AuditEntry]:
        """Newest first; ``organization_id`` limits to one organization's entries."""
        ...


class Webhook(msgspec.Struct, frozen=True, kw_only=True):
    """A subscription as stored. ``secret`` is a vault token when ``secret_encrypted``;
    rows written before migration 0004 hold the plaintext secret (False) until
    ``saasllm rotate-keys`` encrypts them."""

    id: Any
    organization_id: OrganizationId
    url: str
    events: tuple[str, ...]
    secret: str
    created_at: datetime
    is_active: bool = True
    secret_encrypted: bool = False

    def __repr__(self) -> str:
        return f"Webhook(id={self.id}, url={self.url!r}, events={self.events!r})"


class WebhookDelivery(msgspec.Struct, frozen=True, kw_only=True):
    id: Any
    webhook_id: Any
    event: str
    payload: dict[str, Any]
    attempts: int
    status: str  # pending | delivered | failed
    next_attempt_at: datetime
    created_at: datetime
    url: str = ""
    secret: str = ""  # the webhook's, as stored (see ``Webhook.secret``)
    secret_encrypted: bool = False
    last_status_code: int | None = None
    last_error: str | None = None
    delivered_at: datetime | None = None

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"WebhookDelivery(id={self.id}, event={self.event!r}, status={self.status!r})"


class WebhookRepository(Protocol):
    async def add(self, webhook: Webhook) -> None: ...

    async def get(self, webhook_id: Any) -> Webhook | None:
        """The webhook, or None when no such webhook exists."""
        ...

    async def list_for_organization(self, organization_id: OrganizationId | None) -> list[Webhook]:
        """Oldest first; ``None``: every organization's."""
        ...

    async def list_all(self, *, after: Any | None, limit: int) -> list[Webhook]:
        """Every webhook in id order, ``limit`` at a time after the id ``after`` (for re-encryption)."""
        ...

    async def update(self, webhook: Webhook) -> None:
        """Persist url, events, the active flag and the secret (with its ``secret_encrypted`` flag)."""
        ...

    async def replace_secret(self, webhook_id: Any, *, old: str, new: str) -> bool:
        """Store ``new`` (a vault token) as the secret, marked encrypted, only if the stored
        secret is still ``old``; False when it changed meanwhile (or the webhook is gone)."""
        ...

    async def delete(self, webhook_id: Any) -> bool:
        """Delete with its deliveries (pending ones are never sent); False when unknown."""
        ...

    async def enqueue(self, organization_id: OrganizationId, event: str, payload: dict[str, Any], at: datetime) -> int:
        """Write one pending delivery per active webhook subscribed to ``event`` (the outbox).

        Runs in the transaction of the event itself; returns how many were queued.
        """
        ...

    async def claim_due(self, now: datetime, limit: int, *, lease_until: datetime) -> list[WebhookDelivery]:
        """Pending deliveries of active webhooks due at ``now``, leased to this worker until
        ``lease_until``, each with its webhook's current url and secret. Deliveries of an
        inactive webhook stay pending, untouched, until it is active again.

        Atomic (``FOR UPDATE SKIP LOCKED`` + moving ``next_attempt_at``), so two workers
        never send the same delivery at once; a worker that dies lets the lease expire.
        """
        ...

    async def mark_delivered(self, delivery_id: Any, *, at: datetime, status_code: int) -> None: ...

    async def mark_failed(
        self, delivery_id: Any, *, at: datetime, status_code: int | None, error: str, next_attempt_at: datetime | None
    ) -> None:
        """Record a failed attempt; ``next_attempt_at`` None gives up (status failed)."""
        ...

    async def deliveries(self, webhook_id: Any, limit: int) -> list[WebhookDelivery]: ...
