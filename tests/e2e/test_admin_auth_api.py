"""Admin auth over HTTP: first-run setup, login, users (owner only), audit log, webhooks."""

from uuid import uuid4

import pytest

from domain.budgets import BudgetMode
from tests.e2e.conftest import Server

PASSWORD = "a long enough password"


async def login(server: Server, email: str, password: str = PASSWORD) -> str:
    async with server.client() as http:
        response = await http.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["token_type"] == "bearer" and body["expires_in"] == 900
        return str(body["access_token"])


@pytest.fixture(scope="module")
async def owner_token(server: Server) -> str:
    async with server.client() as http:
        assert (await http.get("/api/setup/status")).json() == {"needs_setup": True}
        created = await http.post("/api/setup", json={"email": "owner@example.com", "password": PASSWORD})
        assert created.status_code == 201, created.text
        assert "password" not in created.text
        assert (await http.get("/api/setup/status")).json() == {"needs_setup": False}
        again = await http.post("/api/setup", json={"email": "second@example.com", "password": PASSWORD})
        assert again.status_code == 409
    return await login(server, "owner@example.com")


async def test_owner_manages_users_and_every_write_is_audited(server: Server, owner_token: str) -> None:
    async with server.client(owner_token) as http:
        created = await http.post(
            "/api/users/create", json={"email": "viewer@example.com", "password": PASSWORD, "role": "viewer"}
        )
        assert created.status_code == 201, created.text
        user = created.json()
        assert user["role"] == "viewer" and "password" not in created.text
        users = (await http.get("/api/users")).json()["items"]
        assert {u["email"] for u in users} >= {"owner@example.com", "viewer@example.com"}
        viewer_token = await login(server, "viewer@example.com")
        async with server.client(viewer_token) as viewer:
            denied = await viewer.post(
                "/api/users/create", json={"email": "x@example.com", "password": PASSWORD, "role": "admin"}
            )
            assert denied.status_code == 403 and denied.json()["code"] == "forbidden"
            assert (await viewer.get("/api/users")).status_code == 403
        updated = await http.put(f"/api/users/{user['id']}", json={"role": "admin"})
        assert updated.json()["role"] == "admin"
        assert (await http.delete(f"/api/users/{user['id']}")).status_code == 204
        assert (await http.delete(f"/api/users/{user['id']}")).status_code == 404
        audit = (await http.get("/api/audit-log")).json()["items"]
        assert [e["action"] for e in audit[:3]] == ["user.delete", "user.update", "user.create"]
        assert PASSWORD not in str(audit)


async def test_the_last_owner_cannot_delete_itself(server: Server, owner_token: str) -> None:
    async with server.client(owner_token) as http:
        me = next(u for u in (await http.get("/api/users")).json()["items"] if u["email"] == "owner@example.com")
        assert (await http.delete(f"/api/users/{me['id']}")).status_code == 409


async def test_missing_bad_and_tampered_tokens_are_401(server: Server, owner_token: str) -> None:
    header, payload, signature = owner_token.split(".")
    for token in (None, "garbage", f"{header}.{payload}.{signature[:-2]}xx", f"{header}.{payload}."):
        async with server.client(token) as http:
            response = await http.get("/api/users")
            assert response.status_code == 401 and response.json()["code"] == "unauthorized"


async def test_wrong_password_is_401_and_repeated_failures_429(server: Server, owner_token: str) -> None:
    email = f"nobody-{uuid4().hex[:6]}@example.com"
    async with server.client() as http:
        statuses = [
            (await http.post("/api/auth/login", json={"email": email, "password": "wrong password!"})).status_code
            for _ in range(6)
        ]
    assert statuses == [401] * 5 + [429]


async def test_webhook_creation_shows_the_secret_once(server: Server, owner_token: str) -> None:
    async with server.client(owner_token) as http:
        response = await http.post(
            "/api/webhooks/create",
            json={
                "organization_id": str(server.organization.id),
                "url": "https://example.com/hook",
                "events": ["job.completed"],
            },
        )
        assert response.status_code == 201, response.text
        assert response.json()["secret"].startswith("whsec_")
        bad = await http.post(
            "/api/webhooks/create",
            json={"organization_id": str(server.organization.id), "url": "https://example.com/h", "events": ["nope"]},
        )
        assert bad.status_code == 422


async def test_client_keys_do_not_open_the_admin_api(server: Server, owner_token: str) -> None:
    _, key = await server.team(BudgetMode.JOB_BASED)
    async with server.client(key) as http:
        assert (await http.get("/api/users")).status_code == 401


async def test_forwarded_for_from_an_untrusted_peer_cannot_buy_more_guesses(server: Server, owner_token: str) -> None:
    email = f"target-{uuid4().hex[:6]}@example.com"
    async with server.client() as http:
        statuses = [
            (
                await http.post(
                    "/api/auth/login",
                    json={"email": email, "password": "wrong password!"},
                    headers={"X-Forwarded-For": f"203.0.113.{i}"},  # TRUSTED_PROXIES is empty here
                )
            ).status_code
            for i in range(6)
        ]
    assert statuses == [401] * 5 + [429]
