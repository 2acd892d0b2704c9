"""Billing holds against a hostile client, over HTTP (real Postgres, the fake provider).

Each test names a way to get output without paying that once worked: a NUL in a field
that made the record fail, a completion that released a running stream's hold, a
disconnect that recorded a call twice (or as failed), a hold placed on a finished job,
and job_based jobs abandoned or failed after doing the work.
"""

import asyncio
import json
import random
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import httpx
import psycopg
import pytest

from domain.admins import AdminRole
from domain.budgets import BudgetMode
from tests.e2e.admin_helpers import admin_token
from tests.e2e.conftest import Server, fresh_world, openai_usage
from tests.support.fake_provider import Reply
from tests.support.sse import sse_events as events

D = Decimal
CALL = {"model": "smart", "messages": [{"role": "user", "content": "Hello"}]}
# Short waits so the rules show within a test: completion waits 0.6 s for calls in flight,
# jobs expire after 1 s idle, a call's lease lasts 4 s (streams renew it every 1.3 s); a
# failing record retries for about 2 s, well within the lease.
LEASE_S = 4.0
WORLD_ENV = {"COMPLETION_WAIT_S": "0.6", "JOB_TTL_S": "1", "PROVIDER_TIMEOUT_S": "5", "CALL_LEASE_S": str(LEASE_S)}


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> AsyncIterator[Server]:
    data_dir = tmp_path_factory.mktemp("billing")
    async with fresh_world(postgres_server_url, data_dir, "saasllm_billing", **WORLD_ENV) as server:
        yield server


async def ledger(server: Server, team_id: object) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The team's credits and every ledger entry; asserts the ledger adds up to ``remaining``."""
    async with server.client() as http:
        token = await admin_token(server, AdminRole.VIEWER)
        http.headers["Authorization"] = f"Bearer {token}"
        credits = (await http.get(f"/api/teams/{team_id}/credits")).json()
        entries: list[dict[str, Any]] = []
        cursor = None
        while True:
            params = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = (await http.get(f"/api/teams/{team_id}/credits/transactions", params=params)).json()
            entries += page["items"]
            cursor = page["next_cursor"]
            if not cursor:
                break
    assert sum(D(e["amount"]) for e in entries) == D(credits["remaining"])
    return credits, entries


async def new_job(http: httpx.AsyncClient) -> dict[str, Any]:
    """A fresh ``doc`` job of the client's team."""
    job: dict[str, Any] = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
    return job


@asynccontextmanager
async def streamed_on_a_new_job(http: httpx.AsyncClient) -> AsyncIterator[tuple[dict[str, Any], httpx.Response]]:
    """A fresh ``doc`` job and, open while in the block, its streamed call of CALL."""
    job = await new_job(http)
    async with http.stream("POST", f"/api/jobs/{job['job_id']}/llm-call-stream", json=CALL) as stream:
        yield job, stream


async def credits_held(http: httpx.AsyncClient, team_id: object) -> Decimal:
    """What the team holds right now, as its client sees it."""
    return D((await http.get(f"/api/teams/{team_id}/credits")).json()["held"])


async def settled(http: httpx.AsyncClient, job_id: str, *, calls: int, timeout_s: float = 10) -> dict[str, Any]:
    """The job once it shows ``calls`` calls and is finished (or the last view at the timeout)."""
    detail: dict[str, Any] = {}
    for _ in range(int(timeout_s / 0.05)):
        detail = (await http.get(f"/api/jobs/{job_id}")).json()
        if len(detail["calls"]) >= calls and detail["status"] not in ("pending", "in_progress"):
            break
        await asyncio.sleep(0.05)
    return detail


async def test_nul_in_purpose_is_refused_before_any_hold_or_provider_call(world: Server) -> None:
    team, key = await world.team(BudgetMode.CONSUMPTION_USD)
    async with world.client(key) as http:
        job = await new_job(http)
        before_upstream = len(world.upstream.received)
        for path in ("llm-call", "llm-call-stream"):
            for purpose in ("\u0000", "a\ud800b"):
                body = json.dumps({**CALL, "purpose": purpose}).encode()
                response = await http.post(
                    f"/api/jobs/{job['job_id']}/{path}", content=body, headers={"content-type": "application/json"}
                )
                # a lone surrogate may already be refused as malformed JSON (400)
                assert response.status_code in (422 if purpose == "\u0000" else 400, 422), response.text
                assert response.headers["content-type"].startswith("application/problem+json")
                assert response.json()["code"] == "invalid_request"
        detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
    assert len(world.upstream.received) == before_upstream  # the provider was never called
    assert detail["calls"] == [] and detail["status"] == "pending"
    credits, entries = await ledger(world, team.id)
    assert credits["held"] == "0" and [e["type"] for e in entries] == ["allocation"]


async def test_nul_in_job_fields_is_refused_with_422_not_500(world: Server) -> None:
    _, key = await world.team(BudgetMode.CONSUMPTION_USD)
    bodies = [
        {"job_type": "a\u0000b"},
        {"job_type": "doc", "external_id": "\u0000"},
        {"job_type": "doc", "metadata": {"k": "v\u0000"}},
        {"job_type": "doc", "metadata": {"k\u0000": 1}},
        {"job_type": "doc", "metadata": {"deep": [{"x": "\ud800"}]}},
    ]
    async with world.client(key) as http:
        for body in bodies:
            response = await http.post(
                "/api/jobs/create", content=json.dumps(body).encode(), headers={"content-type": "application/json"}
            )
            assert response.status_code in (400, 422), (body, response.text)
            assert response.json()["code"] == "invalid_request"
        job = await new_job(http)
        patch = await http.patch(
            f"/api/jobs/{job['job_id']}/metadata",
            content=json.dumps({"metadata": {"x": "\u0000"}}).encode(),
            headers={"content-type": "application/json"},
        )
        assert patch.status_code == 422, patch.text


async def test_metadata_is_bounded_also_through_merges(world: Server) -> None:
    _, key = await world.team(BudgetMode.CONSUMPTION_USD)
    async with world.client(key) as http:
        too_many = await http.post(
            "/api/jobs/create", json={"job_type": "doc", "metadata": {str(i): i for i in range(65)}}
        )
        assert too_many.status_code == 422
        too_big = await http.post("/api/jobs/create", json={"job_type": "doc", "metadata": {"x": "y" * 17_000}})
        assert too_big.status_code == 413 and too_big.json()["code"] == "payload_too_large"
        job = (await http.post("/api/jobs/create", json={"job_type": "doc", "metadata": {"a": "y" * 9_000}})).json()
        merged = await http.patch(f"/api/jobs/{job['job_id']}/metadata", json={"metadata": {"b": "z" * 9_000}})
        assert merged.status_code == 413  # each part fits, the merge does not
        removed = await http.patch(f"/api/jobs/{job['job_id']}/metadata", json={"metadata": {"a": None, "c": 1}})
        assert removed.status_code == 200 and removed.json()["metadata"] == {"c": 1}
        done = await http.post(f"/api/jobs/{job['job_id']}/complete", json={"metadata": {"c": None, "d": 2}})
        assert done.status_code == 200
        detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
        assert detail["metadata"] == {"d": 2}  # completion merges like PATCH: null removes


async def test_completing_a_job_never_releases_a_running_streams_hold(world: Server) -> None:
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, credits=D(10))
    # A stream that outlives the completion's wait (0.6 s): 12 chunks 0.1 s apart.
    world.upstream.push(Reply(chunks=("tok ",) * 12, chunk_delay_s=0.1, usage=openai_usage(20, 12)))
    async with world.client(key) as http:
        async with streamed_on_a_new_job(http) as (job, stream):
            chunks = aiter(stream.aiter_text())
            text = await anext(chunks)
            held = await credits_held(http, team.id)
            assert held > 0
            completing = await http.post(f"/api/jobs/{job['job_id']}/complete", json={})
            assert completing.status_code == 409, completing.text
            assert completing.json()["code"] == "calls_in_flight"
            # still held, so it cannot be spent elsewhere; and the job takes no new call
            assert await credits_held(http, team.id) == held
            refused = await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
            assert refused.status_code == 409 and refused.json()["code"] == "job_not_active"
            async for piece in chunks:
                text += piece
        kinds = [kind for kind, _ in events(text)]
        assert kinds[0] == "start" and kinds[-1] == "done"
        final = await http.post(f"/api/jobs/{job['job_id']}/complete", json={})
        assert final.status_code == 200, final.text
        body = final.json()
        assert body["costs"]["total_calls"] == 1 and body["costs"]["input_tokens"] == 20
        again = await http.post(f"/api/jobs/{job['job_id']}/complete", json={"status": "failed"})
        assert again.json() == body  # idempotent: the first completion decided
    credits, entries = await ledger(world, team.id)
    assert credits["held"] == "0"
    debit = [e for e in entries if e["type"] == "debit"]
    assert len(debit) == 1 and D(credits["used"]) == -D(debit[0]["amount"]) == D(body["credits_deducted"]) > 0


async def test_completion_waits_for_a_short_call_in_flight_and_counts_it(world: Server) -> None:
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, credits=D(10))
    world.upstream.push(Reply(chunks=("a", "b", "c"), chunk_delay_s=0.1, usage=openai_usage(5, 3)))
    async with world.client(key) as http:
        job = await new_job(http)
        call = asyncio.create_task(http.post(f"/api/jobs/{job['job_id']}/llm-call-stream", json=CALL))
        for _ in range(100):
            if await credits_held(http, team.id) > 0:
                break
            await asyncio.sleep(0.01)
        done = await http.post(f"/api/jobs/{job['job_id']}/complete", json={})
        assert done.status_code == 200, done.text
        assert done.json()["costs"]["total_calls"] == 1  # it waited for the call
        assert (await call).status_code == 200
    credits, _ = await ledger(world, team.id)
    assert credits["held"] == "0" and D(credits["used"]) == D(done.json()["credits_deducted"])


async def test_calls_racing_a_completion_are_either_refused_or_counted(world: Server) -> None:
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, credits=D(10))
    world.upstream.default = Reply(chunks=("x",), usage=openai_usage(4, 2), delay_s=0.02)
    try:
        async with world.client(key) as http:
            job = await new_job(http)
            url = f"/api/jobs/{job['job_id']}"

            async def complete() -> httpx.Response:
                await asyncio.sleep(0.03)
                return await http.post(f"{url}/complete", json={})

            results = await asyncio.gather(*(http.post(f"{url}/llm-call", json=CALL) for _ in range(20)), complete())
            calls, completion = results[:-1], results[-1]
            while completion.status_code == 409:  # calls_in_flight: retry until they settled
                completion = await http.post(f"{url}/complete", json={})
            assert completion.status_code == 200, completion.text
            ok = [r for r in calls if r.status_code == 200]
            assert all(r.status_code == 409 and r.json()["code"] == "job_not_active" for r in calls if r not in ok)
            detail = (await http.get(url)).json()
        assert completion.json()["costs"]["total_calls"] == len(ok) == len(detail["calls"])
        assert {c["id"] for c in detail["calls"]} == {r.json()["call_id"] for r in ok}
    finally:
        world.upstream.default = Reply()
    credits, entries = await ledger(world, team.id)
    assert credits["held"] == "0"
    holds = [e for e in entries if e["type"] == "hold"]
    assert len(holds) == len(ok)  # no hold was ever placed on the finished job


async def test_aborted_streams_record_each_call_once_with_the_providers_usage(world: Server) -> None:
    """Clients that leave at random moments (before, during and right after the end of the
    stream): every call is recorded exactly once, every one-call job is finished, and a call
    whose stream had ended is recorded with the provider's own usage."""
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, credits=D(1000))
    world.upstream.default = Reply(chunks=("a", "b", "c", "d"), usage=openai_usage(24, 4))
    rng = random.Random(7)
    saw_done: set[str] = set()
    job_ids: list[str] = []

    async def one(http: httpx.AsyncClient, i: int) -> None:
        body = {**CALL, "job_type": "doc"}
        leave_after = rng.randint(1, 7)
        async with http.stream("POST", "/api/jobs/create-and-call-stream", json=body) as response:
            assert response.status_code == 200
            text = ""
            async for piece in response.aiter_text():
                text += piece
                if text.count("\n\n") >= leave_after:
                    break
        seen = events(text[: text.rfind("\n\n") + 2]) if "\n\n" in text else []
        for kind, data in seen:
            if kind == "start":
                job_ids.append(str(data["job_id"]))
            if kind == "done":
                saw_done.add(str(data["call_id"]))

    try:
        async with world.client(key) as http:
            for batch in range(4):
                await asyncio.gather(*(one(http, batch * 10 + i) for i in range(10)))
            details = [await settled(http, job_id, calls=1) for job_id in job_ids]
    finally:
        world.upstream.default = Reply()
    assert len(job_ids) == 40
    for detail in details:
        assert detail["status"] in ("completed", "failed"), detail["status"]
        (call,) = detail["calls"]  # exactly one record
        if call["id"] in saw_done:
            assert call["status"] == "succeeded" and call["usage_estimated"] is False
            assert call["usage"]["input_tokens"] == 24 and call["usage"]["output_tokens"] == 4
            assert detail["status"] == "completed"
    credits, entries = await ledger(world, team.id)
    assert credits["held"] == "0"
    keys = [e["idempotency_key"] for e in entries]
    assert len(keys) == len(set(keys))


async def test_parallel_aborted_llm_call_streams_each_record_once(world: Server) -> None:
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, credits=D(1000))
    world.upstream.default = Reply(chunks=("a", "b", "c"), usage=openai_usage(10, 3))
    rng = random.Random(11)
    try:
        async with world.client(key) as http:
            job = await new_job(http)
            url = f"/api/jobs/{job['job_id']}/llm-call-stream"

            async def client(n: int) -> int:
                done = 0
                for _ in range(n):
                    leave_after = rng.randint(1, 6)
                    async with http.stream("POST", url, json=CALL) as response:
                        text = ""
                        async for piece in response.aiter_text():
                            text += piece
                            if text.count("\n\n") >= leave_after:
                                break
                    done += "event: done" in text
                return done

            finished = sum(await asyncio.gather(*(client(25) for _ in range(4))))
            detail: dict[str, Any] = {}
            for _ in range(100):
                detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
                if len(detail["calls"]) == 100:
                    break
                await asyncio.sleep(0.05)
    finally:
        world.upstream.default = Reply()
    assert len(detail["calls"]) == 100
    succeeded = [c for c in detail["calls"] if c["status"] == "succeeded"]
    assert len(succeeded) >= finished
    assert all(c["usage"]["input_tokens"] == 10 and not c["usage_estimated"] for c in succeeded)
    credits, _ = await ledger(world, team.id)
    assert credits["held"] == "0"


async def test_job_based_limits_what_one_job_can_consume(world: Server) -> None:
    team, key = await world.team(BudgetMode.JOB_BASED, credits=D(5))
    token = await admin_token(world, AdminRole.ADMIN)
    async with world.client(token) as admin:
        changed = await admin.put(f"/api/teams/{team.id}", json={"max_calls_per_job": 2})
        assert changed.status_code == 200 and changed.json()["max_calls_per_job"] == 2
    await asyncio.sleep(1.05)  # the team's cached settings live at most a second
    async with world.client(key) as http:
        job = await new_job(http)
        for _ in range(2):
            assert (await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)).status_code == 200
        third = await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
        assert third.status_code == 409 and third.json()["code"] == "job_call_limit"
        detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
        assert len(detail["calls"]) == 2


async def test_job_based_job_abandoned_after_a_successful_call_is_charged(world: Server) -> None:
    team, key = await world.team(BudgetMode.JOB_BASED, credits=D(5))
    async with world.client(key) as http:
        worked = await new_job(http)
        assert (await http.post(f"/api/jobs/{worked['job_id']}/llm-call", json=CALL)).status_code == 200
        idle = await new_job(http)
        await asyncio.sleep(1.1)  # JOB_TTL_S=1: both are idle past the TTL
        assert await world.services.jobs.expire_stale_jobs() >= 2
        first = (await http.get(f"/api/jobs/{worked['job_id']}")).json()
        second = (await http.get(f"/api/jobs/{idle['job_id']}")).json()
    assert first["status"] == second["status"] == "expired"
    assert first["credits_deducted"] == "1"  # abandoning a job that did work is not failing it
    assert second["credits_deducted"] == "0"
    credits, _ = await ledger(world, team.id)
    assert (credits["used"], credits["held"], credits["remaining"]) == ("1", "0", "4")


async def test_a_busy_job_does_not_expire_mid_call(world: Server) -> None:
    """Expiry counts from the last activity: a stream running past the TTL keeps its job."""
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, credits=D(10))
    world.upstream.push(Reply(chunks=("t",) * 15, chunk_delay_s=0.1, usage=openai_usage(5, 15)))
    async with world.client(key) as http:
        async with streamed_on_a_new_job(http) as (job, stream):
            text = ""
            async for piece in stream.aiter_text():
                text += piece
                if text.count("event: delta") == 12:  # 1.2 s in: past the TTL since creation
                    assert await world.services.jobs.expire_stale_jobs() == 0
                    held = await credits_held(http, team.id)
                    assert held > 0
        assert events(text)[-1][0] == "done"
        detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
        assert detail["status"] == "in_progress" and detail["calls"][0]["status"] == "succeeded"


@pytest.mark.parametrize("charge", [False, True])
async def test_charge_failed_jobs_charges_a_failed_job_that_did_work(world: Server, charge: bool) -> None:
    team, key = await world.team(BudgetMode.JOB_BASED, credits=D(5))
    token = await admin_token(world, AdminRole.ADMIN)
    async with world.client(token) as admin:
        assert (await admin.put(f"/api/teams/{team.id}", json={"charge_failed_jobs": charge})).status_code == 200
    await asyncio.sleep(1.05)
    async with world.client(key) as http:
        job = await new_job(http)
        assert (await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)).status_code == 200
        done = await http.post(f"/api/jobs/{job['job_id']}/complete", json={"status": "failed"})
        untouched = await new_job(http)
        nothing = await http.post(f"/api/jobs/{untouched['job_id']}/complete", json={"status": "failed"})
    assert done.json()["credits_deducted"] == ("1" if charge else "0")
    assert nothing.json()["credits_deducted"] == "0"  # a failed job that made no call costs nothing
    async with world.client(token) as admin:
        shown = (await admin.get(f"/api/teams/{team.id}")).json()
    assert shown["charge_failed_jobs"] is charge
    assert shown["jobs"]["finished"] == 2 and shown["jobs"]["failed"] == 2
    assert shown["jobs"]["failed_ratio"] == "1"


@pytest.mark.parametrize("path", ["llm-call", "llm-call-stream", "create-and-call-stream"])
async def test_a_call_whose_record_cannot_be_written_is_captured_not_free(world: Server, path: str) -> None:
    """The provider answered but the database refuses the record (it stands for a crash
    between hold and settle): a plain call answers 503, not the answer; a stream ends with
    an error event; the hold stays until its lease expires, then it is captured as an
    unsettled debit, listed on the call."""
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, credits=D(10))
    url = world.settings.database_url or ""
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute(
            """
            CREATE FUNCTION refuse_calls() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'database gone' USING ERRCODE = '08006'; END; $$;
            CREATE TRIGGER refuse_calls BEFORE INSERT ON llm_calls FOR EACH ROW EXECUTE FUNCTION refuse_calls();
            """
        )
    try:
        async with world.client(key) as http:
            if path == "create-and-call-stream":
                response = await http.post("/api/jobs/create-and-call-stream", json={**CALL, "job_type": "doc"})
                job = {"job_id": events(response.text)[0][1]["job_id"]}
            else:
                job = await new_job(http)
                response = await http.post(f"/api/jobs/{job['job_id']}/{path}", json=CALL)
            if path == "llm-call":
                assert response.status_code == 503, response.text
                assert "Hello" not in response.text and "world" not in response.text  # no output unpaid
            else:
                last, data = events(response.text)[-1]
                assert (last, data["code"]) == ("error", "unavailable"), response.text
            held = await credits_held(http, team.id)
            assert held > 0
    finally:
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await conn.execute("DROP TRIGGER refuse_calls ON llm_calls; DROP FUNCTION refuse_calls()")
    assert await world.services.jobs.capture_unsettled_calls() == 0  # the lease is still live
    await asyncio.sleep(LEASE_S + 0.1)
    await world.services.jobs.expire_stale_jobs()  # captures, and finishes a closing one-call job
    async with world.client(key) as http:
        detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
    (call,) = detail["calls"]
    assert call["unsettled"] is True and D(call["credits"]) == held
    if path == "create-and-call-stream":
        assert detail["status"] == "failed"
    credits, entries = await ledger(world, team.id)
    assert credits["held"] == "0" and D(credits["used"]) == held
    assert [e["reason"] for e in entries if e["type"] == "debit"] == ["unsettled"]


async def test_the_database_never_holds_an_open_lease_after_the_calls_end(world: Server) -> None:
    """After every scenario above, no call is left in flight: each hold was settled."""
    async with await psycopg.AsyncConnection.connect(world.settings.database_url or "") as conn:
        cursor = await conn.execute("SELECT count(*) FROM call_leases")
        row = await cursor.fetchone()
    assert row is not None and row[0] == 0
