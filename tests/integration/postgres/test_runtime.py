"""The service's runtime on Postgres: migrated on start, healthy, the use cases wired."""

from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from entrypoints.runtime import migrate_database, open_postgres_runtime
from entrypoints.settings import load_settings
from tests.postgres import fresh_database


async def test_runtime_migrates_an_empty_database_and_serves_use_cases(
    postgres_server_url: str, tmp_path: Path
) -> None:
    async with fresh_database(postgres_server_url) as url:
        settings = load_settings({"DATABASE_URL": url, "DATA_DIR": str(tmp_path)})
        async with open_postgres_runtime(settings, providers={}) as runtime:
            assert runtime.description == "postgres"
            assert await runtime.database_ok()
            org = await runtime.services.organizations.create_organization(name="Acme Corp")
            async with await psycopg.AsyncConnection.connect(url) as conn:
                cursor = await conn.execute("SELECT slug FROM organizations WHERE id = %s", (org.id,))
                assert await cursor.fetchone() == ("acme-corp",)
        assert await migrate_database(settings) == []  # the runtime already applied everything


async def test_health_check_fails_once_the_database_is_gone(postgres_server_url: str, tmp_path: Path) -> None:
    async with fresh_database(postgres_server_url) as url:
        name = conninfo_to_dict(url)["dbname"]
        settings = load_settings({"DATABASE_URL": url, "DATA_DIR": str(tmp_path)})
        async with open_postgres_runtime(settings, providers={}) as runtime:
            assert await runtime.database_ok()
            async with await psycopg.AsyncConnection.connect(postgres_server_url, autocommit=True) as admin:
                await admin.execute(sql.SQL("ALTER DATABASE {} ALLOW_CONNECTIONS false").format(sql.Identifier(name)))
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
                )
            assert not await runtime.database_ok()
