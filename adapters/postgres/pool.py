"""The connection pool: opened once per process, fails fast when the database is down.

A checkout normally waits up to ``timeout_s`` (10 s) for a connection: under a burst of
load that is queueing, and worth waiting for. When the database is *known* to be down,
waiting helps nobody: every caller would hang its full timeout before its 503. So the
pool keeps a verdict:

- **down** when a connection comes back closed or broken (the server went away under
  it), or a checkout timed out without any sign of life from the database (no new
  connection configured, no connection returned healthy) during the whole wait;
- **up** again when a new connection has been configured (the server accepts
  connections and answers) or a connection comes back healthy; then every idle
  connection is replaced (``drain``), since those left idle through the outage are dead.

While it is down a checkout waits at most ``fail_fast_s`` (0.5 s), and callers already
waiting when it went down are failed ``fail_fast_s`` later if it is still down then, so
every caller gets its ``UnavailableError`` (503) within about a second. A healthy database
under load never sees a closed connection, and every return counts as a sign of life, so
queueing is never mistaken for an outage.
"""

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any, TypedDict, Unpack

from psycopg import AsyncConnection
from psycopg.pq import ConnStatus, TransactionStatus
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from adapters.postgres.errors import translated

Connection = AsyncConnection[DictRow]

DEFAULT_MIN_SIZE = 2
DEFAULT_MAX_SIZE = 10
DEFAULT_TIMEOUT_S = 10.0
DEFAULT_FAIL_FAST_S = 0.5


async def _configure(conn: Connection) -> None:
    # Timestamps come back in UTC whatever the server's default zone is.
    await conn.execute("SET TIME ZONE 'UTC'")
    await conn.commit()


class FailFastPool(AsyncConnectionPool[Connection]):
    """An ``AsyncConnectionPool`` that stops making callers wait once the database is down."""

    def __init__(self, conninfo: str, *, fail_fast_s: float = DEFAULT_FAIL_FAST_S, **kwargs: Any) -> None:
        self.fail_fast_s = fail_fast_s
        self._down_since: float | None = None
        self._last_alive = time.monotonic()
        self._fail_waiters: asyncio.TimerHandle | None = None
        self._failing: asyncio.Task[None] | None = None
        self._draining: asyncio.Task[None] | None = None
        super().__init__(conninfo, configure=self._configured, **kwargs)

    @property
    def database_down(self) -> bool:
        return self._down_since is not None

    async def _configured(self, conn: Connection) -> None:
        await _configure(conn)
        self._mark_up()  # a new connection answered: the database is there

    async def getconn(self, timeout: float | None = None) -> Connection:  # noqa: ASYNC109 - the base signature
        wait_s = self.timeout if timeout is None else timeout
        if self._down_since is not None:
            wait_s = min(wait_s, self.fail_fast_s)
        started = time.monotonic()
        try:
            return await super().getconn(timeout=wait_s)
        except PoolTimeout:
            if self._last_alive < started:  # not a sign of life during the whole wait
                self._mark_down()
            raise

    async def putconn(self, conn: Connection) -> None:
        if conn.closed or conn.pgconn.status != ConnStatus.OK:
            self._mark_down()
        elif conn.pgconn.transaction_status == TransactionStatus.IDLE:
            self._mark_up()
        await super().putconn(conn)

    def _mark_up(self) -> None:
        self._last_alive = time.monotonic()
        if self._down_since is not None:
            self._down_since = None
            if self._fail_waiters is not None:
                self._fail_waiters.cancel()
                self._fail_waiters = None
            # Connections left idle through the outage are dead but do not know it yet:
            # replace them now rather than fail one request on each.
            self._draining = asyncio.get_running_loop().create_task(self.drain())

    def _mark_down(self) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        self._fail_waiters = asyncio.get_running_loop().call_later(self.fail_fast_s, self._fail_waiting_clients)

    def _fail_waiting_clients(self) -> None:
        """Those who queued before the outage was known: fail them now if it still lasts."""
        self._fail_waiters = None
        if self._down_since is None:
            return
        # psycopg_pool's own queue of waiting clients (it fails them the same way on close).
        waiting = list(self._waiting)
        self._waiting.clear()

        async def fail_all() -> None:
            error = PoolTimeout("the database is down")
            for client in waiting:
                await client.fail(error)

        self._failing = asyncio.get_running_loop().create_task(fail_all())


Pool = FailFastPool


class PoolOptions(TypedDict, total=False):
    """``make_pool``'s keyword options, which ``open_pool`` passes on."""

    min_size: int
    max_size: int
    timeout_s: float
    name: str | None
    fail_fast_s: float


def make_pool(
    conninfo: str,
    *,
    min_size: int = DEFAULT_MIN_SIZE,
    max_size: int = DEFAULT_MAX_SIZE,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    name: str | None = None,
    fail_fast_s: float = DEFAULT_FAIL_FAST_S,
) -> Pool:
    """A closed pool of dict-row connections (open it with ``open_pool`` or ``pool.open``)."""
    return FailFastPool(
        conninfo,
        fail_fast_s=fail_fast_s,
        connection_class=AsyncConnection[DictRow],
        kwargs={"row_factory": dict_row, "autocommit": False},
        min_size=min_size,
        max_size=max_size,
        timeout=timeout_s,
        open=False,
        name=name,
    )


@asynccontextmanager
async def open_pool(conninfo: str, **options: Unpack[PoolOptions]) -> AsyncIterator[Pool]:
    """An open pool (``make_pool``'s options); raises ``UnavailableError`` when the database
    cannot be reached within the pool's ``timeout_s``."""
    pool = make_pool(conninfo, **options)
    with translated():
        await pool.open(wait=True, timeout=pool.timeout)
    try:
        yield pool
    finally:
        await pool.close()


@asynccontextmanager
async def autocommit_connection(pool: Pool) -> AsyncIterator[Connection]:
    """A pooled connection in autocommit mode: each statement is its own transaction (one
    round trip, no BEGIN or COMMIT); back in the pool in its usual mode."""
    async with pool.connection() as conn:
        await conn.set_autocommit(True)
        try:
            yield conn
        finally:
            await conn.set_autocommit(False)


async def database_ok(pool: Pool, *, timeout_s: float = 2.0) -> bool:
    """True when a query succeeds within ``timeout_s`` (for ``/health/db``)."""
    try:
        async with pool.connection(timeout=timeout_s) as conn:
            await conn.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means "not healthy"
        return False
    return True
