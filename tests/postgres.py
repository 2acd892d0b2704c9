"""Real Postgres for the tests: ``TEST_DATABASE_URL``'s server, else an embedded one.

Each test session gets a fresh database with a random name, migrated once; tests that
need a clean slate truncate every table first (``clean_postgres``).
"""

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters.postgres.embedded import start_embedded
from adapters.postgres.pool import Pool

# A test server need not survive a power cut: skip the fsyncs, keep everything else.
_FAST = ("ALTER SYSTEM SET fsync = off", "ALTER SYSTEM SET synchronous_commit = off", "SELECT pg_reload_conf()")


@asynccontextmanager
async def postgres_server() -> AsyncIterator[str]:
    """The URL of a server's maintenance database (where databases are created)."""
    url = os.environ.get("TEST_DATABASE_URL")
    if url:
        yield url
        return
    tmp = Path(tempfile.mkdtemp(prefix="saasllm-test-pg-"))
    server = await start_embedded(tmp / "pgdata", cleanup_mode="delete")
    try:
        async with await psycopg.AsyncConnection.connect(server.url(), autocommit=True) as conn:
            for statement in _FAST:
                await conn.execute(statement)
        yield server.url()
    finally:
        await server.stop()
        shutil.rmtree(tmp, ignore_errors=True)


@asynccontextmanager
async def fresh_database(server_url: str, prefix: str = "saasllm_test") -> AsyncIterator[str]:
    """A new, empty database on the server (dropped afterwards); yields its URL."""
    name = f"{prefix}_{secrets.token_hex(4)}"
    async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
        await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield make_conninfo(server_url, dbname=name)
    finally:
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
            await conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


async def truncate_all(pool: Pool) -> None:
    """Empty every table but the migrations' own."""
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations'"
        )
        tables = [sql.Identifier(row["tablename"]) for row in await cursor.fetchall()]
        await conn.execute(sql.SQL("TRUNCATE {} RESTART IDENTITY CASCADE").format(sql.SQL(", ").join(tables)))
