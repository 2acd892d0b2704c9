"""Webhook outbox delivery over real HTTP: signed, delivered once, retried after a 500."""

import asyncio
import hashlib
import hmac
import socket
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import msgspec
import pytest
import uvicorn

from adapters.memory.store import MemoryStore
from adapters.memory.system import FakeClock, SequentialIds
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.vault.fernet import FernetVault
from adapters.webhooks import HttpWebhookSender
from application.errors import NotFoundError
from application.services.webhooks import MAX_ATTEMPTS, SIGNATURE_HEADER, WebhookChanges, WebhookService
from domain.admins import AdminPrincipal, AdminRole, ForbiddenError
from domain.ids import AdminUserId, OrganizationId
from domain.organizations import Organization
from domain.outbound import AddressPolicy


class Receiver:
    """A tiny ASGI app: answers the scripted statuses in turn, records what it got."""

    def __init__(self) -> None:
        self.statuses: list[int] = []
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.hang = False
        self.release = asyncio.Event()

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        self.received.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
        if self.hang:
            await self.release.wait()
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture(scope="module")
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    app = Receiver()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, lifespan="off"))
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 - uvicorn offers no event to await
        await asyncio.sleep(0.01)
    yield app, f"http://127.0.0.1:{port}/hook"
    server.should_exit = True
    await task


ORG = OrganizationId(UUID(int=77))
ADMIN = AdminPrincipal(user_id=AdminUserId(UUID(int=1)), email="a@example.com", role=AdminRole.ADMIN)


async def setup(url: str, timeout_s: float = 5.0) -> tuple[WebhookService, MemoryStore, FakeClock, str]:
    store, clock = MemoryStore(), FakeClock()
    store.organizations[ORG] = Organization(id=ORG, name="Acme", slug="acme", created_at=clock.now())
    service = WebhookService(
        uow=lambda: MemoryUnitOfWork(store),
        sender=HttpWebhookSender(timeout_s=timeout_s),
        vault=FernetVault([FernetVault.generate_key()]),
        clock=clock,
        ids=SequentialIds(),
    )
    hook = await service.create(ADMIN, organization_id=ORG, url=url, events=["job.completed"])
    async with MemoryUnitOfWork(store) as uow:
        assert await uow.webhooks.enqueue(ORG, "job.completed", {"job_id": "j1"}, clock.now()) == 1
        assert await uow.webhooks.enqueue(ORG, "team.credits_low", {"team_id": "t1"}, clock.now()) == 0
        await uow.commit()
    return service, store, clock, hook.secret


async def test_delivered_once_with_a_valid_signature(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.received.clear()
    service, store, _, secret = await setup(url)
    assert await service.deliver_due() == 1
    assert await service.deliver_due() == 0
    [(headers, body)] = app.received
    timestamp, mac = (part.split("=", 1)[1] for part in headers[SIGNATURE_HEADER.lower()].split(","))
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(mac, expected)
    assert b'"job_id":"j1"' in body
    [delivery] = store.deliveries.values()
    assert delivery.status == "delivered" and delivery.attempts == 1


async def test_retried_with_backoff_after_a_500(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.received.clear()
    app.statuses = [500]
    service, store, clock, _ = await setup(url)
    await service.deliver_due()
    [delivery] = store.deliveries.values()
    assert delivery.status == "pending" and delivery.last_status_code == 500 and delivery.attempts == 1
    assert await service.deliver_due() == 0  # not yet due
    clock.advance(6)
    assert await service.deliver_due() == 1
    [delivery] = store.deliveries.values()
    assert delivery.status == "delivered" and delivery.attempts == 2
    assert len(app.received) == 2


async def test_gives_up_after_max_attempts(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.statuses = [503] * MAX_ATTEMPTS
    service, store, clock, _ = await setup(url)
    for _ in range(MAX_ATTEMPTS):
        await service.deliver_due()
        clock.advance(3600)
    [delivery] = store.deliveries.values()
    assert delivery.status == "failed" and delivery.attempts == MAX_ATTEMPTS


async def test_a_hanging_receiver_times_out_and_is_retried(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.hang = True
    try:
        service, store, _, _ = await setup(url, timeout_s=0.2)
        await asyncio.wait_for(service.deliver_due(), timeout=5)
    finally:
        app.hang = False
        app.release.set()
    [delivery] = store.deliveries.values()
    assert delivery.status == "pending" and delivery.last_error == "timed out"


async def test_viewers_and_other_organizations_cannot_create_webhooks(receiver: tuple[Receiver, str]) -> None:
    _, url = receiver
    service, _, _, _ = await setup(url)
    viewer = AdminPrincipal(user_id=AdminUserId(UUID(int=2)), email="v@example.com", role=AdminRole.VIEWER)
    with pytest.raises(ForbiddenError):
        await service.create(viewer, organization_id=ORG, url=url, events=["job.completed"])
    scoped = AdminPrincipal(
        user_id=AdminUserId(UUID(int=3)),
        email="s@example.com",
        role=AdminRole.ADMIN,
        organization_id=OrganizationId(UUID(int=5)),
    )
    with pytest.raises(NotFoundError):  # answered like an organization that does not exist
        await service.create(scoped, organization_id=ORG, url=url, events=["job.completed"])


def signed_with(secret: str, headers: dict[str, str], body: bytes) -> bool:
    timestamp, mac = (part.split("=", 1)[1] for part in headers[SIGNATURE_HEADER.lower()].split(","))
    expected = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(mac, expected)


async def test_the_secret_is_stored_encrypted_and_shown_only_when_issued(receiver: tuple[Receiver, str]) -> None:
    _, url = receiver
    service, store, _, secret = await setup(url)
    [stored] = store.webhooks.values()
    assert stored.secret_encrypted and stored.secret != secret and secret not in stored.secret
    assert service._vault.decrypt(stored.secret) == secret
    [listed] = await service.list_webhooks(ADMIN, ORG)
    assert secret not in repr(listed)


async def test_inactive_webhooks_are_not_claimed(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.received.clear()
    service, store, _, _ = await setup(url)
    [hook] = store.webhooks.values()
    await service.update(ADMIN, hook.id, WebhookChanges(is_active=False))
    assert await service.deliver_due() == 0
    assert app.received == []
    [delivery] = store.deliveries.values()
    assert delivery.status == "pending" and delivery.attempts == 0  # kept, not given up
    await service.update(ADMIN, hook.id, WebhookChanges(is_active=True))
    assert await service.deliver_due() == 1
    assert len(app.received) == 1


async def test_rotating_the_secret_signs_the_next_attempt_with_the_new_one(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.received.clear()
    app.statuses = [500]
    service, store, clock, old = await setup(url)
    await service.deliver_due()  # fails: retried later
    [hook] = store.webhooks.values()
    issued = await service.rotate_secret(ADMIN, hook.id)
    assert issued.secret != old
    clock.advance(6)
    assert await service.deliver_due() == 1
    _, (headers, body) = app.received
    assert signed_with(issued.secret, headers, body) and not signed_with(old, headers, body)
    actions = [entry.action for entry in store.audit]
    assert actions == ["webhook.create", "webhook.rotate_secret"]
    assert issued.secret not in repr(store.audit) and old not in repr(store.audit)


async def test_a_plaintext_secret_from_before_encryption_keeps_signing_and_rotation_encrypts_it(
    receiver: tuple[Receiver, str],
) -> None:
    app, url = receiver
    app.received.clear()
    service, store, clock, _ = await setup(url)
    [hook] = store.webhooks.values()
    legacy = "whsec_written_before_migration_0004"
    store.webhooks[hook.id] = msgspec.structs.replace(hook, secret=legacy, secret_encrypted=False)
    assert await service.deliver_due() == 1
    [(headers, body)] = app.received
    assert signed_with(legacy, headers, body)

    first = await service.rotate_secrets()
    assert (first.rotated, first.current, first.skipped) == (1, 0, 0)
    rotated = store.webhooks[hook.id]
    assert rotated.secret_encrypted and legacy not in rotated.secret
    assert service._vault.decrypt(rotated.secret) == legacy  # the same secret: receivers need not change
    again = await service.rotate_secrets()
    assert (again.rotated, again.current) == (0, 1)
    async with MemoryUnitOfWork(store) as uow:
        await uow.webhooks.enqueue(ORG, "job.completed", {"job_id": "j2"}, clock.now())
        await uow.commit()
    assert await service.deliver_due() == 1
    assert signed_with(legacy, *app.received[-1])


async def test_a_delivery_the_address_policy_refuses_is_given_up_at_once(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.received.clear()
    service, store, _, _ = await setup(url)
    service._sender = HttpWebhookSender(timeout_s=1.0, policy=AddressPolicy(require_https=False, allow_private=False))
    try:
        assert await service.deliver_due() == 1
    finally:
        await service._sender.aclose()  # type: ignore[attr-defined]
    [delivery] = store.deliveries.values()
    assert (delivery.status, delivery.attempts) == ("failed", 1)
    assert delivery.last_error == "refused: the endpoint resolves to a loopback address"
    assert app.received == []


async def test_deleting_a_webhook_drops_its_undelivered_events(receiver: tuple[Receiver, str]) -> None:
    app, url = receiver
    app.received.clear()
    service, store, _, _ = await setup(url)
    [hook] = store.webhooks.values()
    scoped = AdminPrincipal(
        user_id=AdminUserId(UUID(int=3)),
        email="s@example.com",
        role=AdminRole.ADMIN,
        organization_id=OrganizationId(UUID(int=5)),
    )
    for attempt in (service.delete(scoped, hook.id), service.rotate_secret(scoped, hook.id)):
        with pytest.raises(NotFoundError):  # another organization's webhook: as if it did not exist
            await attempt
    await service.delete(ADMIN, hook.id)
    assert store.webhooks == {} and store.deliveries == {}
    assert await service.deliver_due() == 0 and app.received == []
    with pytest.raises(NotFoundError):
        await service.delete(ADMIN, hook.id)
