"""The admin API over HTTP: what each endpoint does (the role matrix checks who may),
organization isolation, the audit trail, and admins reading client-side resources."""

from typing import Any

import httpx
import pytest

from domain.admins import AdminRole
from domain.budgets import BudgetMode
from tests.e2e.admin_helpers import admin_token, create_team, setup_owner
from tests.e2e.conftest import Server, openai_usage
from tests.support.fake_provider import Reply

JSON = dict[str, Any]


@pytest.fixture(scope="module")
async def owner(server: Server) -> str:
    return await setup_owner(server)


async def ok(response: httpx.Response, status: int = 200) -> JSON:
    assert response.status_code == status, response.text
    body: JSON = response.json() if response.content else {}
    return body


async def test_organizations_and_teams_lifecycle(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        org = await ok(await http.post("/api/organizations/create", json={"name": "Globex Corp"}), 201)
        assert org["slug"] == "globex-corp" and set(org) == {"id", "name", "slug", "created_at", "version"}
        assert (
            await http.post("/api/organizations/create", json={"name": "G", "slug": "globex-corp"})
        ).status_code == 409
        bad = await http.post("/api/organizations/create", json={"name": "x", "colour": "red"})
        assert bad.status_code == 422 and bad.headers["content-type"].startswith("application/problem+json")
        renamed = await ok(await http.put(f"/api/organizations/{org['id']}", json={"name": "Globex"}))
        assert renamed["name"] == "Globex" and renamed["slug"] == "globex-corp"

        created = await create_team(
            http,
            org["id"],
            "Research",
            budget_mode="consumption_usd",
            credits="50.5",
            credits_per_usd="20",
            access_groups=["standard"],
        )
        team, key = created["team"], created["api_key"]
        assert key.startswith("sk-job-") and team["credits_per_usd"] == "20" and team["tokens_per_credit"] == 10000
        fetched = await ok(await http.get(f"/api/teams/{team['id']}"))
        assert fetched["credits"] == {"allocated": "50.5", "used": "0", "held": "0", "remaining": "50.5"}
        unknown_group = await http.put(f"/api/teams/{team['id']}", json={"access_groups": ["nope"]})
        assert unknown_group.status_code == 422
        updated = await ok(
            await http.put(
                f"/api/teams/{team['id']}",
                json={"name": "R&D", "budget_mode": "consumption_tokens", "tokens_per_credit": 500,
                      "access_groups": ["standard", "premium"]},
            )
        )  # fmt: skip
        assert (updated["name"], updated["budget_mode"], updated["tokens_per_credit"]) == (
            "R&D",
            "consumption_tokens",
            500,
        )
        assert updated["access_groups"] == ["standard", "premium"]
        listed = await ok(await http.get("/api/teams", params={"organization_id": org["id"]}))
        assert [t["id"] for t in listed["items"]] == [team["id"]] and listed["next_cursor"] is None
        assert (await http.delete(f"/api/organizations/{org['id']}")).status_code == 409  # it has a team

        # Suspension shows on the client side at once (the key was never cached yet).
        await ok(await http.put(f"/api/teams/{team['id']}/suspend"))
        async with server.client(key) as client:
            refused = await client.post("/api/jobs/create", json={"job_type": "doc"})
            assert refused.status_code == 403 and refused.json()["code"] == "team_suspended"
        assert (await ok(await http.put(f"/api/teams/{team['id']}/resume")))["status"] == "active"

        empty = await ok(await http.post("/api/organizations/create", json={"name": "Empty"}), 201)
        assert (await http.delete(f"/api/organizations/{empty['id']}")).status_code == 204
        assert (await http.get(f"/api/organizations/{empty['id']}")).status_code == 404


async def test_credits_apply_once_per_idempotency_key_and_never_below_zero(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        created = await create_team(http, str(server.organization.id), "c")
        team_id = created["team"]["id"]
        body = {"amount": "10.5", "reason": "invoice 42", "idempotency_key": "inv-42"}
        first = await ok(await http.post(f"/api/teams/{team_id}/credits", json=body))
        again = await ok(await http.post(f"/api/teams/{team_id}/credits", json=body))
        assert first["applied"] is True and first["transaction"]["type"] == "allocation"
        assert again["applied"] is False and again["transaction"] is None and again["remaining"] == "10.5"
        down = await ok(await http.post(f"/api/teams/{team_id}/credits", json={"amount": "-0.5", "reason": "fix"}))
        assert down["transaction"]["type"] == "adjustment" and down["remaining"] == "10"
        too_much = await http.post(f"/api/teams/{team_id}/credits", json={"amount": "-11"})
        assert too_much.status_code == 402
        for amount in ("0", "NaN", "0.0000001", "abc"):
            assert (await http.post(f"/api/teams/{team_id}/credits", json={"amount": amount})).status_code == 422
        ledger = await ok(await http.get(f"/api/teams/{team_id}/credits/transactions"))
        assert [e["amount"] for e in ledger["items"]] == ["-0.5", "10.5"]


async def test_keys_are_listed_by_prefix_and_revocation_locks_the_key_out(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        created = await create_team(http, str(server.organization.id), "k", credits="3")
        team_id, first_key = created["team"]["id"], created["api_key"]
        second = await ok(await http.post(f"/api/teams/{team_id}/keys"), 201)
        keys = (await ok(await http.get(f"/api/teams/{team_id}/keys")))["items"]
        assert [k["prefix"] for k in keys] == [first_key[:12], second["api_key"][:12]]
        assert first_key not in str(keys) and second["api_key"] not in str(keys)
        assert (await http.delete(f"/api/teams/{team_id}/keys/{second['key_id']}")).status_code == 204
        assert (await http.delete(f"/api/teams/{team_id}/keys/{second['key_id']}")).status_code == 404
        async with server.client(second["api_key"]) as client:
            assert (await client.get(f"/api/teams/{team_id}/credits")).status_code == 401
        keys = (await ok(await http.get(f"/api/teams/{team_id}/keys")))["items"]
        assert [k["active"] for k in keys] == [True, False]


async def test_model_aliases_groups_and_pricing(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        body = {
            "alias": "claude-fast",
            "provider": "anthropic",
            "provider_model": "claude-haiku-4-5",
            "input_price_per_million": "2",
            "output_price_per_million": "10",
            "default_max_tokens": 2048,
            "access_groups": ["fast"],
            "fallbacks": ["smart"],
        }
        alias = await ok(await http.post("/api/models/create", json=body), 201)
        assert alias["id"] == alias["alias"] == "claude-fast"
        # Catalog costs for the configured model; cache prices at the catalog's ratio to input.
        assert alias["provider_input_cost_per_million"] == "1"
        assert alias["cached_input_price_per_million"] == "0.2" and alias["cache_write_price_per_million"] == "2.5"
        assert (await http.post("/api/models/create", json=body)).status_code == 409
        unknown = {**body, "alias": "mystery", "provider_model": "not-a-real-model"}
        assert (await http.post("/api/models/create", json=unknown)).status_code == 422
        priced = {**unknown, "provider_input_cost_per_million": "1", "provider_output_cost_per_million": "3"}
        assert (await ok(await http.post("/api/models/create", json=priced), 201))[
            "provider_output_cost_per_million"
        ] == "3"
        assert (await http.post("/api/models/create", json={**body, "alias": "x", "temperature": 1})).status_code == 422

        changed = await ok(await http.put("/api/models/claude-fast", json={"output_price_per_million": "12"}))
        assert changed["output_price_per_million"] == "12" and changed["input_price_per_million"] == "2"
        assert (await ok(await http.get("/api/models/claude-fast")))["default_max_tokens"] == 2048
        assert "claude-fast" in [m["alias"] for m in (await ok(await http.get("/api/models")))["items"]]

        group = await ok(
            await http.post("/api/model-access-groups/create", json={"name": "team/beta", "models": ["smart"]}), 201
        )
        assert group == {"id": "team/beta", "name": "team/beta", "models": ["smart"], "version": 1}
        assert (
            await ok(await http.put("/api/model-access-groups/team/beta", json={"models": ["claude-fast", "smart"]}))
        )["models"] == ["claude-fast", "smart"]
        bad = await http.post("/api/model-access-groups/create", json={"name": "g2", "models": ["nope"]})
        assert bad.status_code == 422

        pricing = await ok(await http.get("/api/pricing"))
        fast = next(i for i in pricing["items"] if i["alias"] == "claude-fast")
        assert fast["customer_price_per_million"]["output"] == "12"
        assert fast["provider_cost_per_million"]["output"] == "5"
        assert fast["margin_per_million"] == {
            "input": "1", "output": "7", "cached_input": "0.1", "cache_write": "1.25", "reasoning": "7"
        }  # fmt: skip
        assert fast["catalog_price_per_million"]["input"] == "1"
        assert any(c["provider"] == "anthropic" and c["model"] == "claude-haiku-4-5" for c in pricing["catalog"])
        assert next(i for i in pricing["items"] if i["alias"] == "mystery")["catalog_price_per_million"] is None

        assert (await http.delete("/api/models/smart")).status_code == 409  # claude-fast falls back to it
        assert (await http.delete("/api/model-access-groups/team/beta")).status_code == 204
        assert (await http.delete("/api/models/mystery")).status_code == 204
        assert (await http.get("/api/models/mystery")).status_code == 404


async def test_credentials_show_hints_only_and_follow_their_active_flag(server: Server, owner: str) -> None:
    org = str(server.organization.id)
    async with server.client(owner) as http:
        created = await ok(
            await http.post(
                "/api/provider-credentials/create",
                json={"organization_id": org, "provider": "gemini", "name": "g", "api_key": "AIza-secret-key-9f9f",
                      "api_base": "https://gemini.example/v1beta/"},
            ),
            201,
        )  # fmt: skip
        assert created["key_hint"] == "AIz…9f9f" and created["api_base"] == "https://gemini.example/v1beta"
        assert "api_key" not in created and "encrypted_key" not in created
        listed = (await ok(await http.get(f"/api/provider-credentials/organization/{org}")))["items"]
        assert created["id"] in [c["id"] for c in listed] and "AIza-secret-key-9f9f" not in str(listed)
        assert (await ok(await http.put(f"/api/provider-credentials/{created['id']}/deactivate")))["is_active"] is False
        assert (await ok(await http.put(f"/api/provider-credentials/{created['id']}/activate")))["is_active"] is True
        renamed = await ok(  # a changed api_base needs the key again
            await http.put(
                f"/api/provider-credentials/{created['id']}",
                json={"name": "gem", "api_base": None, "api_key": "AIza-secret-key-9f9f"},
            )
        )
        assert (renamed["name"], renamed["api_base"], renamed["key_hint"]) == ("gem", None, "AIz…9f9f")
        assert (await http.delete(f"/api/provider-credentials/{created['id']}")).status_code == 204
        assert (await http.delete(f"/api/provider-credentials/{created['id']}")).status_code == 404


async def test_admins_read_jobs_usage_and_the_overview(server: Server, owner: str) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("ok",), usage=openai_usage(1000, 500)))
    async with server.client(key) as client:
        job = (await client.post("/api/jobs/create", json={"job_type": "doc"})).json()
        call = await client.post(
            f"/api/jobs/{job['job_id']}/llm-call",
            json={"model": "smart", "messages": [{"role": "user", "content": "x"}]},
        )
        assert call.status_code == 200, call.text
        await client.post(f"/api/jobs/{job['job_id']}/complete", json={})
        other = (await client.post("/api/jobs/create", json={"job_type": "other"})).json()
    async with server.client(owner) as http:
        detail = await ok(await http.get(f"/api/jobs/{job['job_id']}"))
        assert detail["status"] == "completed" and len(detail["calls"]) == 1
        assert detail["costs"]["customer_cost_usd"] == "0.006"
        page = await ok(await http.get("/api/jobs", params={"team_id": str(team.id), "limit": 1}))
        assert [j["job_id"] for j in page["items"]] == [other["job_id"]] and page["next_cursor"]
        rest = await ok(await http.get("/api/jobs", params={"team_id": str(team.id), "cursor": page["next_cursor"]}))
        assert [j["job_id"] for j in rest["items"]] == [job["job_id"]]
        done = await ok(await http.get("/api/jobs", params={"team_id": str(team.id), "status": "completed"}))
        assert [j["job_id"] for j in done["items"]] == [job["job_id"]]
        usage = await ok(await http.get(f"/api/teams/{team.id}/usage"))
        assert usage["customer_cost_usd"] == "0.006" and usage["jobs"]["completed"] == 1
        org_usage = await ok(await http.get(f"/api/organizations/{server.organization.id}/usage"))
        row = next(t for t in org_usage["by_team"] if t["team_id"] == str(team.id))
        assert (row["calls"], row["customer_cost_usd"], row["margin_usd"]) == (1, "0.006", "0.003")
        overview = await ok(await http.get("/api/analytics/overview"))
        openai = next(p for p in overview["by_provider"] if p["provider"] == "openai")
        assert openai["calls"] >= 1 and openai["margin_rate"] == "0.5000"
        assert overview["error_rates"]["calls"] is not None
        for money in (overview["provider_cost_usd"], overview["customer_cost_usd"], overview["margin_usd"]):
            assert isinstance(money, str)
        assert (
            await http.get("/api/analytics/overview", params={"from": "2026-02-01", "to": "2025-01-01"})
        ).status_code == 422


async def test_a_scoped_admin_cannot_see_or_touch_another_organization(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        b = await ok(await http.post("/api/organizations/create", json={"name": "Org B"}), 201)
        b_team = await create_team(http, b["id"], "b", credits="5", access_groups=["standard"])
        b_cred = await ok(
            await http.post(
                "/api/provider-credentials/create",
                json={"organization_id": b["id"], "provider": "openai", "name": "b", "api_key": "sk-org-b-key-1234"},
            ),
            201,
        )
    async with server.client(b_team["api_key"]) as client:
        b_job = (await client.post("/api/jobs/create", json={"job_type": "doc"})).json()
    team_id, job_id, cred_id = b_team["team"]["id"], b_job["job_id"], b_cred["id"]

    scoped_a = await admin_token(server, AdminRole.ADMIN, server.organization)
    async with server.client(scoped_a) as http:
        for method, path, body in [
            ("GET", f"/api/organizations/{b['id']}", None),
            ("GET", f"/api/organizations/{b['id']}/usage", None),
            ("GET", f"/api/teams/{team_id}", None),
            ("PUT", f"/api/teams/{team_id}", {"name": "mine now"}),
            ("POST", f"/api/teams/{team_id}/credits", {"amount": "1000"}),
            ("PUT", f"/api/teams/{team_id}/suspend", None),
            ("POST", f"/api/teams/{team_id}/keys", None),
            ("GET", f"/api/teams/{team_id}/keys", None),
            ("GET", f"/api/teams/{team_id}/usage", None),
            ("GET", f"/api/teams/{team_id}/credits", None),
            ("GET", f"/api/teams?organization_id={b['id']}", None),
            ("GET", f"/api/provider-credentials/organization/{b['id']}", None),
            ("PUT", f"/api/provider-credentials/{cred_id}", {"name": "x"}),
            ("PUT", f"/api/provider-credentials/{cred_id}/deactivate", None),
            ("DELETE", f"/api/provider-credentials/{cred_id}", None),
            ("GET", f"/api/jobs/{job_id}", None),
            ("GET", f"/api/jobs?team_id={team_id}", None),
            ("POST", "/api/teams/create", {"organization_id": b["id"], "name": "x", "budget_mode": "job_based"}),
            ("POST", "/api/webhooks/create", {"organization_id": b["id"], "url": "https://x.example/h",
                                              "events": ["job.completed"]}),
        ]:  # fmt: skip
            response = await http.request(method, path, json=body)
            assert response.status_code == 404, (method, path, response.text)
        # Listings are limited to its own organization.
        orgs = (await ok(await http.get("/api/organizations")))["items"]
        assert [o["id"] for o in orgs] == [str(server.organization.id)]
        teams = (await ok(await http.get("/api/teams")))["items"]
        assert team_id not in [t["id"] for t in teams] and teams
        jobs = (await ok(await http.get("/api/jobs")))["items"]
        assert job_id not in [j["job_id"] for j in jobs]
        overview = await ok(await http.get("/api/analytics/overview"))
        assert overview["organization_id"] == str(server.organization.id)
    async with server.client(owner) as http:  # nothing changed in org B
        after = await ok(await http.get(f"/api/teams/{team_id}"))
        assert (after["name"], after["status"], after["credits"]["allocated"]) == ("b", "active", "5")
        assert [
            c["is_active"]
            for c in (await ok(await http.get(f"/api/provider-credentials/organization/{b['id']}")))["items"]
        ] == [True]


async def test_every_write_is_in_the_audit_log_with_before_and_after(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        org = await ok(await http.post("/api/organizations/create", json={"name": "Audited"}), 201)
        await ok(await http.put(f"/api/organizations/{org['id']}", json={"name": "Audited Inc"}))
        cred = await ok(
            await http.post(
                "/api/provider-credentials/create",
                json={"organization_id": org["id"], "provider": "openai", "name": "a", "api_key": "sk-audit-key-7777"},
            ),
            201,
        )
        await ok(await http.put(f"/api/provider-credentials/{cred['id']}", json={"api_key": "sk-audit-key-8888"}))
        entries = (await ok(await http.get("/api/audit-log", params={"limit": 3})))["items"]
    assert [e["action"] for e in entries] == ["credential.update", "credential.create", "organization.update"]
    assert all(e["actor_email"] == "owner@example.com" and e["actor_id"] for e in entries)
    update = entries[0]
    assert update["target_type"] == "provider_credential" and update["target_id"] == cred["id"]
    assert update["before"]["key_hint"] == "sk-…7777" and update["after"]["key_hint"] == "sk-…8888"
    assert update["after"]["api_key"] == "[redacted]"
    assert entries[2]["before"] == {"name": "Audited", "slug": "audited"}
    assert "sk-audit-key" not in str(entries)
    scoped = await admin_token(server, AdminRole.VIEWER, server.organization)
    async with server.client(scoped) as http:  # a scoped admin reads its organization's entries only
        mine = (await ok(await http.get("/api/audit-log", params={"limit": 200})))["items"]
    assert mine and all(e["organization_id"] == str(server.organization.id) for e in mine)


async def test_a_new_team_answers_with_the_credits_it_allocated(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        org = await ok(await http.post("/api/organizations/create", json={"name": "Initech"}), 201)
        funded = await create_team(http, org["id"], "funded", credits="12.25")
        assert funded["team"]["credits"] == {"allocated": "12.25", "used": "0", "held": "0", "remaining": "12.25"}
        empty = await create_team(http, org["id"], "empty")
        assert empty["team"]["credits"] == {"allocated": "0", "used": "0", "held": "0", "remaining": "0"}
        fetched = await ok(await http.get(f"/api/teams/{funded['team']['id']}"))
        assert fetched["credits"] == funded["team"]["credits"]
