"""Per-team rate limits over HTTP: set through the admin API, enforced on the job API and
/v1, in-process, and across two app instances sharing Redis."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from domain.admins import AdminRole
from domain.budgets import BudgetMode
from tests.e2e.admin_helpers import admin_token, create_team
from tests.e2e.conftest import Server, fresh_world, openai_usage, second_instance
from tests.redis_server import answers, redis_url, started_redis
from tests.support.fake_provider import Reply

CALL = {"model": "smart", "messages": [{"role": "user", "content": "Hello"}]}


async def set_limits(server: Server, team_id: object, **limits: Any) -> dict[str, Any]:
    token = await admin_token(server, AdminRole.ADMIN)
    async with server.client(token) as http:
        response = await http.put(f"/api/teams/{team_id}", json=limits)
        assert response.status_code == 200, response.text
        team: dict[str, Any] = response.json()
    await asyncio.sleep(1.1)  # the call path caches a team for up to a second
    return team


def rate_limit_headers(response: httpx.Response) -> dict[str, str]:
    return {k: response.headers[k] for k in ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-resource")}


async def calls_of_team(server: Server, key: str, team_id: object) -> list[dict[str, Any]]:
    async with server.client(key) as http:
        jobs = (await http.get(f"/api/teams/{team_id}/jobs", params={"limit": 200})).json()["items"]
        return [c for j in jobs for c in (await http.get(f"/api/jobs/{j['job_id']}")).json()["calls"]]


async def test_limits_are_team_fields_of_the_admin_api(server: Server) -> None:
    token = await admin_token(server, AdminRole.ADMIN)
    async with server.client(token) as http:
        team = (await create_team(http, str(server.organization.id), "limited", rpm_limit=30))["team"]
        assert (team["rpm_limit"], team["tpm_limit"]) == (30, None)
        updated = await http.put(f"/api/teams/{team['id']}", json={"tpm_limit": 50_000})
        assert (updated.json()["rpm_limit"], updated.json()["tpm_limit"]) == (30, 50_000)
        cleared = await http.put(f"/api/teams/{team['id']}", json={"rpm_limit": None})
        assert (cleared.json()["rpm_limit"], cleared.json()["tpm_limit"]) == (None, 50_000)
        assert cleared.json()["version"] == team["version"] + 2
        fetched = (await http.get(f"/api/teams/{team['id']}")).json()
        assert (fetched["rpm_limit"], fetched["tpm_limit"]) == (None, 50_000)
        for bad in ({"rpm_limit": 0}, {"tpm_limit": -5}, {"rpm_limit": "many"}):
            refused = await http.put(f"/api/teams/{team['id']}", json=bad)
            assert refused.status_code == 422, refused.text
        listed = (await http.get("/api/teams", params={"organization_id": str(server.organization.id)})).json()
        assert {"rpm_limit", "tpm_limit"} <= set(listed["items"][0])


async def test_an_in_process_limit_refuses_with_headers_on_both_surfaces(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    await set_limits(server, team.id, rpm_limit=2)
    async with server.client(key) as http:
        assert (await http.post("/api/jobs/create-and-call", json={**CALL, "job_type": "x"})).status_code == 200
        assert (await http.post("/v1/chat/completions", json=CALL)).status_code == 200
        refused = await http.post("/api/jobs/create-and-call", json={**CALL, "job_type": "x"})
        balance = (await http.get(f"/api/teams/{team.id}/credits")).json()
    assert refused.status_code == 429
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["code"] == "rate_limited" and "2 requests per minute" in refused.json()["detail"]
    assert rate_limit_headers(refused) == {
        "x-ratelimit-limit": "2",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-resource": "requests",
    }
    assert 1 <= int(refused.headers["retry-after"]) <= 60
    assert refused.headers["retry-after"] == refused.headers["x-ratelimit-reset"]
    client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.code == "rate_limited" and caught.value.type == "rate_limit_error"
    assert caught.value.response.headers["x-ratelimit-limit"] == "2"
    # Refused calls left nothing: two calls in two jobs, nothing held.
    calls = await calls_of_team(server, key, team.id)
    assert len(calls) == 2 and balance["held"] == "0"
    # Another team is not limited by this one's counters.
    _, other_key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(other_key) as http:
        assert (await http.post("/v1/chat/completions", json=CALL)).status_code == 200


async def test_a_request_larger_than_the_token_limit_is_told_not_to_retry(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    await set_limits(server, team.id, tpm_limit=20)
    big = {"model": "smart", "messages": [{"role": "user", "content": "word " * 100}]}
    async with server.client(key) as http:
        refused = await http.post("/v1/chat/completions", json=big)
    assert refused.status_code == 429 and refused.headers["x-should-retry"] == "false"
    assert refused.json()["error"]["code"] == "rate_limited" and "larger than" in refused.json()["error"]["message"]


@pytest.fixture(scope="module")
async def shared_redis() -> AsyncIterator[str]:
    async with redis_url() as url:
        yield url


@pytest.fixture
async def two_instances(
    tmp_path: Path, postgres_server_url: str, shared_redis: str
) -> AsyncIterator[tuple[Server, str]]:
    """Two app instances on one Postgres and one Redis (the second shares the first's secrets)."""
    async with (
        fresh_world(postgres_server_url, tmp_path, "saasllm_e2e_rl", REDIS_URL=shared_redis) as first,
        second_instance(first, MAX_BODY_BYTES="65536", REDIS_URL=shared_redis) as b_url,
    ):
        yield first, b_url


async def test_two_instances_sharing_redis_share_a_teams_request_limit(two_instances: tuple[Server, str]) -> None:
    a, b_url = two_instances
    team, key = await a.team(BudgetMode.CONSUMPTION_USD)
    await set_limits(a, team.id, rpm_limit=4)
    headers = {"Authorization": f"Bearer {key}"}
    async with (
        httpx.AsyncClient(base_url=a.url, headers=headers) as on_a,
        httpx.AsyncClient(base_url=b_url, headers=headers) as on_b,
    ):
        job_id = (await on_a.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
        for http in (on_a, on_b, on_a, on_b):
            answered = await http.post(f"/api/jobs/{job_id}/llm-call", json=CALL)
            assert answered.status_code == 200, answered.text
        for http in (on_a, on_b):
            refused = await http.post(f"/api/jobs/{job_id}/llm-call", json=CALL)
            assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
            assert rate_limit_headers(refused)["x-ratelimit-limit"] == "4"
        job = (await on_b.get(f"/api/jobs/{job_id}")).json()
    assert len(job["calls"]) == 4
    client = openai.AsyncOpenAI(base_url=f"{b_url}/v1", api_key=key, max_retries=0)
    with pytest.raises(openai.RateLimitError) as caught:
        await client.chat.completions.create(model="smart", messages=[{"role": "user", "content": "Hi"}])
    assert caught.value.response.headers["x-ratelimit-remaining"] == "0"


async def test_two_instances_sharing_redis_count_the_tokens_each_call_used(two_instances: tuple[Server, str]) -> None:
    a, b_url = two_instances
    team, key = await a.team(BudgetMode.CONSUMPTION_USD)
    await set_limits(a, team.id, tpm_limit=1000)
    a.upstream.push(Reply(chunks=("long",), usage=openai_usage(200, 1300)))
    async with a.client(key) as on_a:
        assert (await on_a.post("/v1/chat/completions", json=CALL)).status_code == 200  # admitted; used 1500
    async with httpx.AsyncClient(base_url=b_url, headers={"Authorization": f"Bearer {key}"}) as on_b:
        refused = await on_b.post("/v1/chat/completions", json=CALL)
    assert refused.status_code == 429
    assert rate_limit_headers(refused) == {
        "x-ratelimit-limit": "1000",
        "x-ratelimit-remaining": "0",
        "x-ratelimit-resource": "tokens",
    }


async def test_a_redis_server_started_by_the_tests_answers() -> None:
    async with started_redis() as url:
        port = int(url.rsplit(":", 1)[1].split("/")[0])
        assert answers("127.0.0.1", port)
    assert not answers("127.0.0.1", port)


WINDOW_HEADERS = tuple(
    f"x-ratelimit-{what}-{resource}" for resource in ("requests", "tokens") for what in ("limit", "remaining", "reset")
)


def windows(response: httpx.Response | Any) -> dict[str, str]:
    return {k: response.headers[k] for k in WINDOW_HEADERS if k in response.headers}


def assert_reset(value: str) -> None:
    assert value == "1m0s" or (value.endswith("s") and 0 <= int(value[:-1]) < 60), value


async def test_successful_calls_carry_where_the_teams_limits_stand_on_both_surfaces(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    await set_limits(server, team.id, rpm_limit=10, tpm_limit=10_000)
    seen: list[dict[str, str]] = []
    async with server.client(key) as http:
        job_id = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
        plain = await http.post(f"/api/jobs/{job_id}/llm-call", json=CALL)
        assert plain.status_code == 200, plain.text
        seen.append(windows(plain))
        async with http.stream("POST", f"/api/jobs/{job_id}/llm-call-stream", json=CALL) as streamed:
            assert streamed.status_code == 200
            seen.append(windows(streamed))
            assert "event: done" in "".join([chunk async for chunk in streamed.aiter_text()])
        one = await http.post("/api/jobs/create-and-call", json={**CALL, "job_type": "x"})
        assert one.status_code == 200, one.text
        seen.append(windows(one))
        async with http.stream("POST", "/api/jobs/create-and-call-stream", json={**CALL, "job_type": "x"}) as one_s:
            assert one_s.status_code == 200
            seen.append(windows(one_s))
            assert "event: done" in "".join([chunk async for chunk in one_s.aiter_text()])
    client = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)
    raw = await client.chat.completions.with_raw_response.create(model="smart", messages=CALL["messages"])
    assert raw.parse().choices[0].message.content
    seen.append(windows(raw))
    raw_stream = await client.chat.completions.with_raw_response.create(
        model="smart", messages=CALL["messages"], stream=True
    )
    seen.append(windows(raw_stream))
    assert [c async for c in raw_stream.parse()]
    assert [set(s) for s in seen] == [set(WINDOW_HEADERS)] * 6
    assert [s["x-ratelimit-limit-requests"] for s in seen] == ["10"] * 6
    assert [s["x-ratelimit-remaining-requests"] for s in seen] == ["9", "8", "7", "6", "5", "4"]
    assert [s["x-ratelimit-limit-tokens"] for s in seen] == ["10000"] * 6
    tokens_left = [int(s["x-ratelimit-remaining-tokens"]) for s in seen]
    assert tokens_left[-1] > 0 and tokens_left == sorted(tokens_left, reverse=True) and tokens_left[0] < 10_000
    for s in seen:
        assert_reset(s["x-ratelimit-reset-requests"])
        assert_reset(s["x-ratelimit-reset-tokens"])
    # The refusal keeps its own headers, and the 429 after the last admitted call says 0 left.
    await set_limits(server, team.id, rpm_limit=1)
    async with server.client(key) as http:
        admitted = await http.post("/v1/chat/completions", json=CALL)
        refused = await http.post("/v1/chat/completions", json=CALL)
    assert windows(admitted)["x-ratelimit-remaining-requests"] == "0"
    assert "x-ratelimit-limit-tokens" in windows(admitted)
    assert refused.status_code == 429 and rate_limit_headers(refused)["x-ratelimit-resource"] == "requests"


async def test_only_the_limits_a_team_has_are_told_and_none_without_limits(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    _, free_key = await server.team(BudgetMode.CONSUMPTION_USD)
    await set_limits(server, team.id, rpm_limit=100)
    async with server.client(key) as http:
        limited = await http.post("/v1/chat/completions", json=CALL)
        limited_job = await http.post("/api/jobs/create-and-call", json={**CALL, "job_type": "x"})
    assert (
        set(windows(limited))
        == set(windows(limited_job))
        == {
            "x-ratelimit-limit-requests",
            "x-ratelimit-remaining-requests",
            "x-ratelimit-reset-requests",
        }
    )
    async with server.client(free_key) as http:
        free = await http.post("/v1/chat/completions", json=CALL)
        async with http.stream("POST", "/api/jobs/create-and-call-stream", json={**CALL, "job_type": "x"}) as s:
            free_stream_headers = dict(s.headers)
            await s.aread()
    assert free.status_code == 200
    assert not [h for h in (*free.headers, *free_stream_headers) if h.lower().startswith("x-ratelimit")]
