"""A credential of the wrong kind is told which kind the route needs, never shown back.

The status and code stay those of every bad credential (401 ``unauthorized``, which
clients and tests branch on); ``detail`` says which credential the route takes.
"""

import httpx
import pytest

from domain.budgets import BudgetMode
from entrypoints.http.dependencies import ADMIN_LOGIN_NEEDED, TEAM_KEY_NEEDED
from tests.e2e.admin_helpers import setup_owner
from tests.e2e.conftest import Server


@pytest.fixture(scope="module")
async def owner(server: Server) -> str:
    return await setup_owner(server)


def refused(response: httpx.Response, detail: str, secret: str) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["code"] == "unauthorized" and body["detail"] == detail
    assert secret not in response.text and secret[-12:] not in response.text


async def test_a_team_key_on_the_admin_api_is_told_an_admin_token_is_needed(server: Server) -> None:
    team, key = await server.team(BudgetMode.JOB_BASED)
    async with server.client(key) as http:
        refused(await http.get("/api/organizations"), ADMIN_LOGIN_NEEDED, key)
        refused(await http.post("/api/organizations/create", json={"name": "x"}), ADMIN_LOGIN_NEEDED, key)
        refused(await http.post(f"/api/teams/{team.id}/credits", json={"amount": "5"}), ADMIN_LOGIN_NEEDED, key)


async def test_an_admin_token_on_the_client_api_is_told_a_team_key_is_needed(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        refused(await http.post("/api/jobs/create", json={"job_type": "x"}), TEAM_KEY_NEEDED, owner)
        refused(await http.post("/api/quotes", json={}), TEAM_KEY_NEEDED, owner)
        on_v1 = await http.post("/v1/chat/completions", json={"model": "smart", "messages": []})
    assert on_v1.status_code == 401 and on_v1.json()["error"]["message"] == TEAM_KEY_NEEDED
    assert owner not in on_v1.text


async def test_routes_that_take_either_still_take_both_and_bad_keys_stay_plain(server: Server, owner: str) -> None:
    team, key = await server.team(BudgetMode.JOB_BASED)
    for token in (key, owner):
        async with server.client(token) as http:
            assert (await http.get(f"/api/teams/{team.id}/usage")).status_code == 200
    async with server.client("sk-job-not-a-real-key") as http:
        unknown = await http.get("/api/jobs/00000000-0000-0000-0000-000000000000")
    assert unknown.status_code == 401 and unknown.json()["detail"] == "a valid team API key is required"
