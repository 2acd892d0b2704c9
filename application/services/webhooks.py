"""Webhooks: subscriptions, and the worker that delivers the outbox with retries."""

import asyncio
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any
from uuid import UUID

import msgspec

from application.ports.admin import Webhook, WebhookDelivery
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.ports.vault import CredentialVault, VaultError
from application.ports.webhooks import WebhookResponse, WebhookSender
from application.services._access import listing_scope, seen, visible_organization
from application.services._audit import RowAudit
from application.services._outbound import OutboundUrlCheck
from application.services._rotation import Rotation, rotate_in_batches, under_newest_key
from domain.admins import AdminPrincipal, ensure_can_write, ensure_sees
from domain.errors import InvalidValueError
from domain.ids import OrganizationId

EVENTS = frozenset({"job.completed", "team.credits_low"})
SIGNATURE_HEADER = "X-Webhook-Signature"
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)  # longer than any send (the sender's total deadline ends it well before)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` (the timestamp defeats replays)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def backoff(attempt: int, base_s: float = 5.0) -> timedelta:
    """Delay before attempt ``attempt + 1``: 5 s, 10 s, 20 s … (by default) capped at one hour."""
    return timedelta(seconds=min(3600.0, base_s * 2 ** max(0, attempt - 1)))


class IssuedWebhook(msgspec.Struct, frozen=True, kw_only=True):
    """A webhook and its signing secret in clear: returned once, by create and rotate-secret."""

    webhook: Webhook
    secret: str

    def __repr__(self) -> str:  # the secret stays out of logs and tracebacks
        return f"IssuedWebhook(webhook={self.webhook!r})"


class WebhookChanges(msgspec.Struct, frozen=True, kw_only=True):
    """A partial update: ``UNSET`` keeps a value."""

    url: str | msgspec.UnsetType = msgspec.UNSET
    events: list[str] | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class WebhookService:
    """Rules: only the two documented events; a URL must pass the webhook address policy
    when it is stored (``OutboundUrlCheck``) and the sender applies it again to every
    connection; the signing secret is stored encrypted by the vault and shown only by
    the request that creates or rotates it; admins manage the webhooks of organizations
    they see (others answer 404), viewers none, each write audited in its transaction.
    A delivery is written to the outbox in the transaction of its event and sent later by
    the worker, so a slow or dead receiver never slows or fails the request that caused
    it; failed deliveries are retried with exponential backoff up to ``MAX_ATTEMPTS``
    (one refused by the address policy is given up at once); an inactive webhook's
    deliveries wait, unsent, until it is active again."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        sender: WebhookSender,
        vault: CredentialVault,
        clock: Clock,
        ids: IdGenerator,
        retry_base_s: float = 5.0,
        url_check: OutboundUrlCheck | None = None,
    ) -> None:
        self._uow = uow
        self._sender = sender
        self._vault = vault
        self._clock = clock
        self._audit = RowAudit("webhook", webhook_snapshot, clock, sensitive_field="secret")
        self._ids = ids
        self._retry_base_s = retry_base_s
        self._check_url = url_check or OutboundUrlCheck()

    async def create(
        self, actor: AdminPrincipal | None, *, organization_id: OrganizationId, url: str, events: list[str]
    ) -> IssuedWebhook:
        if actor is not None:
            ensure_can_write(actor)
        checked = await self._check_url(url, field="url")  # may resolve a name: before the unit of work
        secret = new_secret()
        webhook = Webhook(
            id=self._ids.new_id(),
            organization_id=organization_id,
            url=checked,
            events=check_events(events),
            secret=self._vault.encrypt(secret),
            secret_encrypted=True,
            created_at=self._clock.now(),
        )
        async with self._uow() as uow:
            await visible_organization(uow, actor, organization_id)
            await uow.webhooks.add(webhook)
            await self._audit(uow, actor, "webhook.create", webhook, None, webhook)
            await uow.commit()
        return IssuedWebhook(webhook=webhook, secret=secret)

    async def list_webhooks(self, actor: AdminPrincipal, organization_id: OrganizationId | None) -> list[Webhook]:
        """Oldest first; a scoped admin sees its own organization's (another one's answers 404)."""
        async with self._uow() as uow:
            return await uow.webhooks.list_for_organization(listing_scope(actor, organization_id))

    async def update(self, actor: AdminPrincipal, webhook_id: UUID, changes: WebhookChanges) -> Webhook:
        ensure_can_write(actor)
        url = None if isinstance(changes.url, msgspec.UnsetType) else await self._check_url(changes.url, field="url")
        async with self._uow() as uow:
            before = await self._visible(uow, actor, webhook_id)
            after = msgspec.structs.replace(
                before,
                url=before.url if url is None else url,
                events=before.events if isinstance(changes.events, msgspec.UnsetType) else check_events(changes.events),
                is_active=before.is_active if isinstance(changes.is_active, msgspec.UnsetType) else changes.is_active,
            )
            await uow.webhooks.update(after)
            await self._audit(uow, actor, "webhook.update", after, before, after)
            await uow.commit()
        return after

    async def rotate_secret(self, actor: AdminPrincipal, webhook_id: UUID) -> IssuedWebhook:
        """A new signing secret at once: deliveries sent from now on (retries included) use it."""
        ensure_can_write(actor)
        secret = new_secret()
        async with self._uow() as uow:
            before = await self._visible(uow, actor, webhook_id)
            after = msgspec.structs.replace(before, secret=self._vault.encrypt(secret), secret_encrypted=True)
            await uow.webhooks.update(after)
            await self._audit(uow, actor, "webhook.rotate_secret", after, before, after, secret_changed=True)
            await uow.commit()
        return IssuedWebhook(webhook=after, secret=secret)

    async def delete(self, actor: AdminPrincipal, webhook_id: UUID) -> None:
        """Delete with its outbox: deliveries not yet sent never will be."""
        ensure_can_write(actor)
        async with self._uow() as uow:
            before = await self._visible(uow, actor, webhook_id)
            await uow.webhooks.delete(webhook_id)
            await self._audit(uow, actor, "webhook.delete", before, before, None)
            await uow.commit()

    async def rotate_secrets(self) -> Rotation:
        """Encrypt every secret under the newest vault key (``rotate-keys``): plaintext ones
        written before migration 0004 are encrypted, older ciphertexts re-encrypted.

        Safe while the service runs, like ``CredentialService.rotate_keys``: each row is
        swapped in its own transaction only if its secret is still the one read. Raises
        ``VaultError`` when a secret cannot be decrypted with any configured key.
        """

        def new_secret(webhook: Webhook) -> str | None:
            if not webhook.secret_encrypted:
                return self._vault.encrypt(webhook.secret)
            return under_newest_key(self._vault, webhook.secret)

        return await rotate_in_batches(
            self._uow,
            page=lambda uow, after, limit: uow.webhooks.list_all(after=after, limit=limit),
            new_secret=new_secret,
            swap=lambda uow, w, new: uow.webhooks.replace_secret(w.id, old=w.secret, new=new),
            audit=lambda uow, w: self._audit(uow, None, "webhook.reencrypt", w, None, None),
        )

    async def deliver_due(self, *, limit: int = 50) -> int:
        """One pass of the worker: send what is due; returns how many were attempted."""
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.webhooks.claim_due(now, limit, lease_until=now + LEASE)
            await uow.commit()
        # Sent side by side: one slow receiver costs the batch its own deadline, not the sum.
        await asyncio.gather(*(self._attempt(delivery) for delivery in due))
        return len(due)

    async def _attempt(self, delivery: WebhookDelivery) -> None:
        try:
            secret = self._vault.decrypt(delivery.secret) if delivery.secret_encrypted else delivery.secret
        except VaultError:
            response = WebhookResponse(status_code=None, error="the signing secret cannot be decrypted")
        else:
            body = msgspec.json.encode(
                {"event": delivery.event, "delivery_id": str(delivery.id), "data": delivery.payload}
            )
            timestamp = str(int(self._clock.now().timestamp()))
            headers = {
                "Content-Type": "application/json",
                SIGNATURE_HEADER: sign(secret, timestamp, body),
                "X-Webhook-Event": delivery.event,
                "X-Webhook-Delivery": str(delivery.id),
            }
            response = await self._sender.send(delivery.url, body=body, headers=headers)
        now = self._clock.now()
        attempts = delivery.attempts + 1
        async with self._uow() as uow:
            if response.status_code is not None and 200 <= response.status_code < 300:
                await uow.webhooks.mark_delivered(delivery.id, at=now, status_code=response.status_code)
            else:
                retry = None
                if attempts < MAX_ATTEMPTS and not response.refused:
                    retry = now + backoff(attempts, self._retry_base_s)
                error = response.error or f"HTTP {response.status_code}"
                await uow.webhooks.mark_failed(
                    delivery.id, at=now, status_code=response.status_code, error=error, next_attempt_at=retry
                )
            await uow.commit()

    async def list_deliveries(self, actor: AdminPrincipal, webhook: Webhook, limit: int = 50) -> list[WebhookDelivery]:
        ensure_sees(actor, webhook.organization_id)
        async with self._uow() as uow:
            return await uow.webhooks.deliveries(webhook.id, limit)

    async def _visible(self, uow: UnitOfWork, actor: AdminPrincipal, webhook_id: UUID) -> Webhook:
        return seen(await uow.webhooks.get(webhook_id), actor, "webhook")


def webhook_snapshot(webhook: Webhook) -> dict[str, Any]:
    """What the audit log keeps of a webhook: never the secret, not even encrypted."""
    return {"url": webhook.url, "events": list(webhook.events), "is_active": webhook.is_active}


def new_secret() -> str:
    return "whsec_" + secrets.token_urlsafe(32)


def check_events(events: list[str]) -> tuple[str, ...]:
    unknown = set(events) - EVENTS
    if not events or unknown:
        raise InvalidValueError(f"events must be among {sorted(EVENTS)}")
    return tuple(sorted(set(events)))


def event_payload(**fields: Any) -> dict[str, Any]:
    """JSON-safe payload (decimals and ids as strings)."""
    return {k: (str(v) if v is not None and not isinstance(v, int | str | bool) else v) for k, v in fields.items()}
