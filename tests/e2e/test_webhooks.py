"""Webhooks over the real stack: events leave the outbox signed, once, retried after a
failure, and a receiver that hangs never delays the request that caused the event."""

import asyncio
import contextlib
import hashlib
import hmac
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import msgspec
import pytest

from application.services.webhooks import SIGNATURE_HEADER
from tests.e2e.admin_helpers import create_team, setup_owner
from tests.e2e.conftest import Server
from tests.support.listening import listening


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict[str, Any]:
        decoded: dict[str, Any] = msgspec.json.decode(self.body)
        return decoded


@dataclass
class Receiver:
    """A tiny HTTP receiver answering each request with the next planned behaviour
    (a status code, or "hang": never answer) and then 200."""

    plan: list[int | str] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    url: str = ""
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            self.received.append(Received(headers=headers, body=body, at=time.monotonic()))
            self.arrived.set()
            behaviour = self.plan.pop(0) if self.plan else 200
            if behaviour == "hang":
                await asyncio.sleep(3600)
            writer.write(f"HTTP/1.1 {behaviour} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".encode())
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> list[Received]:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                while len(self.received) < count:
                    self.arrived.clear()
                    await self.arrived.wait()
        return self.received


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    async with listening(r.handle) as r.url:
        yield r


@pytest.fixture(scope="module")
async def owner(server: Server) -> str:
    return await setup_owner(server)


async def subscribe(server: Server, owner: str, url: str, events: list[str]) -> str:
    """A new organization subscribed at ``url``; returns the organization id and stores the secret."""
    async with server.client(owner) as http:
        org = (await http.post("/api/organizations/create", json={"name": f"Hooked {time.monotonic_ns()}"})).json()
        hook = await http.post(
            "/api/webhooks/create", json={"organization_id": org["id"], "url": url, "events": events}
        )
        assert hook.status_code == 201, hook.text
        SECRETS[org["id"]] = hook.json()["secret"]
    return str(org["id"])


SECRETS: dict[str, str] = {}


async def team_in(server: Server, owner: str, org_id: str, credits: str) -> tuple[str, str]:
    async with server.client(owner) as http:
        created = await create_team(http, org_id, "hooked", credits=credits)
        return created["team"]["id"], created["api_key"]


async def finish_a_job(server: Server, key: str) -> tuple[str, float]:
    """Create and complete a job over HTTP; the job id and the completion's latency (s)."""
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        started = time.monotonic()
        done = await http.post(f"/api/jobs/{job['job_id']}/complete", json={"status": "completed"})
        elapsed = time.monotonic() - started
        assert done.status_code == 200, done.text
    return str(job["job_id"]), elapsed


def signature_is_valid(secret: str, received: Received) -> bool:
    parts = dict(p.split("=", 1) for p in received.headers[SIGNATURE_HEADER.lower()].split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + received.body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"]) and abs(time.time() - int(parts["t"])) < 60


async def test_job_completed_and_credits_low_are_delivered_once_and_signed(
    server: Server, owner: str, receiver: Receiver
) -> None:
    org_id = await subscribe(server, owner, receiver.url, ["job.completed", "team.credits_low"])
    team_id, key = await team_in(server, owner, org_id, credits="2")
    first_job, _ = await finish_a_job(server, key)  # 1 of 2 left: not low
    (one,) = await receiver.wait_for(1)
    assert one.json["event"] == "job.completed" and one.json["data"]["job_id"] == first_job
    assert one.json["data"]["team_id"] == team_id and one.json["data"]["credits_remaining"] == "1"
    assert signature_is_valid(SECRETS[org_id], one)
    assert not signature_is_valid("whsec_someone-else", one)

    await finish_a_job(server, key)  # 0 left: below 10 % of 2
    received = await receiver.wait_for(3)
    await asyncio.sleep(0.3)  # several worker passes later, nothing was sent twice
    assert sorted(r.json["event"] for r in receiver.received) == ["job.completed", "job.completed", "team.credits_low"]
    low = next(r for r in received if r.json["event"] == "team.credits_low")
    assert low.json["data"]["remaining"] == "0" and low.headers["x-webhook-event"] == "team.credits_low"
    assert all(signature_is_valid(SECRETS[org_id], r) for r in receiver.received)
    assert len({r.headers["x-webhook-delivery"] for r in receiver.received}) == 3


async def test_a_failed_delivery_is_retried_with_backoff(server: Server, owner: str, receiver: Receiver) -> None:
    receiver.plan = [500, 503]
    org_id = await subscribe(server, owner, receiver.url, ["job.completed"])
    _, key = await team_in(server, owner, org_id, credits="5")
    job_id, _ = await finish_a_job(server, key)
    attempts = await receiver.wait_for(3)
    await asyncio.sleep(0.3)
    assert len(receiver.received) == 3  # 500, 503, then delivered: no more after success
    assert {r.headers["x-webhook-delivery"] for r in attempts} == {attempts[0].headers["x-webhook-delivery"]}
    assert all(r.json["data"]["job_id"] == job_id for r in attempts)
    # Backoff (base 0.2 s in these tests): 0.2 s before the 2nd attempt, 0.4 s before the 3rd.
    assert attempts[1].at - attempts[0].at >= 0.18
    assert attempts[2].at - attempts[1].at >= 0.38


async def test_a_hanging_receiver_does_not_delay_job_completion(server: Server, owner: str, receiver: Receiver) -> None:
    receiver.plan = ["hang", "hang", "hang"]
    org_id = await subscribe(server, owner, receiver.url, ["job.completed"])
    _, key = await team_in(server, owner, org_id, credits="5")
    _, first = await finish_a_job(server, key)
    await receiver.wait_for(1)  # the worker is now stuck on the receiver (up to its 0.5 s timeout)
    _, second = await finish_a_job(server, key)
    assert receiver.received, "the event was sent"
    # The completion answers from the database alone; a send would take the whole timeout.
    # The second one ran while the worker was stuck on the receiver: that is the proof. The
    # first (the team's first completion: cold statements, a busy CI machine) only has to
    # beat one send's timeout.
    timeout_s = float(server.settings.webhook_timeout_s)
    assert timeout_s >= 0.5
    assert second < 0.25 and first < timeout_s, (first, second)
