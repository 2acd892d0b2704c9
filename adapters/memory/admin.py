"""In-memory fakes of the operator-side repositories."""

import itertools
from datetime import datetime
from typing import Any

import msgspec

from adapters.memory.store import StoreRepository
from application.errors import ConflictError
from application.ports.admin import NewAuditEntry, Webhook, WebhookDelivery
from domain.admins import AdminUser, AuditEntry
from domain.ids import AdminUserId, OrganizationId

_ids = itertools.count(1)


class MemoryAdminUserRepository(StoreRepository):
    async def add(self, user: AdminUser) -> None:
        if await self.find_by_email(user.email) is not None:
            raise ConflictError("an admin user with this email exists")
        self._s.admin_users[user.id] = user

    async def add_first(self, user: AdminUser) -> bool:
        if self._s.admin_users:
            return False
        await self.add(user)
        return True

    async def lock_owners(self) -> None:
        # Nothing to do: no other task runs inside a unit of work of the fakes (store.py).
        return None

    async def get(self, user_id: AdminUserId) -> AdminUser | None:
        return self._s.admin_users.get(user_id)

    async def find_by_email(self, email: str) -> AdminUser | None:
        wanted = email.lower()
        return next((u for u in self._s.admin_users.values() if u.email.lower() == wanted), None)

    async def list(self) -> list[AdminUser]:
        return sorted(self._s.admin_users.values(), key=lambda u: u.created_at)

    async def update(self, user: AdminUser) -> None:
        self._s.admin_users[user.id] = user

    async def delete(self, user_id: AdminUserId) -> bool:
        return self._s.admin_users.pop(user_id, None) is not None

    async def count(self) -> int:
        return len(self._s.admin_users)


class MemoryAuditLogRepository(StoreRepository):
    async def add(self, entry: NewAuditEntry) -> None:
        self._s.audit.append(AuditEntry(id=len(self._s.audit) + 1, **msgspec.structs.asdict(entry)))

    async def list(
        self, *, organization_id: OrganizationId | None, before_id: int | None, limit: int
    ) -> list[AuditEntry]:
        entries = [
            e
            for e in reversed(self._s.audit)
            if (organization_id is None or e.organization_id == organization_id)
            and (before_id is None or e.id < before_id)
        ]
        return entries[:limit]


class MemoryWebhookRepository(StoreRepository):
    async def add(self, webhook: Webhook) -> None:
        self._s.webhooks[webhook.id] = webhook

    async def get(self, webhook_id: Any) -> Webhook | None:
        return self._s.webhooks.get(webhook_id)

    async def list_for_organization(self, organization_id: OrganizationId | None) -> list[Webhook]:
        found = [
            w for w in self._s.webhooks.values() if organization_id is None or w.organization_id == organization_id
        ]
        return sorted(found, key=lambda w: (w.created_at, w.id))

    async def list_all(self, *, after: Any | None, limit: int) -> list[Webhook]:
        found = sorted((w for w in self._s.webhooks.values() if after is None or w.id > after), key=lambda w: w.id)
        return found[:limit]

    async def update(self, webhook: Webhook) -> None:
        if webhook.id in self._s.webhooks:
            self._s.webhooks[webhook.id] = webhook

    async def replace_secret(self, webhook_id: Any, *, old: str, new: str) -> bool:
        current = self._s.webhooks.get(webhook_id)
        if current is None or current.secret != old:
            return False
        self._s.webhooks[webhook_id] = msgspec.structs.replace(current, secret=new, secret_encrypted=True)
        return True

    async def delete(self, webhook_id: Any) -> bool:
        if self._s.webhooks.pop(webhook_id, None) is None:
            return False
        self._s.deliveries = {k: d for k, d in self._s.deliveries.items() if d.webhook_id != webhook_id}
        return True

    async def enqueue(self, organization_id: OrganizationId, event: str, payload: dict[str, Any], at: datetime) -> int:
        queued = 0
        for hook in self._s.webhooks.values():
            if hook.organization_id == organization_id and hook.is_active and event in hook.events:
                delivery_id = next(_ids)
                self._s.deliveries[delivery_id] = WebhookDelivery(
                    id=delivery_id,
                    webhook_id=hook.id,
                    event=event,
                    payload=payload,
                    attempts=0,
                    status="pending",
                    next_attempt_at=at,
                    created_at=at,
                )
                queued += 1
        return queued

    async def claim_due(self, now: datetime, limit: int, *, lease_until: datetime) -> list[WebhookDelivery]:
        hooks = self._s.webhooks
        due = [
            d
            for d in self._s.deliveries.values()
            if d.status == "pending"
            and d.next_attempt_at <= now
            and d.webhook_id in hooks
            and hooks[d.webhook_id].is_active
        ]
        claimed = []
        for d in sorted(due, key=lambda d: d.next_attempt_at)[:limit]:
            self._s.deliveries[d.id] = msgspec.structs.replace(d, next_attempt_at=lease_until)
            hook = hooks[d.webhook_id]  # like the SQL join: the webhook's url and secret as they are now
            claimed.append(
                msgspec.structs.replace(d, url=hook.url, secret=hook.secret, secret_encrypted=hook.secret_encrypted)
            )
        return claimed

    async def mark_delivered(self, delivery_id: Any, *, at: datetime, status_code: int) -> None:
        d = self._s.deliveries.get(delivery_id)
        if d is None:  # its webhook was deleted meanwhile
            return
        self._s.deliveries[delivery_id] = msgspec.structs.replace(
            d, status="delivered", attempts=d.attempts + 1, delivered_at=at, last_status_code=status_code
        )

    async def mark_failed(
        self, delivery_id: Any, *, at: datetime, status_code: int | None, error: str, next_attempt_at: datetime | None
    ) -> None:
        d = self._s.deliveries.get(delivery_id)
        if d is None:
            return
        self._s.deliveries[delivery_id] = msgspec.structs.replace(
            d,
            status="pending" if next_attempt_at else "failed",
            attempts=d.attempts + 1,
            next_attempt_at=next_attempt_at or d.next_attempt_at,
            last_status_code=status_code,
            last_error=error,
        )

    async def deliveries(self, webhook_id: Any, limit: int) -> list[WebhookDelivery]:
        hook = self._s.webhooks.get(webhook_id)
        if hook is None:
            return []
        found = [
            msgspec.structs.replace(d, url=hook.url, secret=hook.secret, secret_encrypted=hook.secret_encrypted)
            for d in self._s.deliveries.values()
            if d.webhook_id == webhook_id
        ]
        return sorted(found, key=lambda d: (d.created_at, d.id), reverse=True)[:limit]
