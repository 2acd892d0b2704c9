"""First-run setup raced over HTTP: however many arrive at once, one owner is created."""

import asyncio
from typing import Any

import pytest

from adapters.postgres.repositories.admin import PostgresAdminUserRepository
from tests.e2e.admin_helpers import PASSWORD
from tests.e2e.conftest import Server
from tests.races import Rendezvous

RACERS = 10


async def test_concurrent_setups_create_exactly_one_owner(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # Argon2 staggers real requests enough that they rarely overlap by chance; hold every
    # "how many admins are there?" read until all racers made it, so a check-then-insert
    # setup would let them all through every time.
    gate = Rendezvous(RACERS)
    count = PostgresAdminUserRepository.count

    async def gated_count(self: PostgresAdminUserRepository) -> int:
        n = await count(self)
        await gate()
        return n

    async with server.client() as http:
        assert (await http.get("/api/setup/status")).json() == {"needs_setup": True}
        monkeypatch.setattr(PostgresAdminUserRepository, "count", gated_count)
        responses = await asyncio.gather(
            *(
                http.post("/api/setup", json={"email": f"first{i}@example.com", "password": PASSWORD})
                for i in range(RACERS)
            )
        )
        monkeypatch.undo()
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [201] + [409] * (RACERS - 1), [r.text for r in responses]
        assert all(r.json()["code"] == "conflict" for r in responses if r.status_code == 409)
        assert (await http.get("/api/setup/status")).json() == {"needs_setup": False}
        winner: dict[str, Any] = next(r.json() for r in responses if r.status_code == 201)
        token = (await http.post("/api/auth/login", json={"email": winner["email"], "password": PASSWORD})).json()
        listed = await http.get("/api/users", headers={"Authorization": f"Bearer {token['access_token']}"})
        assert [u["email"] for u in listed.json()["items"]] == [winner["email"]]
