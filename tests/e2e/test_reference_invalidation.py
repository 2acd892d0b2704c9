"""Cached reference data is forgotten everywhere within a second of a change.

Two app instances on one Postgres: instance B serves calls from its warm caches (keys,
teams, aliases, credentials are kept for a minute while its change feed is connected);
an admin change made through instance A reaches B through LISTEN/NOTIFY, so a revoked key
or a suspended team stops working on B within a second, and a changed alias or
credential is used there within a second.
"""

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from uuid import uuid4

import httpx
import pytest

from application.services.models import AliasChanges
from domain.admins import AdminPrincipal, AdminRole
from domain.budgets import BudgetMode
from domain.ids import AdminUserId
from domain.organizations import Team, TeamStatus
from tests.e2e.conftest import Server, fresh_world, openai_usage, second_instance
from tests.support.fake_provider import Reply

OWNER = AdminPrincipal(user_id=AdminUserId(uuid4()), email="ops@example.com", role=AdminRole.OWNER)
CALL = {"model": "smart", "messages": [{"role": "user", "content": "Hello"}], "job_type": "cache"}
WITHIN_S = 1.0


@dataclass
class Pair:
    a: Server  # where the admin changes are made
    b_url: str  # the instance whose caches must learn of them


@pytest.fixture
async def pair(tmp_path: Path, postgres_server_url: str) -> AsyncIterator[Pair]:
    async with (
        fresh_world(postgres_server_url, tmp_path, "saasllm_e2e_ref") as first,
        second_instance(first) as b_url,  # it shares the first's generated secrets
    ):
        yield Pair(a=first, b_url=b_url)


def reply() -> Reply:
    return Reply(chunks=("hi",), usage=openai_usage(5, 2))


async def call_b(pair: Pair, key: str) -> httpx.Response:
    pair.a.upstream.push(reply())
    async with httpx.AsyncClient(base_url=pair.b_url, headers={"Authorization": f"Bearer {key}"}) as http:
        return await http.post("/api/jobs/create-and-call", json=CALL)


async def within(check: Callable[[], Awaitable[bool]], seconds: float = WITHIN_S) -> float:
    """How long until ``check()`` holds; fails when it does not within ``seconds``."""
    started = time.monotonic()
    while not await check():
        elapsed = time.monotonic() - started
        assert elapsed < seconds, f"still not seen after {elapsed:.2f} s"
        await asyncio.sleep(0.02)
    return time.monotonic() - started


async def warmed_team(pair: Pair) -> tuple[Team, str]:
    """A new team and its key that B has served, so its key, team, alias and credential are cached."""
    team, key = await pair.a.team(BudgetMode.CONSUMPTION_USD, credits=Decimal(100))
    for _ in range(2):
        response = await call_b(pair, key)
        assert response.status_code == 200, response.text
    return team, key


def b_answers(pair: Pair, key: str, status: int, code: str | None = None) -> Callable[[], Awaitable[bool]]:
    """A check for ``within``: B answers a call with ``key`` by ``status`` (and problem ``code``, if given)."""

    async def check() -> bool:
        response = await call_b(pair, key)
        return response.status_code == status and (code is None or response.json()["code"] == code)

    return check


async def test_a_revoked_key_stops_working_on_the_other_instance_within_a_second(pair: Pair) -> None:
    team, key = await warmed_team(pair)
    (stored,) = await pair.a.services.organizations.list_keys(OWNER, team.id)
    await pair.a.services.organizations.revoke_key(OWNER, team.id, stored.id)
    await within(b_answers(pair, key, 401))


async def test_a_suspended_team_is_refused_on_the_other_instance_within_a_second(pair: Pair) -> None:
    team, key = await warmed_team(pair)
    await pair.a.services.organizations.set_status(team.id, TeamStatus.SUSPENDED, actor=OWNER)
    await within(b_answers(pair, key, 403, "team_suspended"))
    await pair.a.services.organizations.set_status(team.id, TeamStatus.ACTIVE, actor=OWNER)
    await within(b_answers(pair, key, 200))


async def test_a_changed_alias_and_credential_are_used_on_the_other_instance_within_a_second(pair: Pair) -> None:
    _, key = await warmed_team(pair)
    await pair.a.services.models.update_alias(
        None,
        "smart",
        AliasChanges(
            provider_model="gpt-renamed",
            provider_input_cost_per_million=Decimal(1),
            provider_output_cost_per_million=Decimal(4),
        ),
    )

    async def renamed() -> bool:
        pair.a.upstream.received.clear()
        assert (await call_b(pair, key)).status_code == 200
        return bool(pair.a.upstream.received) and pair.a.upstream.received[-1].body["model"] == "gpt-renamed"

    await within(renamed)
    (credential,) = await pair.a.services.credentials.list_credentials(OWNER, pair.a.organization.id)
    await pair.a.services.credentials.set_active(OWNER, credential.id, False)
    await within(b_answers(pair, key, 409, "provider_not_configured"))
