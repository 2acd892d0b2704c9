"""Hostile input over HTTP, one concrete case each: a clear 4xx problem document, never a
500, and nothing reaches a use case (no job, no hold, no provider request, no ledger entry)."""

from typing import Any

import httpx
import pytest

from domain.budgets import BudgetMode
from tests.e2e.admin_helpers import setup_owner
from tests.e2e.conftest import Server

JSON = {"content-type": "application/json"}
CALL = b'{"model": "smart", "messages": [{"role": "user", "content": "Hello"}]'
DRIVER_WORDS = ("psycopg", "DataError", "UntranslatableCharacter", "NumericValueOutOfRange", "Overflow", "Recursion")


@pytest.fixture(scope="module")
async def owner(server: Server) -> str:
    return await setup_owner(server)


def refused(response: httpx.Response, status: int = 422) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["code"] == ("unauthorized" if status == 401 else "invalid_request"), body
    assert not any(word in response.text for word in DRIVER_WORDS), response.text
    return body


async def ledger(http: httpx.AsyncClient, team_id: object) -> tuple[Any, Any]:
    credits = (await http.get(f"/api/teams/{team_id}/credits")).json()
    transactions = (await http.get(f"/api/teams/{team_id}/credits/transactions")).json()
    return credits, transactions


async def test_nul_in_job_fields_is_refused_before_the_job_exists(server: Server) -> None:
    team, key = await server.team(BudgetMode.JOB_BASED)
    bodies = [
        b'{"job_type": "doc\\u0000"}',
        b'{"job_type": "doc", "external_id": "ext-\\u0000"}',
        b'{"job_type": "doc", "metadata": {"k": "v\\u0000"}}',
        b'{"job_type": "doc", "metadata": {"k\\u0000": 1}}',
        b'{"job_type": "doc", "metadata": {"a": [{"b": {"\\u0000": true}}]}}',
    ]
    async with server.client(key) as http:
        before = await ledger(http, team.id)
        for body in bodies:
            problem = refused(await http.post("/api/jobs/create", content=body, headers=JSON))
            assert "NUL" in problem["detail"]
        assert (await http.get(f"/api/teams/{team.id}/jobs")).json()["items"] == []
        assert await ledger(http, team.id) == before  # job_based: not even the job's hold


async def test_nul_in_purpose_is_refused_before_any_hold(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        before, calls = await ledger(http, team.id), len(server.upstream.received)
        with_purpose = CALL + b', "purpose": "label\\u0000"}'
        for path in (f"/api/jobs/{job['job_id']}/llm-call", f"/api/jobs/{job['job_id']}/llm-call-stream"):
            refused(await http.post(path, content=with_purpose, headers=JSON))
        in_message = b'{"model": "smart", "messages": [{"role": "user", "content": "a\\u0000b"}]}'
        refused(await http.post(f"/api/jobs/{job['job_id']}/llm-call", content=in_message, headers=JSON))
        one_call = b'{"job_type": "doc", ' + with_purpose[1:]
        for path in ("/api/jobs/create-and-call", "/api/jobs/create-and-call-stream"):
            refused(await http.post(path, content=one_call, headers=JSON))
        assert await ledger(http, team.id) == before
        assert len(server.upstream.received) == calls
        assert len((await http.get(f"/api/teams/{team.id}/jobs")).json()["items"]) == 1


async def test_lone_surrogates_are_refused_as_text(server: Server) -> None:
    _, key = await server.team(BudgetMode.JOB_BASED)
    async with server.client(key) as http:
        for body in (b'{"job_type": "\\ud800"}', b'{"job_type": "a\\udc00b"}', b'{"job_type": "x", "\\udbff": 1}'):
            assert "surrogate" in refused(await http.post("/api/jobs/create", content=body, headers=JSON))["detail"]
        # A proper pair is one character, and welcome.
        emoji = await http.post("/api/jobs/create", content=b'{"job_type": "\\ud83d\\ude00"}', headers=JSON)
        assert emoji.status_code == 201 and emoji.json()["job_type"] == "\U0001f600"


async def test_a_body_that_is_not_utf8_is_malformed_not_a_crash(server: Server) -> None:
    _, key = await server.team(BudgetMode.JOB_BASED)
    async with server.client(key) as http:
        for body in (b'{"job_type": "a\xffb"}', b'{"job_type": "a\xed\xa0\x80b"}'):
            refused(await http.post("/api/jobs/create", content=body, headers=JSON), 400)


async def test_login_and_setup_refuse_nul_without_any_token(server: Server) -> None:
    async with server.client() as http:
        login = b'{"email": "owner\\u0000@example.com", "password": "x"}'
        refused(await http.post("/api/auth/login", content=login, headers=JSON))
        setup = b'{"email": "first@example.com", "password": "pass\\u0000word"}'
        refused(await http.post("/api/setup", content=setup, headers=JSON))


async def test_nul_in_a_path_or_query_parameter_is_refused(server: Server, owner: str) -> None:
    team, key = await server.team(BudgetMode.JOB_BASED)
    async with server.client(owner) as admin, server.client(key) as client:
        refused(await admin.get("/api/models/a%00b"))
        refused(await admin.put("/api/models/a%00b", json={"default_max_tokens": 10}))
        refused(await admin.delete("/api/model-access-groups/a%00b"))
        refused(await client.get(f"/api/teams/{team.id}/jobs?status=%00"))
        refused(await client.get(f"/api/teams/{team.id}/jobs?x%00=1"))
        refused(await admin.get("/api/audit-log?cursor=1%00"))


EDGE_DAYS = ("0001-01-01", "9999-12-31", "1969-12-31")


async def test_days_at_the_calendar_edges_are_refused(server: Server, owner: str) -> None:
    team, key = await server.team(BudgetMode.JOB_BASED)
    org = server.organization.id
    async with server.client(owner) as admin, server.client(key) as client:
        for http, path in (
            (client, f"/api/teams/{team.id}/jobs"),
            (client, f"/api/teams/{team.id}/usage"),
            (admin, "/api/jobs"),
            (admin, f"/api/organizations/{org}/usage"),
            (admin, "/api/analytics/overview"),
        ):
            for name in ("from", "to"):
                for day in EDGE_DAYS:
                    assert "must be a day from" in refused(await http.get(path, params={name: day}))["detail"]
            # The documented range's own edges are fine.
            assert (await http.get(path, params={"from": "1970-01-01", "to": "1970-12-31"})).status_code == 200
            assert (await http.get(path, params={"to": "9998-12-31"})).status_code == 200


async def test_decimals_with_exponents_or_beyond_bounds_are_refused(server: Server, owner: str) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(owner) as admin, server.client(key) as client:
        before = await ledger(client, team.id)
        for amount in ("1e1000000", "1e999999", "1E3", "1000000000001", "0.0000001", "NaN", "-Infinity"):
            refused(await admin.post(f"/api/teams/{team.id}/credits", json={"amount": amount}))
        for raw in (b"1e400", b"1" + b"0" * 30, b"2.5", b"true"):
            body = b'{"amount": ' + raw + b"}"
            refused(await admin.post(f"/api/teams/{team.id}/credits", content=body, headers=JSON))
        for rate in ("1e999999", "0", "-1", "1000000001"):
            refused(await admin.put(f"/api/teams/{team.id}", json={"credits_per_usd": rate}))
        alias = {"alias": "huge", "provider": "openai", "provider_model": "gpt-4o", "output_price_per_million": "1"}
        for price in ("1e999999", "1000001", "-1", "0.0000000001"):
            refused(await admin.post("/api/models/create", json={**alias, "input_price_per_million": price}))
        refused(await admin.put("/api/models/smart", json={"output_price_per_million": "1e6"}))
        assert await ledger(client, team.id) == before
        # Plain notation within bounds still works, and a JSON integer is plain notation too.
        for amount in ("10.5", "-0.5", "1000000000000"):
            assert (await admin.post(f"/api/teams/{team.id}/credits", json={"amount": amount})).status_code == 200
        assert (await admin.post(f"/api/teams/{team.id}/credits", json={"amount": 7})).status_code == 200


async def test_lenient_decimal_spellings_are_refused(server: Server, owner: str) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(owner) as admin, server.client(key) as client:
        before = await ledger(client, team.id)
        for amount in ("1_000", "\uff15", " 5 ", "+5", ".5", "5.", "\u0665"):
            problem = refused(await admin.post(f"/api/teams/{team.id}/credits", json={"amount": amount}))
            assert "plain decimal" in problem["detail"]
        assert await ledger(client, team.id) == before


def nested(depth: int) -> bytes:
    """A body whose ``metadata`` makes the whole document ``depth`` levels deep."""
    inner = b"[" * (depth - 2) + b"]" * (depth - 2)
    return b'{"job_type": "doc", "metadata": {"deep": ' + inner + b"}}"


async def test_deeply_nested_json_is_refused_on_every_json_endpoint(server: Server) -> None:
    team, key = await server.team(BudgetMode.JOB_BASED)
    async with server.client(key) as http, server.client() as anonymous:
        # metadata has its own bound (16 levels inside it): the document is then 18 deep
        assert (await http.post("/api/jobs/create", content=nested(18), headers=JSON)).status_code == 201
        problem = refused(await http.post("/api/jobs/create", content=nested(32), headers=JSON))
        assert "metadata nests deeper than 16" in problem["detail"]
        for depth in (33, 1000, 20_000):
            problem = refused(await http.post("/api/jobs/create", content=nested(depth), headers=JSON))
            assert "nested more than 32" in problem["detail"]
        deep_login = b"[" * 1000 + b"]" * 1000
        refused(await anonymous.post("/api/auth/login", content=deep_login, headers=JSON))
        assert len((await http.get(f"/api/teams/{team.id}/jobs")).json()["items"]) == 1


async def test_a_strangers_bad_body_is_unauthorized_not_parsed(server: Server, owner: str) -> None:
    team, key = await server.team(BudgetMode.JOB_BASED)
    bodies = (b"{bad", b"[" * 1000 + b"]" * 1000, b'{"job_type": "\\u0000"}', b'{"amount": "1e1000000"}')
    for token in (None, "sk-job-not-a-key", "not.a.jwt"):
        async with server.client(token) as http:
            for body in bodies:
                for path in ("/api/jobs/create", f"/api/teams/{team.id}/credits", "/api/organizations/create"):
                    refused(await http.post(path, content=body, headers=JSON), 401)
    # A team key is not an admin token: the admin route still answers 401 before the body.
    async with server.client(key) as http:
        refused(await http.post(f"/api/teams/{team.id}/credits", content=b"{bad", headers=JSON), 401)
    # The body is read only after the caller is known: a good login with a bad body is a body error.
    async with server.client(owner) as http:
        refused(await http.post("/api/organizations/create", content=b"{bad", headers=JSON), 400)


async def test_an_odd_audit_log_cursor_is_refused_not_a_crash(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        for cursor in ("\u00b2", "\u0663", "9" * 40, "x", "-1"):  # "²".isdigit(), yet int("²") raises
            refused(await http.get("/api/audit-log", params={"cursor": cursor}))
        assert (await http.get("/api/audit-log", params={"cursor": "12"})).status_code == 200
