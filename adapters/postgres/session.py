"""The connection of one unit of work, as its repositories see it.

Every statement goes through here, so every psycopg exception is translated once.
"""

from typing import Any

from psycopg.rows import DictRow

from adapters.postgres.errors import translated
from adapters.postgres.pool import Connection

Params = dict[str, Any] | list[Any] | tuple[Any, ...] | None

# The lock order of the adapter is: job row, then team row. Completion locks the job
# (``JobRepository.get(for_update=True)``) before it touches credits; every other write
# that concerns a job locks the job first too, so two transactions never wait on each
# other in opposite orders. NO KEY UPDATE still lets foreign-key checks through.
LOCK_JOB = "SELECT 1 FROM jobs WHERE id = %s FOR NO KEY UPDATE"


class Session:
    def __init__(self) -> None:
        self._conn: Connection | None = None

    def attach(self, conn: Connection) -> None:
        self._conn = conn

    def detach(self) -> Connection:
        conn = self.conn
        self._conn = None
        return conn

    @property
    def conn(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("a repository was used outside its unit of work")
        return self._conn

    async def one(self, query: str, params: Params = None) -> DictRow | None:
        with translated():
            cursor = await self.conn.execute(query, params)
            return await cursor.fetchone()

    async def all(self, query: str, params: Params = None) -> list[DictRow]:
        with translated():
            cursor = await self.conn.execute(query, params)
            return await cursor.fetchall()

    async def run(self, query: str, params: Params = None) -> int:
        """Execute; returns the number of rows affected."""
        with translated():
            cursor = await self.conn.execute(query, params)
            return cursor.rowcount

    async def one_locking_job(self, job_id: Any, query: str, params: Params = None) -> DictRow | None:
        """Lock the job row, then run ``query``: two statements, one round trip (pipeline).

        The second statement takes its snapshot after the lock is granted, so it sees
        everything committed by whoever held the job before.
        """
        with translated():
            async with self.conn.pipeline():
                await self.conn.execute(LOCK_JOB, (job_id,))
                cursor = await self.conn.execute(query, params)
            return await cursor.fetchone() if cursor.description is not None else None

    async def many(self, *statements: tuple[str, Params]) -> list[list[DictRow]]:
        """Several reads in one round trip (pipeline); the rows of each, in order."""
        with translated():
            async with self.conn.pipeline():
                cursors = [await self.conn.execute(q, p) for q, p in statements]
            return [await c.fetchall() for c in cursors]


class SessionRepository:
    """A repository over the unit of work's session: its statements go through ``self._s``."""

    def __init__(self, session: Session) -> None:
        self._s = session
