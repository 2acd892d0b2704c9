"""The connection pool: opened once per process, fails fast when the database is down."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from psycopg import AsyncConnection
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool

from adapters.postgres.errors import translated

Connection = AsyncConnection[DictRow]
Pool = AsyncConnectionPool[Connection]

DEFAULT_MIN_SIZE = 2
DEFAULT_MAX_SIZE = 10
DEFAULT_TIMEOUT_S = 10.0


async def _configure(conn: Connection) -> None:
    # Timestamps come back in UTC whatever the server's default zone is.
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.commit()


def make_pool(
    conninfo: str,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    max_size: int = DEFAULT_MAX_SIZE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    name: str | None = None,
) -> Pool:
    """A closed pool of dict-row connections (open it with ``open_pool`` or ``pool.open``)."""
    return AsyncConnectionPool(
        conninfo,
        connection_class=AsyncConnection[DictRow],
        kwargs={"row_factory": dict_row, "autocommit": False},
        min_size=min_size,
        max_size=max_size,
        timeout=timeout_s,
        configure=_configure,
        open=False,
        name=name,
    )


@asynccontextmanager
async def open_pool(
    conninfo: str,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    max_size: int = DEFAULT_MAX_SIZE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    name: str | None = None,
) -> AsyncIterator[Pool]:
    """An open pool; raises ``UnavailableError`` when the database cannot be reached."""
    pool = make_pool(conninfo, min_size=min_size, max_size=max_size, timeout_s=timeout_s, name=name)
    with translated():
        await pool.open(wait=True, timeout=timeout_s)
    try:
        yield pool
    finally:
        await pool.close()


async def database_ok(pool: Pool, *, timeout_s: float = 2.0) -> bool:
    """True when a query succeeds within ``timeout_s`` (for ``/health/db``)."""
    try:
        async with pool.connection(timeout=timeout_s) as conn:
            await conn.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False
    return True
