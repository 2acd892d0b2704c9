"""ETag and If-Match on admin updates: a stale version gets 412 and changes nothing."""

from typing import Any

import httpx
import pytest

from domain.budgets import BudgetMode
from tests.e2e.admin_helpers import setup_owner
from tests.e2e.conftest import Server

JSON = dict[str, Any]


@pytest.fixture(scope="module")
async def owner(server: Server) -> str:
    return await setup_owner(server)


def refused_as_stale(response: httpx.Response) -> None:
    assert response.status_code == 412, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["code"] == "precondition_failed"


async def test_a_team_update_with_a_stale_if_match_is_refused_and_changes_nothing(server: Server, owner: str) -> None:
    team, _ = await server.team(BudgetMode.JOB_BASED)
    async with server.client(owner) as http:
        read = await http.get(f"/api/teams/{team.id}")
        assert read.headers["etag"] == '"1"' and read.json()["version"] == 1
        renamed = await http.put(f"/api/teams/{team.id}", json={"name": "Renamed"}, headers={"If-Match": '"1"'})
        assert renamed.status_code == 200 and renamed.headers["etag"] == '"2"' and renamed.json()["version"] == 2
        refused_as_stale(await http.put(f"/api/teams/{team.id}", json={"name": "Lost"}, headers={"If-Match": '"1"'}))
        refused_as_stale(await http.put(f"/api/teams/{team.id}/suspend", headers={"If-Match": '"1"'}))
        for malformed in ('W/"2"', "2", '"2", "3"', '"two"'):
            refused_as_stale(
                await http.put(f"/api/teams/{team.id}", json={"name": "x"}, headers={"If-Match": malformed})
            )
        after = (await http.get(f"/api/teams/{team.id}")).json()
        assert (after["name"], after["status"], after["version"]) == ("Renamed", "active", 2)
        suspended = await http.put(f"/api/teams/{team.id}/suspend", headers={"If-Match": '"2"'})
        assert suspended.json()["status"] == "suspended" and suspended.headers["etag"] == '"3"'
        # Without If-Match (or with *), an update still works and writes only what it was given.
        again = await http.put(f"/api/teams/{team.id}", json={"name": "Again"}, headers={"If-Match": "*"})
        assert (again.json()["name"], again.json()["status"], again.json()["version"]) == ("Again", "suspended", 4)
        same = await http.put(f"/api/teams/{team.id}", json={"name": "Again"})
        assert same.status_code == 200 and same.json()["version"] == 4  # nothing changed, nothing written


async def test_organizations_aliases_groups_and_credentials_honour_if_match(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        org: JSON = (await http.post("/api/organizations/create", json={"name": "Initech"})).json()
        assert org["version"] == 1
        assert (await http.get(f"/api/organizations/{org['id']}")).headers["etag"] == '"1"'
        url = f"/api/organizations/{org['id']}"
        assert (await http.put(url, json={"name": "Initech 2"}, headers={"If-Match": '"1"'})).status_code == 200
        refused_as_stale(await http.put(url, json={"slug": "lost"}, headers={"If-Match": '"1"'}))
        assert (await http.get(url)).json()["slug"] == "initech"

        created = await http.post(
            "/api/models/create",
            json={
                "alias": "etag/model",
                "provider": "openai",
                "provider_model": "gpt-etag",
                "input_price_per_million": "1",
                "output_price_per_million": "2",
                "provider_input_cost_per_million": "0.5",
                "provider_output_cost_per_million": "1",
                "access_groups": ["etag-group"],
            },
        )
        assert created.status_code == 201, created.text
        alias_url = "/api/models/etag/model"
        tag = (await http.get(alias_url)).headers["etag"]
        changed = await http.put(alias_url, json={"default_max_tokens": 99}, headers={"If-Match": tag})
        assert changed.status_code == 200 and changed.headers["etag"] != tag
        refused_as_stale(await http.put(alias_url, json={"default_max_tokens": 1}, headers={"If-Match": tag}))
        assert (await http.get(alias_url)).json()["default_max_tokens"] == 99

        groups = (await http.get("/api/model-access-groups")).json()["items"]
        group = next(g for g in groups if g["name"] == "etag-group")
        group_url = "/api/model-access-groups/etag-group"
        stale = f'"{group["version"]}"'
        emptied = await http.put(group_url, json={"models": []}, headers={"If-Match": stale})
        assert emptied.status_code == 200 and emptied.json()["version"] == group["version"] + 1
        refused_as_stale(await http.put(group_url, json={"models": ["etag/model"]}, headers={"If-Match": stale}))

        credential = (
            await http.post(
                "/api/provider-credentials/create",
                json={"organization_id": org["id"], "provider": "openai", "name": "k", "api_key": "sk-etag-secret-1"},
            )
        ).json()
        cred_url = f"/api/provider-credentials/{credential['id']}"
        off = await http.put(f"{cred_url}/deactivate", headers={"If-Match": '"1"'})
        assert off.status_code == 200 and off.headers["etag"] == '"2"'
        refused_as_stale(await http.put(cred_url, json={"name": "lost"}, headers={"If-Match": '"1"'}))
        refused_as_stale(await http.put(f"{cred_url}/activate", headers={"If-Match": '"1"'}))
        listed = (await http.get(f"/api/provider-credentials/organization/{org['id']}")).json()["items"]
        assert [(c["name"], c["is_active"], c["version"]) for c in listed] == [("k", False, 2)]
