"""Webhook outbox delivery over real HTTP: signed, delivered once, retried after a 500."""

import asyncio
import hashlib
import hmac
import socket
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

import pytest
import uvicorn

from adapters.memory.store import MemoryStore, MemoryUnitOfWork
from adapters.memory.system import FakeClock, SequentialIds
from adapters.webhooks import HttpWebhookSender
from application.errors import NotFoundError
from application.services.webhooks import MAX_ATTEMPTS, SIGNATURE_HEADER, WebhookService
from domain.admins import AdminPrincipal, AdminRole, ForbiddenError
from domain.ids import AdminUserId, OrganizationId
from domain.organizations import Organization


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
