"""Webhooks: subscriptions, and the worker that delivers the outbox with retries."""

import asyncio
import hashlib
import hmac
import secrets
from datetime import timedelta
from typing import Any

import msgspec

from application.ports.admin import Webhook, WebhookDelivery
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.webhooks import WebhookSender
from application.services._access import visible_organization
from domain.admins import AdminPrincipal, ensure_can_write, ensure_sees
from domain.errors import InvalidValueError
from domain.ids import OrganizationId

EVENTS = frozenset({"job.completed", "team.credits_low"})
SIGNATURE_HEADER = "X-Webhook-Signature"
MAX_ATTEMPTS = 8
LEASE = timedelta(minutes=2)  # longer than any send (the sender times out well before)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` (the timestamp defeats replays)."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def backoff(attempt: int, base_s: float = 5.0) -> timedelta:
    """Delay before attempt ``attempt + 1``: 5 s, 10 s, 20 s … (by default) capped at one hour."""
    return timedelta(seconds=min(3600.0, base_s * 2 ** max(0, attempt - 1)))


class WebhookService:
    """Rules: only the two documented events; a delivery is written to the outbox in the
    transaction of its event and sent later by the worker, so a slow or dead receiver
    never slows or fails the request that caused it; failed deliveries are retried with
    exponential backoff up to ``MAX_ATTEMPTS``, each attempt logged."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        sender: WebhookSender,
        clock: Clock,
        ids: IdGenerator,
        retry_base_s: float = 5.0,
    ) -> None:
        self._uow = uow
        self._sender = sender
        self._clock = clock
        self._ids = ids
        self._retry_base_s = retry_base_s

    async def create(
        self, actor: AdminPrincipal, *, organization_id: OrganizationId, url: str, events: list[str]
    ) -> Webhook:
        ensure_can_write(actor)
        if not url.startswith(("https://", "http://")) or len(url) > 2000:
            raise InvalidValueError("url must be an http(s) URL")
        unknown = set(events) - EVENTS
        if not events or unknown:
            raise InvalidValueError(f"events must be among {sorted(EVENTS)}")
        webhook = Webhook(
            id=self._ids.new_id(),
            organization_id=organization_id,
            url=url,
            events=tuple(sorted(set(events))),
            secret="whsec_" + secrets.token_urlsafe(32),
            created_at=self._clock.now(),
        )
        async with self._uow() as uow:
            await visible_organization(uow, actor, organization_id)
            await uow.webhooks.add(webhook)
            await uow.audit.add(
                at=webhook.created_at,
                actor_id=actor.user_id,
                actor_email=actor.email,
                action="webhook.create",
                target_type="webhook",
                target_id=str(webhook.id),
                organization_id=organization_id,
                before=None,
                after={"url": url, "events": list(webhook.events)},
            )
            await uow.commit()
        return webhook

    async def deliver_due(self, *, limit: int = 50) -> int:
        """One pass of the worker: send what is due; returns how many were attempted."""
        now = self._clock.now()
        async with self._uow() as uow:
            due = await uow.webhooks.claim_due(now, limit, lease_until=now + LEASE)
            await uow.commit()
        # Sent side by side: one slow receiver costs the batch its own timeout, not the sum.
        await asyncio.gather(*(self._attempt(delivery) for delivery in due))
        return len(due)

    async def _attempt(self, delivery: WebhookDelivery) -> None:
        body = msgspec.json.encode({"event": delivery.event, "delivery_id": str(delivery.id), "data": delivery.payload})
        timestamp = str(int(self._clock.now().timestamp()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(delivery.secret, timestamp, body),
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
                retry = now + backoff(attempts, self._retry_base_s) if attempts < MAX_ATTEMPTS else None
                error = response.error or f"HTTP {response.status_code}"
                await uow.webhooks.mark_failed(
                    delivery.id, at=now, status_code=response.status_code, error=error, next_attempt_at=retry
                )
            await uow.commit()

    async def list_deliveries(self, actor: AdminPrincipal, webhook: Webhook, limit: int = 50) -> list[WebhookDelivery]:
        ensure_sees(actor, webhook.organization_id)
        async with self._uow() as uow:
            return await uow.webhooks.deliveries(webhook.id, limit)


def event_payload(**fields: Any) -> dict[str, Any]:
    """JSON-safe payload (decimals and ids as strings)."""
    return {k: (str(v) if v is not None and not isinstance(v, int | str | bool) else v) for k, v in fields.items()}
