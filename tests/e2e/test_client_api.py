"""The client API over HTTP: every endpoint, every budget mode, every error code."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal

import httpx

from domain.budgets import BudgetMode
from domain.organizations import TeamStatus
from tests.e2e.conftest import Server, openai_usage
from tests.support.fake_provider import Reply
from tests.support.sse import sse_events

D = Decimal
CALL = {"model": "smart", "messages": [{"role": "user", "content": "Hello"}]}


async def test_consumption_usd_job_flow_is_exact(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("Hi",), usage=openai_usage(1000, 500)))
    server.upstream.push(Reply(chunks=("a", "b"), usage=openai_usage(3, 7)))
    async with server.client(key) as http:
        created = await http.post("/api/jobs/create", json={"job_type": "doc", "metadata": {"doc": 123}})
        assert created.status_code == 201, created.text
        job = created.json()
        assert job["status"] == "pending" and job["team_id"] == str(team.id) and job["metadata"] == {"doc": 123}
        call = await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
        assert call.status_code == 200, call.text
        body = call.json()
        assert body["response"] == {"role": "assistant", "content": "Hi", "finish_reason": "stop"}
        assert body["usage"] == {
            "input_tokens": 1000,
            "output_tokens": 500,
            "total_tokens": 1500,
            "cached_input_tokens": 0,
            "cache_write_tokens": 0,
            "reasoning_tokens": 0,
        }
        assert body["model"] == "smart" and body["provider"] == "openai"
        streamed = await http.post(f"/api/jobs/{job['job_id']}/llm-call-stream", json=CALL)
        assert streamed.status_code == 200
        assert streamed.headers["content-type"].startswith("text/event-stream")
        events = sse_events(streamed.text)
        assert [name for name, _ in events] == ["start", "delta", "delta", "done"]
        assert events[-1][1]["usage"]["total_tokens"] == 10  # type: ignore[index]
        done = await http.post(f"/api/jobs/{job['job_id']}/complete", json={})
        assert done.status_code == 200, done.text
        result = done.json()
        assert result["costs"] == {
            "total_calls": 2,
            "successful_calls": 2,
            "failed_calls": 0,
            "input_tokens": 1003,
            "output_tokens": 507,
            "total_tokens": 1510,
            "provider_cost_usd": "0.003031",
            "customer_cost_usd": "0.006062",
            "margin_usd": "0.003031",
        }
        assert result["credits_deducted"] == "0.06062"
        assert result["credits_remaining"] == "99.93938"
        again = await http.post(f"/api/jobs/{job['job_id']}/complete")
        assert again.json()["credits_deducted"] == "0.06062"
        credits = (await http.get(f"/api/teams/{team.id}/credits")).json()
        runs_out_at = datetime.fromisoformat(credits.pop("runs_out_at"))
        assert runs_out_at > datetime.now(UTC)  # burning: at 0.06062 per 7 days, decades away
        assert credits == {
            "team_id": str(team.id),
            "budget_mode": "consumption_usd",
            "allocated": "100",
            "used": "0.06062",
            "held": "0",
            "remaining": "99.93938",
            "credits_per_usd": "10",
            "tokens_per_credit": 10000,
            "low_credit_threshold": None,
            "burn_rate_per_day": "0.00866",  # 0.06062 debited in the last 7 days, per day
        }
        ledger = (await http.get(f"/api/teams/{team.id}/credits/transactions?limit=3")).json()
        assert len(ledger["items"]) == 3 and ledger["next_cursor"]
        rest = (await http.get(f"/api/teams/{team.id}/credits/transactions?cursor={ledger['next_cursor']}")).json()
        entries = ledger["items"] + rest["items"]
        assert sum(D(e["amount"]) for e in entries) == D("99.93938")
        assert {e["type"] for e in entries} == {"allocation", "hold", "release", "debit"}
        detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
        assert detail["status"] == "completed" and len(detail["calls"]) == 2
        assert detail["costs"]["customer_cost_usd"] == "0.006062"


async def test_consumption_tokens_and_job_based_modes(server: Server) -> None:
    _, tokens_key = await server.team(BudgetMode.CONSUMPTION_TOKENS, tokens_per_credit=1000)
    server.upstream.push(Reply(usage=openai_usage(1500, 501, cached=300, reasoning=1)))
    async with server.client(tokens_key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        call = (await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)).json()
        assert call["usage"]["cached_input_tokens"] == 300 and call["usage"]["reasoning_tokens"] == 1
        done = (await http.post(f"/api/jobs/{job['job_id']}/complete")).json()
        assert done["credits_deducted"] == "2.001" and done["credits_remaining"] == "97.999"
    _, job_key = await server.team(BudgetMode.JOB_BASED, credits=D(2))
    async with server.client(job_key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
        done = (await http.post(f"/api/jobs/{job['job_id']}/complete")).json()
        assert done["credits_deducted"] == "1" and done["credits_remaining"] == "1"
        failed_job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        failed = (await http.post(f"/api/jobs/{failed_job['job_id']}/complete", json={"status": "failed"})).json()
        assert failed["status"] == "failed" and failed["credits_deducted"] == "0"
        assert failed["credits_remaining"] == "1"


async def test_external_id_is_idempotent(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http:
        first = await http.post("/api/jobs/create", json={"job_type": "doc", "external_id": "doc-1"})
        second = await http.post("/api/jobs/create", json={"job_type": "doc", "external_id": "doc-1"})
        assert first.status_code == 201 and second.status_code == 200
        assert first.json()["job_id"] == second.json()["job_id"]


async def test_create_and_call(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("ok",), usage=openai_usage(1000, 500)))
    server.upstream.push(Reply(chunks=("x", "y"), usage=openai_usage(1000, 500)))
    async with server.client(key) as http:
        one = await http.post("/api/jobs/create-and-call", json={"job_type": "quick", **CALL})
        assert one.status_code == 200, one.text
        body = one.json()
        assert body["response"]["content"] == "ok" and body["credits_deducted"] == "0.06"
        assert body["costs"]["total_calls"] == 1
        job = (await http.get(f"/api/jobs/{body['job_id']}")).json()
        assert job["status"] == "completed"
        streamed = await http.post("/api/jobs/create-and-call-stream", json={"job_type": "quick", **CALL})
        events = sse_events(streamed.text)
        assert events[0][0] == "start" and "job_id" in events[0][1]
        assert events[-1][0] == "done" and events[-1][1]["credits_deducted"] == "0.06"


async def test_metadata_and_job_listing(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http:
        ids = [(await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"] for _ in range(3)]
        patched = await http.patch(f"/api/jobs/{ids[0]}/metadata", json={"metadata": {"a": 1, "b": 2}})
        assert patched.json()["metadata"] == {"a": 1, "b": 2}
        patched = await http.patch(f"/api/jobs/{ids[0]}/metadata", json={"metadata": {"b": None, "c": 3}})
        assert patched.json()["metadata"] == {"a": 1, "c": 3}
        page = (await http.get(f"/api/teams/{team.id}/jobs?limit=2")).json()
        assert len(page["items"]) == 2 and page["next_cursor"]
        rest = (await http.get(f"/api/teams/{team.id}/jobs?limit=2&cursor={page['next_cursor']}")).json()
        listed = [j["job_id"] for j in page["items"] + rest["items"]]
        assert sorted(listed) == sorted(ids) and rest["next_cursor"] is None
        pending = (await http.get(f"/api/teams/{team.id}/jobs?status=completed")).json()
        assert pending["items"] == []


async def test_usage_report(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(usage=openai_usage(1000, 500)))
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
        await http.post(f"/api/jobs/{job['job_id']}/complete")
        usage = await http.get(f"/api/teams/{team.id}/usage")
        assert usage.status_code == 200, usage.text
        body = usage.json()
        assert body["jobs"]["completed"] == 1 and body["calls"] == 1
        assert body["customer_cost_usd"] == "0.006" and body["provider_cost_usd"] == "0.003"
        assert body["by_model"] == [{"model": "smart", "calls": 1, "tokens": 1500, "customer_cost_usd": "0.006"}]
        assert body["credits"]["used"] == "0.06"
        bad = await http.get(f"/api/teams/{team.id}/usage?from=2026-02-01&to=2026-01-01")
        assert bad.status_code == 422


def problem(response: httpx.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == code


async def test_every_client_error_code(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD, credits=D("0.01"))
    other_team, other_key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http, server.client(other_key) as other:
        problem(
            await server.client("sk-job-wrong").post("/api/jobs/create", json={"job_type": "x"}), 401, "unauthorized"
        )
        problem(await server.client().get(f"/api/teams/{team.id}/credits"), 401, "unauthorized")
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        foreign = (await other.post("/api/jobs/create", json={"job_type": "doc"})).json()
        problem(await http.get(f"/api/jobs/{foreign['job_id']}"), 404, "not_found")
        problem(await http.get(f"/api/teams/{other_team.id}/credits"), 404, "not_found")
        problem(
            await http.post(f"/api/jobs/{job['job_id']}/llm-call", json={**CALL, "model": "premium"}),
            403,
            "model_not_allowed",
        )
        big = {**CALL, "max_tokens": 1_000_000}
        problem(await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=big), 402, "insufficient_credits")
        problem(
            await http.post("/api/jobs/create", content=b'{"job_type":', headers={"content-type": "application/json"}),
            400,
            "invalid_request",
        )
        problem(await http.post("/api/jobs/create", json={"job_type": "x", "surprise": 1}), 422, "invalid_request")
        problem(await http.post("/api/jobs/create", json={}), 422, "invalid_request")
        problem(
            await http.post(f"/api/jobs/{job['job_id']}/llm-call", json={**CALL, "temperature": 9}),
            422,
            "invalid_request",
        )
        huge = {**CALL, "messages": [{"role": "user", "content": "x" * 70_000}]}
        problem(await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=huge), 413, "payload_too_large")
        for replies, status, code in [
            ([Reply(status=429, error="rate_limit", retry_after="7")], 429, "rate_limited"),
            ([Reply(status=500, error="server")] * 2, 502, "provider_error"),
            ([Reply(status=429, error="quota")], 502, "provider_error"),
            ([Reply(status=401, error="auth")], 502, "provider_error"),
            ([Reply(fault="reset")] * 2, 502, "provider_error"),
            ([Reply(fault="malformed")], 502, "provider_error"),
            ([Reply(fault="timeout")] * 2, 504, "provider_timeout"),
            ([Reply(status=400, error="bad_request")], 400, "invalid_request"),
        ]:
            server.upstream.reset()
            server.upstream.push(*replies)
            response = await other.post(f"/api/jobs/{foreign['job_id']}/llm-call", json=CALL)
            problem(response, status, code)
            assert server.upstream.pending == 0, "retried a non-retryable error, or not the retryable one"
            if status == 429:
                assert response.headers["retry-after"] == "7"
        await http.post(f"/api/jobs/{job['job_id']}/complete")
        problem(await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL), 409, "job_not_active")
        await server.services.organizations.set_status(team.id, TeamStatus.SUSPENDED)
        problem(await http.post("/api/jobs/create", json={"job_type": "doc"}), 403, "team_suspended")
        detail = (await other.get(f"/api/jobs/{foreign['job_id']}")).json()
        assert [c["status"] for c in detail["calls"]] == ["failed"] * 8
        assert all(c["credits"] == "0" for c in detail["calls"])


async def test_failure_after_stream_start_ends_with_error_event(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("abcd", "efgh", "ijkl"), fault="cut", fault_after=2))
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        streamed = await http.post(f"/api/jobs/{job['job_id']}/llm-call-stream", json=CALL)
        events = sse_events(streamed.text)
        assert [n for n, _ in events] == ["start", "delta", "delta", "error"]
        assert events[-1][1]["code"] == "provider_error"
        detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
        [call] = detail["calls"]
        assert call["status"] == "failed" and call["usage_estimated"] is True


async def test_client_disconnect_mid_stream_records_the_call_and_settles(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.reset()
    server.upstream.push(Reply(chunks=("abcd",) * 100, chunk_delay_s=0.02))
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        async with http.stream("POST", f"/api/jobs/{job['job_id']}/llm-call-stream", json=CALL) as response:
            received = 0
            async for _ in response.aiter_raw():
                received += 1
                if received >= 3:
                    break
        # the server notices the disconnect, cancels upstream and records the call
        for _ in range(100):
            detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
            if detail["calls"]:
                break
            await asyncio.sleep(0.05)
        [call] = detail["calls"]
        assert call["status"] == "failed" and call["usage_estimated"] is True
        assert server.upstream.disconnects >= 1  # the upstream request was cancelled too
        credits = (await http.get(f"/api/teams/{team.id}/credits")).json()
        assert credits["held"] == "0"
        assert D(credits["used"]) == D(call["credits"]) > 0


async def test_metrics_expose_calls_tokens_and_costs(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.reset()
    server.upstream.push(Reply(usage=openai_usage(1000, 500)))
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
        await http.post(f"/api/jobs/{job['job_id']}/complete")
        metrics = await http.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    # the alias as well as the provider model
    assert 'llm_calls_total{alias="smart",model="gpt-test",provider="openai",status="succeeded"}' in text
    assert 'llm_tokens_total{alias="smart",category="input",model="gpt-test",provider="openai"}' in text
    assert "llm_call_latency_seconds_bucket" in text and 'jobs_finished_total{status="completed"}' in text
    assert "_created" not in text  # one series per counter, not a second one of timestamps


async def test_metrics_expose_http_routes_pool_cache_and_refused_holds(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD, credits=D("0.000001"))
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        refused = await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
        assert refused.status_code == 402
        text = (await http.get("/metrics")).text
    assert 'llm_holds_refused_total{alias="smart",provider="openai"}' in text
    route = 'route="/api/jobs/{job_id}/llm-call"'
    assert f'http_requests_total{{method="POST",{route},status="402"}}' in text
    assert "http_request_duration_seconds_bucket" in text
    assert 'reference_cache_lookups_total{cache="keys",result="hit"}' in text
    for gauge in ("db_pool_size", "db_pool_in_use", "db_pool_waiting", "db_down 0.0", "http_open_streams"):
        assert gauge in text, gauge


async def test_completing_with_a_null_metadata_key_removes_it_like_a_patch(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http:
        created = await http.post("/api/jobs/create", json={"job_type": "doc", "metadata": {"k": 1, "keep": "x"}})
        job_id = created.json()["job_id"]
        done = await http.post(f"/api/jobs/{job_id}/complete", json={"metadata": {"k": None, "added": 2}})
        assert done.status_code == 200, done.text
        job = (await http.get(f"/api/jobs/{job_id}")).json()
        assert job["metadata"] == {"keep": "x", "added": 2}


async def test_a_one_call_stream_cut_by_the_provider_fails_its_job_and_says_what_it_cost(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("a", "b", "c"), fault="cut", fault_after=1))
    async with server.client(key) as http:
        streamed = await http.post("/api/jobs/create-and-call-stream", json={"job_type": "quick", **CALL})
        events = sse_events(streamed.text)
        assert events[0][0] == "start" and events[1][0] == "delta"
        last, data = events[-1]
        assert last == "error", streamed.text
        assert data["job_id"] == events[0][1]["job_id"] and "credits_remaining" in data  # finished before the event
        job = (await http.get(f"/api/jobs/{data['job_id']}")).json()
        assert job["status"] == "failed" and len(job["calls"]) == 1
        assert job["credits_deducted"] == data["credits_deducted"]
