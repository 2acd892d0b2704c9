"""Job economics over HTTP, on Postgres with the fake provider: a seeded history of
several job types, the report and its suggestion, the CSV export against the API's
totals, quotes against the hold the call then places, the forecast and live usage."""

import csv
import io
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from domain.admins import AdminRole
from domain.budgets import BudgetMode
from domain.economics import percentile_of, reaches_margin, suggested_flat_price
from tests.e2e.admin_helpers import PASSWORD, admin_token
from tests.e2e.conftest import Server, fresh_world, openai_usage
from tests.e2e.panel_helpers import Panel
from tests.support.fake_provider import Reply

D = Decimal
HISTORY = {"analyse": [(900, 100), (1500, 300), (3000, 700), (1200, 50), (6000, 1200)], "summarise": [(200, 20)] * 3}


@pytest.fixture(scope="module")
async def world(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> AsyncIterator[Server]:
    data_dir = tmp_path_factory.mktemp("economics")
    async with fresh_world(postgres_server_url, data_dir, "saasllm_economics") as server:
        yield server


async def run_job(
    server: Server, key: str, job_type: str, usages: list[tuple[int, int]], status: str
) -> dict[str, Any]:
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": job_type})).json()
        for prompt, completion in usages:
            server.upstream.push(Reply(chunks=("ok",), usage=openai_usage(prompt, completion, cached=prompt // 10)))
            call = {"model": "smart", "messages": [{"role": "user", "content": "Analyse this"}]}
            assert (await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=call)).status_code == 200
        done = await http.post(f"/api/jobs/{job['job_id']}/complete", json={"status": status})
        assert done.status_code == 200
        return dict(done.json())


@pytest.fixture(scope="module")
async def history(world: Server) -> dict[str, Any]:
    team, key = await world.team(BudgetMode.CONSUMPTION_USD, credits=D(1000))
    costs: dict[str, list[dict[str, Any]]] = {}
    for job_type, usages in HISTORY.items():
        for i, usage in enumerate(usages):
            calls = [usage, (usage[0] // 2, usage[1] // 2)] if i % 2 else [usage]
            done = await run_job(
                world, key, job_type, calls, "failed" if (job_type, i) == ("analyse", 3) else "completed"
            )
            costs.setdefault(job_type, []).append(done)
    token = await admin_token(world, AdminRole.VIEWER)
    return {"team": team, "key": key, "costs": costs, "token": token}


async def test_job_types_report_with_suggestion(world: Server, history: dict[str, Any]) -> None:
    today = datetime.now(UTC).date()
    async with world.client(history["token"]) as http:
        r = await http.get(
            "/api/analytics/job-types",
            params={
                "organization_id": str(world.organization.id),
                "from": str(today),
                "to": str(today),
                "target_margin": "0.30",
                "percentile": "95",
            },
        )
    assert r.status_code == 200, r.text
    body = r.json()
    assert [i["job_type"] for i in body["items"]] == ["analyse", "summarise"]
    analyse = body["items"][0]
    done = history["costs"]["analyse"]
    job_costs = sorted(D(d["costs"]["provider_cost_usd"]) for d in done)
    assert (analyse["jobs"], analyse["completed"], analyse["failed"]) == (5, 4, 1)
    assert D(analyse["provider_cost_usd"]["total"]) == sum(job_costs, D(0))
    assert D(analyse["customer_price_usd"]["total"]) == sum((D(d["costs"]["customer_cost_usd"]) for d in done), D(0))
    assert D(analyse["provider_cost_usd"]["p50"]) == percentile_of(job_costs, D(50))
    assert D(analyse["provider_cost_usd"]["max"]) == job_costs[-1]
    assert analyse["calls_per_job"] == {"p50": 1, "p95": 2, "max": 2}
    price = D(analyse["suggested_flat_price_usd"])
    assert price == suggested_flat_price(D(percentile_of(job_costs, D(95))), D("0.30"))
    assert sum(1 for c in job_costs if reaches_margin(price, c, D("0.30"))) * 100 >= 95 * len(job_costs)
    what_if = analyse["what_if"]
    assert D(what_if["revenue_usd"]) == price * 5
    assert D(what_if["margin_usd"]) == price * 5 - sum(job_costs, D(0))
    assert what_if["jobs_losing_money"] == sum(1 for c in job_costs if c > price)


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"target_margin": "1"}, 422),
        ({"target_margin": "-0.1"}, 422),
        ({"target_margin": "abc"}, 422),
        ({"target_margin": "1e-1"}, 422),
        ({"percentile": "0"}, 422),
        ({"percentile": "100.5"}, 422),
        ({"percentile": "95.123"}, 422),
        ({"from": "2026-03-02", "to": "2026-03-01"}, 422),
        ({"from": "2024-01-01", "to": "2026-03-01"}, 422),
        ({"organization_id": "00000000-0000-0000-0000-000000000001"}, 404),
        ({"team_id": "00000000-0000-0000-0000-000000000001"}, 404),
    ],
)
async def test_bad_report_parameters_are_problems(
    world: Server, history: dict[str, Any], params: dict[str, str], status: int
) -> None:
    async with world.client(history["token"]) as http:
        r = await http.get("/api/analytics/job-types", params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["code"] == ("not_found" if status == 404 else "invalid_request")


async def test_csv_export_parses_and_adds_up_to_the_report(world: Server, history: dict[str, Any]) -> None:
    today = datetime.now(UTC).date()
    params = {"organization_id": str(world.organization.id), "from": str(today), "to": str(today)}
    async with world.client(history["token"]) as http:
        r = await http.get("/api/jobs/export.csv", params=params)
        report = (await http.get("/api/analytics/job-types", params=params)).json()
        usage = (
            await http.get(f"/api/teams/{history['team'].id}/usage", params={"from": str(today), "to": str(today)})
        ).json()
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(r.text)))
    mine = [row for row in rows if row["team_id"] == str(history["team"].id)]
    assert len(mine) == 8 and len({row["job_id"] for row in mine}) == 8
    for item in report["items"]:
        of_type = [row for row in rows if row["job_type"] == item["job_type"]]
        assert len(of_type) == item["jobs"]
        assert sum((D(row["provider_cost_usd"]) for row in of_type), D(0)) == D(item["provider_cost_usd"]["total"])
        assert sum((D(row["customer_price_usd"]) for row in of_type), D(0)) == D(item["customer_price_usd"]["total"])
    assert sum((D(row["customer_price_usd"]) for row in mine), D(0)) == D(usage["customer_cost_usd"])
    assert sum(int(row["calls"]) for row in mine) == usage["calls"]
    for row in mine:  # tokens by category are disjoint and add up
        parts = ("input_tokens", "cached_input_tokens", "cache_write_tokens", "output_tokens", "reasoning_tokens")
        assert sum(int(row[p]) for p in parts) == int(row["total_tokens"])
        assert D(row["margin_usd"]) == D(row["customer_price_usd"]) - D(row["provider_cost_usd"])
    async with world.client(history["key"]) as http:  # a team key is not an admin
        assert (await http.get("/api/jobs/export.csv")).status_code == 401


async def test_quote_worst_case_is_the_hold_the_call_places(world: Server, history: dict[str, Any]) -> None:
    key = history["key"]
    call = {"model": "smart", "messages": [{"role": "user", "content": "Quote me, then call me"}], "max_tokens": 60}
    async with world.client(key) as http:
        quote = await http.post("/api/quotes", json=call)
        assert quote.status_code == 200, quote.text
        q = quote.json()
        assert q["output_basis"] == "recent_median" and q["max_tokens"] == 60
        assert D(q["expected"]["credits"]) <= D(q["worst_case"]["credits"])
        job = (await http.post("/api/jobs/create", json={"job_type": "quoted"})).json()
        world.upstream.push(Reply(chunks=("ok",), usage=openai_usage(10, 5)))
        made = (await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=call)).json()
        ledger = (await http.get(f"/api/teams/{history['team'].id}/credits/transactions", params={"limit": 10})).json()
        [hold] = [e for e in ledger["items"] if e["type"] == "hold" and e["call_id"] == made["call_id"]]
        assert D(hold["amount"]) == -D(q["worst_case"]["credits"])
        assert (await http.post("/api/quotes", json={**call, "model": "premium"})).status_code == 403
        assert (await http.post("/api/quotes", json={"model": "smart"})).status_code == 422
        await http.post(f"/api/jobs/{job['job_id']}/complete", json={})


async def test_job_type_quote_from_history(world: Server, history: dict[str, Any]) -> None:
    team_id = history["team"].id
    async with world.client(history["key"]) as http:
        r = await http.get(f"/api/teams/{team_id}/quote", params={"job_type": "analyse"})
        missing = await http.get(f"/api/teams/{team_id}/quote", params={"job_type": "never-run"})
        other = await http.get("/api/teams/00000000-0000-0000-0000-000000000001/quote", params={"job_type": "x"})
        no_type = await http.get(f"/api/teams/{team_id}/quote")
    assert r.status_code == 200, r.text
    credits = sorted(D(d["credits_deducted"]) for d in history["costs"]["analyse"])
    assert r.json()["jobs"] == 5
    assert D(r.json()["credits"]["p50"]) == percentile_of(credits, D(50))
    assert D(r.json()["credits"]["p95"]) == percentile_of(credits, D(95))
    assert (missing.status_code, missing.json()["code"]) == (404, "no_history")
    assert (other.status_code, other.json()["code"]) == (404, "not_found")
    assert no_type.status_code in (400, 422)


async def test_credits_carry_the_forecast_and_usage_shows_open_jobs(world: Server, history: dict[str, Any]) -> None:
    team, key = history["team"], history["key"]
    async with world.client(key) as http:
        credits = (await http.get(f"/api/teams/{team.id}/credits")).json()
        job = (await http.post("/api/jobs/create", json={"job_type": "open"})).json()
        world.upstream.push(Reply(chunks=("ok",), usage=openai_usage(1000, 500)))
        assert (
            await http.post(
                f"/api/jobs/{job['job_id']}/llm-call",
                json={"model": "smart", "messages": [{"role": "user", "content": "hi"}]},
            )
        ).status_code == 200
        usage = (await http.get(f"/api/teams/{team.id}/usage")).json()
        await http.post(f"/api/jobs/{job['job_id']}/complete", json={})
    assert D(credits["burn_rate_per_day"]) > 0 and credits["runs_out_at"] is not None
    assert datetime.fromisoformat(credits["runs_out_at"]) > datetime.now(UTC)
    assert credits["low_credit_threshold"] is None
    assert usage["in_progress"]["jobs"] == 1 and usage["in_progress"]["calls"] == 1
    assert D(usage["in_progress"]["customer_cost_usd"]) == D("0.006")
    assert usage["calls"] == sum(d["calls"] for d in usage["by_day"]) + 1
    _, fresh_key = await world.team(BudgetMode.JOB_BASED, credits=D(5))
    fresh = await world.services.client_auth.authenticate(fresh_key)
    async with world.client(fresh_key) as http:
        idle = (await http.get(f"/api/teams/{fresh.team_id}/credits")).json()
    assert (D(idle["burn_rate_per_day"]), idle["runs_out_at"]) == (0, None)


async def test_low_credit_threshold_over_the_admin_api(world: Server, history: dict[str, Any]) -> None:
    token = await admin_token(world, AdminRole.ADMIN)
    team_id = history["team"].id
    async with world.client(token) as http:
        ok = await http.put(f"/api/teams/{team_id}", json={"low_credit_threshold": "250.5"})
        bad = await http.put(f"/api/teams/{team_id}", json={"low_credit_threshold": "-1"})
        shown = (await http.get(f"/api/teams/{team_id}/credits")).json()
        cleared = await http.put(f"/api/teams/{team_id}", json={"low_credit_threshold": None})
    assert ok.status_code == 200 and ok.json()["low_credit_threshold"] == "250.5"
    assert bad.status_code == 422
    assert shown["low_credit_threshold"] == "250.5"
    assert cleared.json()["low_credit_threshold"] is None


async def test_new_endpoints_are_in_the_schema(world: Server) -> None:
    async with world.client() as http:
        paths = (await http.get("/schema/openapi.json")).json()["paths"]
    for path in ("/api/analytics/job-types", "/api/jobs/export.csv", "/api/quotes", "/api/teams/{team_id}/quote"):
        assert path in paths


async def test_panel_economics_page_and_team_forecast(world: Server, history: dict[str, Any]) -> None:
    email = f"econ-{uuid4().hex[:8]}@example.com"
    await world.services.admin_auth.create_user(email=email, password=PASSWORD, role=AdminRole.VIEWER)
    async with Panel(world.url) as panel:
        await panel.sign_in(email)
        r = await panel.get(
            "/admin/economics",
            params={
                "organization_id": str(world.organization.id),
                "target_margin": "0.30",
                "percentile": "95",
                "days": "7",
            },
        )
        bad = await panel.get("/admin/economics", params={"target_margin": "2"})
        team_page = await panel.get(f"/admin/teams/{history['team'].id}")
    assert r.status_code == 200, r.text
    price = suggested_flat_price(
        D(percentile_of(sorted(D(d["costs"]["provider_cost_usd"]) for d in history["costs"]["analyse"]), D(95))),
        D("0.30"),
    )
    assert 'id="economics-chart"' in r.text and "analyse" in r.text and "summarise" in r.text
    assert f"{price} USD" in r.text  # the exact suggested price, on hover
    assert bad.status_code == 422
    assert team_page.status_code == 200 and 'data-testid="burn-rate"' in team_page.text
    assert 'data-testid="runs-out"' in team_page.text and "not burning" not in team_page.text
