"""Fallbacks, cheapest routing with circuit breakers, and the response cache (issue 12).

The real app over HTTP against the fake provider server; aliases are made through the
admin API. Every test ends with the team's ledger adding up exactly.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest

from domain.admins import AdminRole
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.pricing import PriceSheet
from tests.e2e.admin_helpers import admin_token
from tests.e2e.conftest import Server, fresh_world, openai_usage
from tests.support.fake_provider import Reply, ToolCallReply
from tests.support.sse import sse_events as events

D = Decimal
HELLO = [{"role": "user", "content": "Hello"}]
OPENAI_PATH = "/v1/chat/completions"
ANTHROPIC_PATH = "/v1/messages"
COOL_DOWN_S = 2.0  # long enough that the open state is seen on a busy machine, short enough to wait for
# Two failing calls open a target's circuit; it half-opens after COOL_DOWN_S.
WORLD_ENV = {"BREAKER_FAILURES": "2", "BREAKER_COOL_DOWN_S": str(COOL_DOWN_S), "PROVIDER_TIMEOUT_S": "5"}
OVERLOADED = Reply(status=529, error="overloaded")


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> AsyncIterator[Server]:
    data_dir = tmp_path_factory.mktemp("routing")
    async with fresh_world(postgres_server_url, data_dir, "saasllm_routing", **WORLD_ENV) as server:
        # The organization reaches Anthropic too (the same fake server, Anthropic's paths).
        await server.services.credentials.add_credential(
            organization_id=server.organization.id,
            provider=Provider.ANTHROPIC,
            name="anthropic",
            api_key="sk-ant-upstream-1234",
            api_base=server.upstream.api_base("anthropic"),
        )
        yield server


# What the standard aliases charge and cost per million tokens, and a dearer backup's.
STANDARD_PRICES = {
    "input_price_per_million": "2",
    "output_price_per_million": "8",
    "provider_input_cost_per_million": "1",
    "provider_output_cost_per_million": "4",
}
BACKUP_PRICES = {
    "input_price_per_million": "3",
    "output_price_per_million": "12",
    "provider_input_cost_per_million": "1.5",
    "provider_output_cost_per_million": "6",
}
# The cheapest-routed alias: its main target, and the cheaper second one.
DEAR_PRICES = {
    "input_price_per_million": "2",
    "output_price_per_million": "8",
    "provider_input_cost_per_million": "1.6",
    "provider_output_cost_per_million": "6",
}
CHEAP_PRICES = {
    "input_price_per_million": "1",
    "output_price_per_million": "4",
    "provider_input_cost_per_million": "0.5",
    "provider_output_cost_per_million": "2",
}


async def create_alias(
    server: Server,
    alias: str,
    provider_model: str,
    provider: str = "openai",
    prices: dict[str, str] = STANDARD_PRICES,
    **body: Any,
) -> dict[str, Any]:
    """An alias of the ``routing`` access group, at the standard prices unless told."""
    token = await admin_token(server, AdminRole.ADMIN)
    payload = {"access_groups": ["routing"], "alias": alias, "provider": provider, "provider_model": provider_model}
    async with server.client(token) as http:
        response = await http.post("/api/models/create", json={**payload, **prices, **body})
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def metrics(server: Server) -> str:
    async with server.client() as http:
        return (await http.get("/metrics")).text


def breaker_value(text: str, model: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("llm_target_circuit_state{") and f'model="{model}"' in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def seen(server: Server) -> list[tuple[str, str]]:
    """(path, model) of every request the fake provider received."""
    return [(r.path, str(r.body.get("model"))) for r in server.upstream.received]


async def assert_ledger_exact(server: Server, team_id: object, allocated: Decimal) -> Decimal:
    """The ledger adds up to ``remaining`` and the debits are exactly what was used."""
    token = await admin_token(server, AdminRole.VIEWER)
    async with server.client(token) as http:
        credits = (await http.get(f"/api/teams/{team_id}/credits")).json()
        page = (await http.get(f"/api/teams/{team_id}/credits/transactions", params={"limit": 200})).json()
    entries = page["items"]
    assert page["next_cursor"] is None
    assert sum(D(e["amount"]) for e in entries) == D(credits["remaining"])
    debits = -sum(D(e["amount"]) for e in entries if e["type"] == "debit")
    assert D(credits["held"]) == 0
    assert D(credits["used"]) == debits
    assert D(credits["remaining"]) == allocated - debits
    return debits


async def test_an_overloaded_primary_falls_back_and_the_call_is_priced_at_the_fallback(world: Server) -> None:
    await create_alias(world, "fb-backup", "gpt-backup", prices=BACKUP_PRICES)
    created = await create_alias(
        world, "fb-main", "claude-main", provider="anthropic", default_max_tokens=100, fallbacks=["fb-backup"]
    )
    assert created["fallbacks"] == ["fb-backup"] and created["routing"] == "ordered"
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, groups=("routing",))
    world.upstream.reset()
    world.upstream.push(OVERLOADED, OVERLOADED, Reply(usage=openai_usage(10, 5)))

    async with world.client(key) as http:
        response = await http.post(
            "/api/jobs/create-and-call", json={"job_type": "fallback", "model": "fb-main", "messages": HELLO}
        )
        assert response.status_code == 200, response.text
        body = response.json()
        job = (await http.get(f"/api/jobs/{body['job_id']}")).json()

    # Two attempts at Anthropic (its own retry), then OpenAI served.
    assert seen(world) == [
        (ANTHROPIC_PATH, "claude-main"),
        (ANTHROPIC_PATH, "claude-main"),
        (OPENAI_PATH, "gpt-backup"),
    ]
    assert (body["model"], body["provider"], body["provider_model"]) == ("fb-main", "openai", "gpt-backup")
    assert body["attempts"] == 3 and body["response"]["content"] == "Hello world"
    # The fallback's prices: (10 x 3 + 5 x 12) / 1M customer, (10 x 1.5 + 5 x 6) / 1M provider.
    assert D(body["costs"]["customer_cost_usd"]) == D("0.00009")
    assert D(body["costs"]["provider_cost_usd"]) == D("0.000045")
    assert D(body["credits_deducted"]) == D("0.0009")
    [call] = job["calls"]
    assert (call["provider"], call["provider_model"], call["status"]) == ("openai", "gpt-backup", "succeeded")
    assert D(call["customer_cost_usd"]) == D("0.00009") and D(call["provider_cost_usd"]) == D("0.000045")
    assert await assert_ledger_exact(world, team.id, D(100)) == D("0.0009")


async def test_a_stream_falls_back_before_its_first_event_and_never_after(world: Server) -> None:
    await create_alias(world, "fs-backup", "gpt-stream-backup", prices=BACKUP_PRICES)
    await create_alias(
        world, "fs-main", "claude-stream", provider="anthropic", default_max_tokens=100, fallbacks=["fs-backup"]
    )
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, groups=("routing",))
    body = {"job_type": "stream", "model": "fs-main", "messages": HELLO}

    world.upstream.reset()
    world.upstream.push(OVERLOADED, OVERLOADED, Reply(chunks=("Hi", " there"), usage=openai_usage(10, 5)))
    async with world.client(key) as http:
        response = await http.post("/api/jobs/create-and-call-stream", json=body)
    assert response.status_code == 200, response.text
    found = events(response.text)
    assert [name for name, _ in found] == ["start", "delta", "delta", "done"]
    assert found[0][1]["provider"] == "openai"
    assert D(found[-1][1]["costs"]["customer_cost_usd"]) == D("0.00009")
    assert [path for path, _ in seen(world)] == [ANTHROPIC_PATH, ANTHROPIC_PATH, OPENAI_PATH]

    # Cut after its first chunk reached the client: no retry, no fallback; billed as streamed.
    world.upstream.reset()
    world.upstream.push(Reply(chunks=("Par", "tial", " answer"), fault="cut", fault_after=1))
    async with world.client(key) as http:
        response = await http.post("/api/jobs/create-and-call-stream", json=body)
        assert response.status_code == 200
        found = events(response.text)
        job = (await http.get(f"/api/jobs/{found[0][1]['job_id']}")).json()
    assert [name for name, _ in found] == ["start", "delta", "error"]
    assert found[0][1]["provider"] == "anthropic"
    assert seen(world) == [(ANTHROPIC_PATH, "claude-stream")]
    [call] = job["calls"]
    assert (call["provider"], call["status"]) == ("anthropic", "failed")
    await assert_ledger_exact(world, team.id, D(100))


async def test_cheapest_serves_from_the_cheaper_target_and_its_breaker_opens_then_closes(world: Server) -> None:
    created = await create_alias(
        world,
        "cheapest",
        "gpt-dear",
        prices=DEAR_PRICES,
        default_max_tokens=100,
        routing="cheapest",
        targets=[{"provider": "openai", "provider_model": "gpt-cheap", **CHEAP_PRICES}],
    )
    assert created["routing"] == "cheapest"
    assert [(t["provider_model"], t["provider_input_cost_per_million"]) for t in created["targets"]] == [
        ("gpt-cheap", "0.5")
    ]
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, groups=("routing",))

    async def call(*replies: Reply) -> dict[str, Any]:
        world.upstream.reset()
        world.upstream.push(*replies)
        async with world.client(key) as http:
            response = await http.post(
                "/api/jobs/create-and-call", json={"job_type": "cheap", "model": "cheapest", "messages": HELLO}
            )
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        return answer

    ok = Reply(usage=openai_usage(10, 5))
    # Both healthy: the cheaper serves, at its own prices ((10 x 1 + 5 x 4) / 1M).
    first = await call(ok)
    assert seen(world) == [(OPENAI_PATH, "gpt-cheap")]
    assert first["provider_model"] == "gpt-cheap" and D(first["costs"]["customer_cost_usd"]) == D("0.00003")
    # The cheaper failing: the other one serves, at its prices; two such calls open the circuit.
    for _ in range(2):
        served = await call(OVERLOADED, OVERLOADED, ok)
        assert seen(world) == [(OPENAI_PATH, "gpt-cheap"), (OPENAI_PATH, "gpt-cheap"), (OPENAI_PATH, "gpt-dear")]
        assert served["provider_model"] == "gpt-dear" and D(served["costs"]["customer_cost_usd"]) == D("0.00006")
    assert breaker_value(await metrics(world), "gpt-cheap") == 1.0  # open
    # Open: the cheaper one is skipped altogether.
    skipped = await call(ok)
    assert seen(world) == [(OPENAI_PATH, "gpt-dear")] and skipped["provider_model"] == "gpt-dear"
    # After the cool-down it is tried again; its success closes the circuit.
    await asyncio.sleep(COOL_DOWN_S + 0.1)
    back = await call(ok)
    assert seen(world) == [(OPENAI_PATH, "gpt-cheap")] and back["provider_model"] == "gpt-cheap"
    assert breaker_value(await metrics(world), "gpt-cheap") == 0.0  # closed
    # 2 x 0.0003 + 3 x 0.0006 credits (10 credits per USD).
    assert await assert_ledger_exact(world, team.id, D(100)) == D("0.0024")


async def test_a_cache_hit_never_reaches_the_provider_and_is_charged_the_cached_price(world: Server) -> None:
    created = await create_alias(
        world, "cached", "gpt-cached", default_max_tokens=100, cache_ttl_s=60, cached_response_price_factor="0.5"
    )
    assert (created["cache_ttl_s"], created["cached_response_price_factor"]) == (60, "0.5")
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, groups=("routing",))
    body = {"job_type": "cache", "model": "cached", "messages": HELLO}
    world.upstream.reset()
    world.upstream.push(
        Reply(chunks=("Cached", " answer"), usage=openai_usage(10, 5)), Reply(usage=openai_usage(10, 5))
    )

    async with world.client(key) as http:
        miss = (await http.post("/api/jobs/create-and-call", json=body)).json()
        hit = (await http.post("/api/jobs/create-and-call", json=body)).json()
        streamed = await http.post("/api/jobs/create-and-call-stream", json=body)
        v1 = await http.post("/v1/chat/completions", json={"model": "cached", "messages": HELLO, "stream": True})
        hit_job = (await http.get(f"/api/jobs/{hit['job_id']}")).json()
        # Other parameters are another request: a miss.
        other = (await http.post("/api/jobs/create-and-call", json={**body, "temperature": 0.5})).json()

    assert len(world.upstream.received) == 2  # the first call and the one with other parameters
    assert miss["cached"] is False and D(miss["costs"]["customer_cost_usd"]) == D("0.00006")
    # (10 x 2 + 5 x 8) / 1M x 0.5, and nothing paid to the provider.
    assert hit["cached"] is True and hit["response"]["content"] == "Cached answer"
    assert D(hit["costs"]["customer_cost_usd"]) == D("0.00003") and D(hit["costs"]["provider_cost_usd"]) == 0
    assert hit["usage"]["total_tokens"] == 15 and hit["attempts"] == 0
    [call] = hit_job["calls"]
    assert call["cached"] is True and D(call["provider_cost_usd"]) == 0
    # Streams replay on both surfaces.
    found = events(streamed.text)
    assert [name for name, _ in found] == ["start", "delta", "done"]
    assert found[1][1]["content"] == "Cached answer"
    assert D(found[-1][1]["costs"]["customer_cost_usd"]) == D("0.00003")
    chunks = [json.loads(b.removeprefix("data: ")) for b in v1.text.strip().split("\n\n")[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "Cached answer"
    assert other["cached"] is False
    # miss 0.0006 + three hits at 0.0003 + the other miss 0.0006 (10 credits per USD).
    assert await assert_ledger_exact(world, team.id, D(100)) == D("0.0021")


async def test_the_response_cache_is_never_shared_across_organizations(world: Server) -> None:
    await create_alias(world, "cached-tenants", "gpt-cached-tenants", cache_ttl_s=60)
    _, key = await world.team(BudgetMode.CONSUMPTION_USD, groups=("routing",))
    other_org = await world.services.organizations.create_organization(name="Other")
    await world.services.credentials.add_credential(
        organization_id=other_org.id,
        provider=Provider.OPENAI,
        name="main",
        api_key="sk-other-upstream-5555",
        api_base=world.upstream.api_base("openai"),
    )
    _, other_key = await world.services.organizations.create_team(
        organization_id=other_org.id,
        name="other",
        budget=BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD),
        credits=D(10),
        access_groups=("routing",),
    )
    body = {"job_type": "cache", "model": "cached-tenants", "messages": HELLO}
    world.upstream.reset()
    world.upstream.push(Reply(usage=openai_usage(10, 5)), Reply(usage=openai_usage(10, 5)))
    async with world.client(key) as http:
        mine = (await http.post("/api/jobs/create-and-call", json=body)).json()
    async with world.client(other_key.api_key) as http:
        theirs = (await http.post("/api/jobs/create-and-call", json=body)).json()
    assert mine["cached"] is False and theirs["cached"] is False
    assert len(world.upstream.received) == 2


async def test_an_answer_with_tool_calls_is_not_cached(world: Server) -> None:
    """A kept answer is text only: replaying one that called tools would drop its calls."""
    await create_alias(world, "cached-tools", "gpt-cached-tools", cache_ttl_s=60)
    _, key = await world.team(BudgetMode.CONSUMPTION_USD, groups=("routing",))
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    body = {"job_type": "cache", "model": "cached-tools", "messages": HELLO, "tools": tools}
    called = Reply(chunks=(), tool_calls=(ToolCallReply(name="get_weather", arguments='{"city":"Lyon"}'),))
    world.upstream.reset()
    world.upstream.push(called, called, called, called)
    async with world.client(key) as http:
        first = (await http.post("/api/jobs/create-and-call", json=body)).json()
        second = (await http.post("/api/jobs/create-and-call", json=body)).json()
        streamed = await http.post("/api/jobs/create-and-call-stream", json=body)
        again = await http.post("/api/jobs/create-and-call-stream", json=body)
    assert first["response"]["tool_calls"][0]["function"]["name"] == "get_weather"
    assert second["cached"] is False and second["response"]["tool_calls"] == first["response"]["tool_calls"]
    assert "tool_call" in streamed.text and "tool_call" in again.text
    assert len(world.upstream.received) == 4  # every one reached the provider


async def test_a_fallback_bound_to_another_organization_is_refused_with_422(world: Server) -> None:
    """The admin API binds no alias to an organization; the service (the CLI's import) does."""
    other_org = await world.services.organizations.create_organization(name="Elsewhere")
    sheet = PriceSheet(input_per_million=D(2), output_per_million=D(8))
    for alias, organization in (("fb-theirs", other_org.id), ("fb-ours", world.organization.id)):
        await world.services.models.create_alias(
            alias=alias,
            provider=Provider.OPENAI,
            provider_model=f"gpt-{alias}",
            customer_prices=sheet,
            provider_costs=sheet,
            organization_id=organization,
        )
    token = await admin_token(world, AdminRole.ADMIN)
    async with world.client(token) as http:
        refused = await http.put("/api/models/fb-ours", json={"fallbacks": ["fb-theirs"]})
        kept = (await http.get("/api/models/fb-ours")).json()
        allowed = await http.put("/api/models/fb-ours", json={"fallbacks": ["smart"]})
    assert refused.status_code == 422, refused.text
    assert refused.json()["code"] == "invalid_request" and "another organization" in refused.json()["detail"]
    assert kept["fallbacks"] == []
    assert allowed.status_code == 200 and allowed.json()["fallbacks"] == ["smart"]
