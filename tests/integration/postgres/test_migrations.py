"""Migrations: applied once, in order, safely when several instances start together."""

import asyncio
from pathlib import Path
from uuid import uuid4

import psycopg
import pytest

from adapters.postgres.errors import PersistenceError
from adapters.postgres.migrate import MIGRATIONS_DIR, Migration, MigrationError, load_migrations, migrate
from tests.postgres import fresh_database

EXPECTED_TABLES = {
    "call_leases",
    "organizations",
    "teams",
    "team_access_groups",
    "team_api_keys",
    "model_aliases",
    "model_access_groups",
    "model_access_group_members",
    "alias_targets",  # 0010: an alias's further targets
    "job_type_rollups",  # 0011: the job-types report's buckets
    "provider_credentials",
    "jobs",
    "llm_calls",
    "job_cost_summaries",
    "team_usage_summaries",
    "team_model_usage_summaries",
    "credit_ledger",
    "admin_users",
    "audit_log",
    "webhooks",
    "webhook_deliveries",
    "team_credit_alerts",
    "rate_limit_counters",
    "schema_migrations",
}


async def tables(url: str) -> set[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return {row[0] for row in await cursor.fetchall()}


async def recorded(url: str) -> list[str]:
    async with await psycopg.AsyncConnection.connect(url) as conn:
        cursor = await conn.execute("SELECT version FROM schema_migrations ORDER BY version")
        return [row[0] for row in await cursor.fetchall()]


async def test_migrations_build_the_schema_on_an_empty_database_and_rerun_as_a_no_op(
    postgres_server_url: str,
) -> None:
    versions = [m.version for m in load_migrations()]
    async with fresh_database(postgres_server_url) as url:
        assert await tables(url) == set()
        assert await migrate(url) == versions
        assert await tables(url) == EXPECTED_TABLES
        assert await migrate(url) == []
        assert await recorded(url) == versions


async def test_concurrent_runs_apply_each_migration_exactly_once(postgres_server_url: str) -> None:
    slow = Migration(version="0001", name="slow", sql="SELECT pg_sleep(0.3); CREATE TABLE things (id int PRIMARY KEY);")
    then = Migration(version="0002", name="then", sql="ALTER TABLE things ADD COLUMN name text NOT NULL DEFAULT '';")
    async with fresh_database(postgres_server_url) as url:
        runs = await asyncio.gather(*(migrate(url, [slow, then]) for _ in range(4)))
        assert sorted(runs) == [[], [], [], ["0001", "0002"]]
        assert await recorded(url) == ["0001", "0002"]
        # and the real migrations, raced by two instances starting at once
        async with fresh_database(postgres_server_url) as other:
            first, second = await asyncio.gather(migrate(other), migrate(other))
            assert sorted([first, second], key=len) == [[], [m.version for m in load_migrations()]]
            assert await tables(other) == EXPECTED_TABLES


async def test_a_failing_migration_leaves_nothing_behind(postgres_server_url: str) -> None:
    good = Migration(version="0001", name="good", sql="CREATE TABLE a (id int);")
    bad = Migration(version="0002", name="bad", sql="CREATE TABLE b (id int); SELECT no_such_function();")
    async with fresh_database(postgres_server_url) as url:
        with pytest.raises(PersistenceError):
            await migrate(url, [good, bad])
        assert await recorded(url) == ["0001"]
        assert "b" not in await tables(url)


async def test_an_applied_migration_edited_afterwards_is_refused(postgres_server_url: str) -> None:
    original = Migration(version="0001", name="t", sql="CREATE TABLE t (id int);")
    edited = Migration(version="0001", name="t", sql="CREATE TABLE t (id bigint);")
    async with fresh_database(postgres_server_url) as url:
        await migrate(url, [original])
        with pytest.raises(MigrationError, match="changed after it was applied"):
            await migrate(url, [edited])


def test_migration_files_are_numbered_and_unique(tmp_path: Path) -> None:
    assert load_migrations(MIGRATIONS_DIR)[0].version == "0001"
    (tmp_path / "0001_a.sql").write_text("SELECT 1;")
    (tmp_path / "0001_b.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="share version"):
        load_migrations(tmp_path)
    (tmp_path / "0001_b.sql").unlink()
    (tmp_path / "add-things.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_name"):
        load_migrations(tmp_path)


async def test_operator_keys_written_before_0005_move_into_the_operator_namespace(postgres_server_url: str) -> None:
    before = [m for m in load_migrations() if m.version < "0005"]
    async with fresh_database(postgres_server_url) as url:
        await migrate(url, before)
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            org, team = uuid4(), uuid4()
            await conn.execute(
                "INSERT INTO organizations (id, name, slug, created_at) VALUES (%s, 'Acme', 'acme', now())", (org,)
            )
            await conn.execute(
                """
                INSERT INTO teams (id, organization_id, name, status, budget_mode, credits_per_usd,
                                   tokens_per_credit, created_at)
                VALUES (%s, %s, 'T', 'active', 'consumption_usd', 10, 10000, now())
                """,
                (team, org),
            )
            legacy = [
                ("allocation", 5, f"initial:{team}"),  # the system's own: stays
                ("allocation", 5, "invoice-7"),
                ("adjustment", -1, "op:odd"),  # an operator key that already looked prefixed
                ("allocation", 1, "op:op:odder"),
                ("adjustment", -1, "op:odd-too"),
                ("allocation", 1, None),
                ("hold", -1, "hold:call-1"),  # system keys of other types: stay
            ]
            for kind, amount, key in legacy:
                await conn.execute(
                    "INSERT INTO credit_ledger (id, team_id, type, amount, idempotency_key, created_at) "
                    "VALUES (%s, %s, %s, %s, %s, now())",
                    (uuid4(), team, kind, amount, key),
                )
        assert await migrate(url) == [m.version for m in load_migrations() if m.version >= "0005"]
        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            cursor = await conn.execute("SELECT idempotency_key FROM credit_ledger ORDER BY sequence")
            keys = [row[0] for row in await cursor.fetchall()]
            assert keys == [
                f"initial:{team}",
                "op:invoice-7",
                "op:op:odd",
                "op:op:op:odder",
                "op:op:odd-too",
                None,
                "hold:call-1",
            ]
            with pytest.raises(psycopg.errors.RestrictViolation):  # append-only again
                await conn.execute("UPDATE credit_ledger SET reason = 'x'")
