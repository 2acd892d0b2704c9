"""Managing webhooks over HTTP: listed without secrets, rotated (the new secret signs the
next delivery), deactivated (nothing sent until active again), deleted, each write audited."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.e2e.admin_helpers import setup_owner
from tests.e2e.conftest import Server
from tests.e2e.test_webhooks import SECRETS, Receiver, finish_a_job, signature_is_valid, subscribe, team_in
from tests.support.listening import listening


@pytest.fixture(scope="module")
async def owner(server: Server) -> str:
    return await setup_owner(server)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    r = Receiver()
    async with listening(r.handle) as r.url:
        yield r


async def the_webhook(http: httpx.AsyncClient, org_id: str) -> dict[str, Any]:
    listed = await http.get("/api/webhooks", params={"organization_id": org_id})
    assert listed.status_code == 200, listed.text
    [hook] = listed.json()["items"]
    return dict(hook)


async def test_webhooks_are_listed_without_their_secret(server: Server, owner: str, receiver: Receiver) -> None:
    org_id = await subscribe(server, owner, receiver.url, ["job.completed"])
    async with server.client(owner) as http:
        hook = await the_webhook(http, org_id)
        everything = await http.get("/api/webhooks")
    assert (hook["url"], hook["events"], hook["is_active"]) == (receiver.url, ["job.completed"], True)
    assert "secret" not in hook
    assert hook["id"] in [h["id"] for h in everything.json()["items"]]
    assert SECRETS[org_id] not in everything.text and '"secret"' not in everything.text


async def test_a_rotated_secret_is_shown_once_and_signs_the_next_delivery(
    server: Server, owner: str, receiver: Receiver
) -> None:
    org_id = await subscribe(server, owner, receiver.url, ["job.completed"])
    old = SECRETS[org_id]
    async with server.client(owner) as http:
        hook = await the_webhook(http, org_id)
        rotated = await http.post(f"/api/webhooks/{hook['id']}/rotate-secret")
        assert rotated.status_code == 200, rotated.text
        new = rotated.json()["secret"]
        assert new.startswith("whsec_") and new != old
        assert new not in (await http.get("/api/webhooks")).text
        audit = (await http.get("/api/audit-log")).text
    assert new not in audit and old not in audit
    _, key = await team_in(server, owner, org_id, credits="5")
    await finish_a_job(server, key)
    [delivery] = await receiver.wait_for(1)
    assert signature_is_valid(new, delivery) and not signature_is_valid(old, delivery)


async def test_a_deactivated_webhook_receives_nothing_until_active_again(
    server: Server, owner: str, receiver: Receiver
) -> None:
    org_id = await subscribe(server, owner, receiver.url, ["job.completed"])
    _, key = await team_in(server, owner, org_id, credits="5")
    async with server.client(owner) as http:
        hook = await the_webhook(http, org_id)
        paused = await http.put(f"/api/webhooks/{hook['id']}", json={"is_active": False})
        assert paused.status_code == 200 and paused.json()["is_active"] is False
        job_id, _ = await finish_a_job(server, key)  # queued only for active webhooks: nothing
        await asyncio.sleep(0.3)  # several worker passes
        assert receiver.received == []
        assert (await http.put(f"/api/webhooks/{hook['id']}", json={"is_active": True})).status_code == 200
    second_job, _ = await finish_a_job(server, key)
    [delivery] = await receiver.wait_for(1)
    assert delivery.json["data"]["job_id"] == second_job != job_id


async def test_deleting_a_webhook_stops_its_deliveries_and_is_audited(
    server: Server, owner: str, receiver: Receiver
) -> None:
    receiver.plan = [500]  # the first attempt fails: a retry is pending when the webhook goes
    org_id = await subscribe(server, owner, receiver.url, ["job.completed"])
    _, key = await team_in(server, owner, org_id, credits="5")
    await finish_a_job(server, key)
    await receiver.wait_for(1)
    async with server.client(owner) as http:
        hook = await the_webhook(http, org_id)
        assert (await http.delete(f"/api/webhooks/{hook['id']}")).status_code == 204
        await asyncio.sleep(0.5)  # past the retry's backoff (0.2 s in these tests)
        assert len(receiver.received) == 1
        assert (await http.get("/api/webhooks", params={"organization_id": org_id})).json()["items"] == []
        for again in (
            await http.delete(f"/api/webhooks/{hook['id']}"),
            await http.post(f"/api/webhooks/{hook['id']}/rotate-secret"),
            await http.put(f"/api/webhooks/{hook['id']}", json={"is_active": True}),
        ):
            assert again.status_code == 404 and again.json()["code"] == "not_found"
        entries = (await http.get("/api/audit-log", params={"limit": 200})).json()["items"]
    mine = [e["action"] for e in entries if e["target_id"] == hook["id"]]
    assert mine == ["webhook.delete", "webhook.create"]  # newest first
    assert SECRETS[org_id] not in str(entries)
