"""The login throttle over HTTP, behind a trusted proxy (127.0.0.1 plays the proxy here)."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.admins import AdminRole
from tests.e2e.admin_helpers import PASSWORD
from tests.e2e.conftest import Server, serve_world
from tests.postgres import fresh_database


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> AsyncIterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("e2e-throttle")
    async with (
        fresh_database(postgres_server_url, prefix="saasllm_e2e") as database_url,
        serve_world(data_dir, database_url, TRUSTED_PROXIES="127.0.0.1/32") as world,
    ):
        yield world


async def owner(server: Server, email: str) -> None:
    await server.services.admin_auth.create_user(email=email, password=PASSWORD, role=AdminRole.OWNER)


async def test_concurrent_wrong_guesses_never_exceed_the_limit(server: Server) -> None:
    await owner(server, "guessed@example.com")
    async with server.client() as http:
        responses = await asyncio.gather(
            *(
                http.post("/api/auth/login", json={"email": "guessed@example.com", "password": f"wrong guess {i:03d}"})
                for i in range(30)
            )
        )
    statuses = [r.status_code for r in responses]
    assert statuses.count(401) == 5, statuses  # only the first five reached the password check
    assert statuses.count(429) == 25, statuses
    for limited in (r for r in responses if r.status_code == 429):
        assert limited.json()["code"] == "rate_limited"
        assert 1 <= int(limited.headers["retry-after"]) <= 900


async def login(server: Server, email: str, password: str, forwarded_for: str) -> int:
    async with server.client() as http:
        response = await http.post(
            "/api/auth/login", json={"email": email, "password": password}, headers={"X-Forwarded-For": forwarded_for}
        )
        return response.status_code


async def test_each_forwarded_client_has_its_own_budget_and_cannot_spoof_another(server: Server) -> None:
    await owner(server, "sprayed@example.com")
    # The owner logs in from home once: that address is theirs from now on.
    assert await login(server, "sprayed@example.com", PASSWORD, "198.51.100.1") == 200
    for _ in range(5):
        assert await login(server, "sprayed@example.com", "a wrong guess!", "203.0.113.7") == 401
    assert await login(server, "sprayed@example.com", "a wrong guess!", "203.0.113.7") == 429
    # Writing another address on the left changes nothing: the proxy appended the real one.
    assert await login(server, "sprayed@example.com", PASSWORD, "198.51.100.1, 203.0.113.7") == 429
    # Another client of the same proxy is not held back by that one's failures.
    assert await login(server, "sprayed@example.com", "a wrong guess!", "203.0.113.8") == 401
    assert await login(server, "sprayed@example.com", PASSWORD, "198.51.100.1") == 200
