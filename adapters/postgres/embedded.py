"""The embedded default: a real PostgreSQL under a data directory, via ``pgserver``.

Used when no ``DATABASE_URL`` is set, so a new user needs nothing but Python. Several
processes may share one data directory: pgserver counts the handles and the last
process to let go stops the server.
"""

import asyncio
import contextlib
import logging
import warnings
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from adapters.postgres.errors import translated

DEFAULT_DATABASE = "saasllm"

# pgserver narrates every initdb/pg_ctl step at INFO; only its warnings are worth a line.
logging.getLogger("pgserver").setLevel(logging.WARNING)


def _start(data_dir: Path, cleanup_mode: str | None) -> Any:
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        from pgserver.postgres_server import get_server

        data_dir = data_dir.resolve()
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        return get_server(data_dir, cleanup_mode=cleanup_mode)


async def ensure_database(server_url: str, name: str) -> None:
    """Create database ``name`` on the server unless it exists."""
    with translated():
        async with await psycopg.AsyncConnection.connect(server_url, autocommit=True) as conn:
            cursor = await conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if await cursor.fetchone() is None:
                with contextlib.suppress(psycopg.errors.DuplicateDatabase):  # another process was quicker
                    await conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


class EmbeddedPostgres:
    """A handle on a running embedded server."""

    def __init__(self, server: Any) -> None:
        self._server = server

    @property
    def data_dir(self) -> Path:
        return Path(self._server.pgdata)

    def url(self, database: str = "postgres") -> str:
        return str(self._server.get_uri(database))

    async def stop(self) -> None:
        """Release this process's handle (the server stops when it was the last one)."""
        await asyncio.to_thread(self._server.cleanup)


async def start_embedded(data_dir: Path, *, cleanup_mode: str | None = "stop") -> EmbeddedPostgres:
    """Start (or attach to) the server of ``data_dir``, initialising it on first use."""
    server = await asyncio.to_thread(_start, data_dir, cleanup_mode)
    return EmbeddedPostgres(server)


@asynccontextmanager
async def embedded_database(data_dir: Path, database: str = DEFAULT_DATABASE) -> AsyncIterator[str]:
    """The URL of ``database`` on the embedded server of ``data_dir``, stopped on exit."""
    server = await start_embedded(data_dir)
    try:
        await ensure_database(server.url(), database)
        yield server.url(database)
    finally:
        await server.stop()
