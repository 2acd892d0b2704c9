"""Session-wide Postgres fixtures, shared by the contract, integration and e2e tests."""

from collections.abc import AsyncIterator

import pytest

from adapters.postgres.migrate import migrate
from adapters.postgres.pool import Pool, open_pool
from tests.postgres import fresh_database, postgres_server, truncate_all


@pytest.fixture(scope="session")
async def postgres_server_url() -> AsyncIterator[str]:
    """A server to create databases on (embedded unless TEST_DATABASE_URL is set)."""
    async with postgres_server() as url:
        yield url


@pytest.fixture(scope="session")
async def postgres_url(postgres_server_url: str) -> AsyncIterator[str]:
    """This session's fresh database, migrated."""
    async with fresh_database(postgres_server_url) as url:
        await migrate(url)
        yield url


@pytest.fixture(scope="session")
async def pg_pool(postgres_url: str) -> AsyncIterator[Pool]:
    async with open_pool(postgres_url, min_size=2, max_size=20, name="tests") as pool:
        yield pool


@pytest.fixture
async def clean_postgres(pg_pool: Pool) -> Pool:
    """The session pool over a database with every table emptied."""
    await truncate_all(pg_pool)
    return pg_pool
