"""Operator-side tables: admin users, the audit log and the webhook outbox."""

from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from adapters.postgres.repositories.rows import from_row, page_after_id
from adapters.postgres.session import SessionRepository
from application.ports.admin import NewAuditEntry, Webhook, WebhookDelivery
from domain.admins import AdminRole, AdminUser, AuditEntry
from domain.ids import AdminUserId, OrganizationId

_USER_COLUMNS = "id, email, password_hash, role, organization_id, created_at"

# pg_advisory_xact_lock key serializing first-run setup and changes to the set of owners
# (any constant shared by every instance; distinct from the migration runner's).
OWNERS_LOCK = 7_305_186_270_112_514_114
_LOCK_OWNERS = "SELECT pg_advisory_xact_lock(%s)"

# Taken after the lock, so its snapshot sees whatever the previous holder committed.
_ADD_FIRST = f"""
INSERT INTO admin_users ({_USER_COLUMNS})
SELECT %s, %s, %s, %s, %s, %s
WHERE NOT EXISTS (SELECT 1 FROM admin_users)
"""


def _user(row: dict[str, Any]) -> AdminUser:
    return from_row(AdminUser, row, role=AdminRole(row["role"]))


class PostgresAdminUserRepository(SessionRepository):
    async def add(self, user: AdminUser) -> None:
        await self._s.run(
            f"INSERT INTO admin_users ({_USER_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s)",
            (user.id, user.email, user.password_hash, user.role.value, user.organization_id, user.created_at),
        )

    async def add_first(self, user: AdminUser) -> bool:
        await self.lock_owners()
        inserted = await self._s.run(
            _ADD_FIRST,
            (user.id, user.email, user.password_hash, user.role.value, user.organization_id, user.created_at),
        )
        return inserted == 1

    async def lock_owners(self) -> None:
        await self._s.run(_LOCK_OWNERS, (OWNERS_LOCK,))

    async def get(self, user_id: AdminUserId) -> AdminUser | None:
        row = await self._s.one(f"SELECT {_USER_COLUMNS} FROM admin_users WHERE id = %s", (user_id,))
        return _user(row) if row is not None else None

    async def find_by_email(self, email: str) -> AdminUser | None:
        row = await self._s.one(f"SELECT {_USER_COLUMNS} FROM admin_users WHERE lower(email) = lower(%s)", (email,))
        return _user(row) if row is not None else None

    async def list(self) -> list[AdminUser]:
        rows = await self._s.all(f"SELECT {_USER_COLUMNS} FROM admin_users ORDER BY created_at, id")
        return [_user(r) for r in rows]

    async def update(self, user: AdminUser) -> None:
        await self._s.run(
            "UPDATE admin_users SET email = %s, password_hash = %s, role = %s, organization_id = %s WHERE id = %s",
            (user.email, user.password_hash, user.role.value, user.organization_id, user.id),
        )

    async def delete(self, user_id: AdminUserId) -> bool:
        return await self._s.run("DELETE FROM admin_users WHERE id = %s", (user_id,)) == 1

    async def count(self) -> int:
        row = await self._s.one("SELECT count(*) AS n FROM admin_users")
        return int(row["n"]) if row is not None else 0


class PostgresAuditLogRepository(SessionRepository):
    async def add(self, entry: NewAuditEntry) -> None:
        await self._s.run(
            """
            INSERT INTO audit_log (at, actor_id, actor_email, action, target_type, target_id, organization_id,
                                   before, after)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
            """,
            (
                entry.at,
                entry.actor_id,
                entry.actor_email,
                entry.action,
                entry.target_type,
                entry.target_id,
                entry.organization_id,
                Jsonb(entry.before) if entry.before is not None else None,
                Jsonb(entry.after) if entry.after is not None else None,
            ),
        )

    async def list(
        self, *, organization_id: OrganizationId | None, before_id: int | None, limit: int
    ) -> list[AuditEntry]:
        rows = await self._s.all(
            """
            SELECT id, at, actor_id, actor_email, action, target_type, target_id, organization_id, before, after
            FROM audit_log
            WHERE (%(org)s::uuid IS NULL OR organization_id = %(org)s::uuid)
              AND (%(before)s::bigint IS NULL OR id < %(before)s::bigint)
            ORDER BY id DESC
            LIMIT %(limit)s
            """,
            {"org": organization_id, "before": before_id, "limit": limit},
        )
        return [from_row(AuditEntry, r) for r in rows]


_DELIVERY_COLUMNS = (
    "d.id, d.webhook_id, d.event, d.payload, d.attempts, d.status, d.next_attempt_at, d.created_at, "
    "d.last_status_code, d.last_error, d.delivered_at, w.url, w.secret, w.secret_encrypted"
)
_WEBHOOK_COLUMNS = "id, organization_id, url, events, secret, secret_encrypted, is_active, created_at"
_WEBHOOK_PAGE = page_after_id(_WEBHOOK_COLUMNS, "webhooks")


def _delivery(row: dict[str, Any]) -> WebhookDelivery:
    return from_row(WebhookDelivery, row)


def _webhook(row: dict[str, Any]) -> Webhook:
    return from_row(Webhook, row, events=tuple(row["events"]))


# Skips rows another worker holds and deliveries of inactive webhooks, then moves each
# claimed one's next attempt to the end of the lease: committed, that is the claim; a dead
# worker's lease simply runs out.
_CLAIM = f"""
WITH due AS (
    SELECT d.id, d.next_attempt_at FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s AND w.is_active
    ORDER BY d.next_attempt_at
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
), claimed AS (
    UPDATE webhook_deliveries d SET next_attempt_at = %(lease_until)s
    FROM due, webhooks w
    WHERE d.id = due.id AND w.id = d.webhook_id
    RETURNING {_DELIVERY_COLUMNS.replace("d.next_attempt_at", "due.next_attempt_at")}
)
SELECT * FROM claimed ORDER BY next_attempt_at, id
"""


class PostgresWebhookRepository(SessionRepository):
    async def add(self, webhook: Webhook) -> None:
        await self._s.run(
            f"INSERT INTO webhooks ({_WEBHOOK_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
            (
                webhook.id,
                webhook.organization_id,
                webhook.url,
                list(webhook.events),
                webhook.secret,
                webhook.secret_encrypted,
                webhook.is_active,
                webhook.created_at,
            ),
        )

    async def get(self, webhook_id: Any) -> Webhook | None:
        row = await self._s.one(f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE id = %s", (webhook_id,))
        return _webhook(row) if row is not None else None

    async def list_for_organization(self, organization_id: OrganizationId | None) -> list[Webhook]:
        rows = await self._s.all(
            f"""
            SELECT {_WEBHOOK_COLUMNS} FROM webhooks
            WHERE %(org)s::uuid IS NULL OR organization_id = %(org)s::uuid
            ORDER BY created_at, id
            """,
            {"org": organization_id},
        )
        return [_webhook(r) for r in rows]

    async def list_all(self, *, after: Any | None, limit: int) -> list[Webhook]:
        rows = await self._s.all(_WEBHOOK_PAGE, {"after": after, "limit": limit})
        return [_webhook(r) for r in rows]

    async def update(self, webhook: Webhook) -> None:
        await self._s.run(
            """
            UPDATE webhooks SET url = %s, events = %s, is_active = %s, secret = %s, secret_encrypted = %s
            WHERE id = %s
            """,
            (
                webhook.url,
                list(webhook.events),
                webhook.is_active,
                webhook.secret,
                webhook.secret_encrypted,
                webhook.id,
            ),
        )

    async def replace_secret(self, webhook_id: Any, *, old: str, new: str) -> bool:
        changed = await self._s.run(
            "UPDATE webhooks SET secret = %s, secret_encrypted = true WHERE id = %s AND secret = %s",
            (new, webhook_id, old),
        )
        return changed == 1

    async def delete(self, webhook_id: Any) -> bool:
        return await self._s.run("DELETE FROM webhooks WHERE id = %s", (webhook_id,)) == 1

    async def enqueue(self, organization_id: OrganizationId, event: str, payload: dict[str, Any], at: datetime) -> int:
        return await self._s.run(
            """
            INSERT INTO webhook_deliveries (webhook_id, event, payload, next_attempt_at, created_at)
            SELECT id, %(event)s, %(payload)s, %(at)s, %(at)s FROM webhooks
            WHERE organization_id = %(org)s AND is_active AND %(event)s = ANY (events)
            ORDER BY created_at, id
            """,
            {"org": organization_id, "event": event, "payload": Jsonb(payload), "at": at},
        )

    async def claim_due(self, now: datetime, limit: int, *, lease_until: datetime) -> list[WebhookDelivery]:
        rows = await self._s.all(_CLAIM, {"now": now, "limit": limit, "lease_until": lease_until})
        return [_delivery(r) for r in rows]

    async def mark_delivered(self, delivery_id: Any, *, at: datetime, status_code: int) -> None:
        await self._s.run(
            """
            UPDATE webhook_deliveries
            SET status = 'delivered', attempts = attempts + 1, delivered_at = %s, last_status_code = %s
            WHERE id = %s
            """,
            (at, status_code, delivery_id),
        )

    async def mark_failed(
        self, delivery_id: Any, *, at: datetime, status_code: int | None, error: str, next_attempt_at: datetime | None
    ) -> None:
        await self._s.run(
            """
            UPDATE webhook_deliveries
            SET status = CASE WHEN %(next)s::timestamptz IS NULL THEN 'failed' ELSE 'pending' END,
                attempts = attempts + 1,
                next_attempt_at = coalesce(%(next)s::timestamptz, next_attempt_at),
                last_status_code = %(code)s,
                last_error = %(error)s
            WHERE id = %(id)s
            """,
            {"next": next_attempt_at, "code": status_code, "error": error[:2000], "id": delivery_id},
        )

    async def deliveries(self, webhook_id: Any, limit: int) -> list[WebhookDelivery]:
        rows = await self._s.all(
            f"""
            SELECT {_DELIVERY_COLUMNS} FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
            WHERE d.webhook_id = %s
            ORDER BY d.created_at DESC, d.id DESC
            LIMIT %s
            """,
            (webhook_id, limit),
        )
        return [_delivery(r) for r in rows]
