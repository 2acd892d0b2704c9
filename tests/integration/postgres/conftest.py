"""API instances on the session's Postgres database: each has its own runtime and pool."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest

from adapters.memory.providers import ScriptedProviderClient
from adapters.postgres.pool import Pool
from application.principal import TeamPrincipal
from domain.budgets import BudgetMode
from domain.catalog import Provider
from domain.ids import TeamId
from domain.jobs import Job
from domain.ledger import CreditBalance, EntryType, LedgerEntry, replay
from domain.organizations import Organization, Team
from entrypoints.bootstrap import Services
from entrypoints.runtime import open_postgres_runtime
from entrypoints.settings import load_settings
from tests.support.seeding import create_team, seed_organization

D = Decimal


@dataclass
class Instance:
    """One API instance: the real runtime (its own pool) with a scripted provider."""

    services: Services
    provider: ScriptedProviderClient


OpenInstance = Callable[..., AbstractAsyncContextManager[Instance]]


@pytest.fixture
def open_instance(clean_postgres: Pool, postgres_url: str, tmp_path: Path) -> OpenInstance:
    @asynccontextmanager
    async def opener(**env: str) -> AsyncIterator[Instance]:
        settings = load_settings({"DATABASE_URL": postgres_url, "DATA_DIR": str(tmp_path), **env})
        provider = ScriptedProviderClient()
        async with open_postgres_runtime(settings, providers={Provider.OPENAI: provider}) as runtime:
            yield Instance(services=runtime.services, provider=provider)

    return opener


@pytest.fixture
async def instance(open_instance: OpenInstance) -> AsyncIterator[Instance]:
    async with open_instance() as it:
        yield it


async def seed(services: Services) -> Organization:
    """An organization with the ``smart`` alias and an OpenAI credential."""
    return await seed_organization(services, premium=False)


async def make_team(
    services: Services, organization: Organization, mode: BudgetMode, credits: Decimal | None, **rates: Any
) -> tuple[Team, TeamPrincipal]:
    team, key = await create_team(services, organization, mode, credits, **rates)
    return team, await services.client_auth.authenticate(key)


async def team_with_job(services: Services, credits: Decimal) -> tuple[Team, TeamPrincipal, Job]:
    """Seed the organization, a consumption team holding ``credits`` and one ``doc`` job of it."""
    team, me = await make_team(services, await seed(services), BudgetMode.CONSUMPTION_USD, credits=credits)
    job, _ = await services.jobs.create_job(me, job_type="doc")
    return team, me, job


async def ledger_state(url: str, team_id: TeamId) -> tuple[CreditBalance, CreditBalance, Decimal]:
    """(cached balance, replay of the ledger, sum of the ledger's amounts), read directly."""
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT allocated, used, held FROM teams WHERE id = %s", (team_id,))
        row = await cursor.fetchone()
        assert row is not None
        cursor = await conn.execute(
            "SELECT id, type, amount, created_at FROM credit_ledger WHERE team_id = %s ORDER BY sequence", (team_id,)
        )
        entries = [
            LedgerEntry(id=i, team_id=team_id, type=EntryType(t), amount=a, created_at=c)
            for i, t, a, c in await cursor.fetchall()
        ]
    cached = CreditBalance(allocated=row[0], used=row[1], held=row[2])
    return cached, replay(entries), sum((e.amount for e in entries), D(0))
