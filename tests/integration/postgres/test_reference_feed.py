"""The reference change feed on a real Postgres: what announces a change, what does not,
and how the feed recovers when its connection is killed."""

import asyncio
import time

from adapters.postgres.pool import Pool
from adapters.postgres.reference import ALL_KINDS, PostgresReferenceChanges
from application.ports.reference import ReferenceKind
from domain.budgets import BudgetMode
from tests.integration.postgres.conftest import Instance, make_team, seed

LEDGER_COLUMNS = {"allocated", "used", "held"}  # moved by every call: never cached, never announced


class Heard:
    def __init__(self) -> None:
        self.kinds: list[frozenset[ReferenceKind]] = []

    def __call__(self, kinds: frozenset[ReferenceKind]) -> None:
        self.kinds.append(kinds)

    async def wait_for(self, kind: ReferenceKind, timeout_s: float = 1.0) -> float:
        started = time.monotonic()
        while not any(kind in k for k in self.kinds):
            assert time.monotonic() - started < timeout_s, f"{kind} not announced; heard {self.kinds}"
            await asyncio.sleep(0.01)
        return time.monotonic() - started


async def test_changes_to_cached_tables_are_announced_and_balance_moves_are_not(
    instance: Instance, clean_postgres: Pool, postgres_url: str
) -> None:
    organization = await seed(instance.services)
    team, _ = await make_team(instance.services, organization, BudgetMode.CONSUMPTION_USD, None)
    heard = Heard()
    async with PostgresReferenceChanges(postgres_url) as feed:
        feed.listen(heard)
        assert feed.connected
        async with clean_postgres.connection() as conn:
            await conn.execute("UPDATE teams SET held = held + 0, used = used + 0 WHERE id = %s", (team.id,))
        await asyncio.sleep(0.3)
        assert heard.kinds == []
        for statement, kind in (
            ("UPDATE teams SET name = 'renamed' WHERE id = %s", ReferenceKind.TEAMS),
            ("UPDATE team_api_keys SET revoked_at = now() WHERE team_id = %s", ReferenceKind.KEYS),
            (
                "UPDATE provider_credentials SET is_active = false WHERE organization_id <> %s",
                ReferenceKind.CREDENTIALS,
            ),
            ("UPDATE model_aliases SET default_max_tokens = 7 WHERE alias <> %s::text", ReferenceKind.ALIASES),
        ):
            heard.kinds.clear()
            async with clean_postgres.connection() as conn:
                await conn.execute(statement, (team.id,))
            assert await heard.wait_for(kind) < 1.0


async def test_every_cached_column_of_teams_announces_its_change(clean_postgres: Pool) -> None:
    """A column added to teams must be announced (or be a ledger column): else a cache
    would keep its old value for a minute."""
    async with clean_postgres.connection() as conn:
        cursor = await conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = 'teams' "
            "AND table_schema = current_schema()"
        )
        columns = {row["column_name"] for row in await cursor.fetchall()}
        cursor = await conn.execute(
            """
            SELECT a.attname FROM pg_trigger t
            JOIN pg_attribute a ON a.attrelid = t.tgrelid AND a.attnum = ANY (t.tgattr::int2[])
            WHERE t.tgname = 'teams_reference_changed'
            """
        )
        announced = {row["attname"] for row in await cursor.fetchall()}
    assert columns - LEDGER_COLUMNS == announced


async def test_a_killed_feed_connection_reconnects_and_forgets_everything(
    clean_postgres: Pool, postgres_url: str
) -> None:
    heard = Heard()
    async with PostgresReferenceChanges(postgres_url, retry_s=0.05) as feed:
        feed.listen(heard)
        assert feed.connected
        async with clean_postgres.connection() as conn:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE query = 'LISTEN saasllm_reference' AND pid <> pg_backend_pid()"
            )
        started = time.monotonic()
        while not (len(heard.kinds) >= 2 and feed.connected):
            assert time.monotonic() - started < 3.0, f"no reconnect; heard {heard.kinds}"
            await asyncio.sleep(0.02)
        assert heard.kinds[0] == ALL_KINDS  # lost: forget everything
        assert heard.kinds[-1] == ALL_KINDS  # back: changes may have been missed
        heard.kinds.clear()
        async with clean_postgres.connection() as conn:
            await conn.execute("UPDATE organizations SET name = name")
        await heard.wait_for(ReferenceKind.TEAMS)
