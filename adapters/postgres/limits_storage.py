"""A ``limits`` storage in Postgres, for the fixed-window strategy.

Several instances share one Postgres, so without Redis this is where their rate-limit
counters meet. One row per counter key (``rate_limit_counters``, migration 0005): each
``incr`` is a single ``INSERT … ON CONFLICT DO UPDATE`` — atomic under concurrency, and
restarting the window when the row has expired. Times are the database's, so every
instance agrees on them. Expired rows are pruned at most once a minute per instance, so
the table holds only the counters of the current windows.
"""

import time

import psycopg
from limits.aio.storage import Storage

from adapters.postgres.errors import translated
from adapters.postgres.pool import Pool

PRUNE_INTERVAL_S = 60.0

_INCR = """
INSERT INTO rate_limit_counters AS c (key, count, expires_at)
VALUES (%(key)s, %(amount)s, now() + make_interval(secs => %(expiry)s))
ON CONFLICT (key) DO UPDATE SET
    count = CASE WHEN c.expires_at <= now() THEN excluded.count ELSE c.count + excluded.count END,
    expires_at = CASE WHEN c.expires_at <= now() THEN excluded.expires_at ELSE c.expires_at END
RETURNING count
"""
_GET = "SELECT count FROM rate_limit_counters WHERE key = %s AND expires_at > now()"
_GET_EXPIRY = """
SELECT extract(epoch FROM coalesce(
    (SELECT expires_at FROM rate_limit_counters WHERE key = %s AND expires_at > now()), now()
))::float8 AS at
"""
_PRUNE = "DELETE FROM rate_limit_counters WHERE expires_at <= now()"


class PostgresLimitsStorage(Storage):
    """Fixed-window counters in the ``rate_limit_counters`` table, on the service's pool.

    Each call is its own short transaction (the counters are not part of any business
    transaction). psycopg errors become ``UnavailableError`` like everywhere else.
    """

    STORAGE_SCHEME = None  # built from a pool, never from a URI

    def __init__(self, pool: Pool, *, prune_interval_s: float = PRUNE_INTERVAL_S) -> None:
        super().__init__()
        self._pool = pool
        self._prune_interval_s = prune_interval_s
        self._pruned_at = time.monotonic()

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return psycopg.Error

    async def incr(self, key: str, expiry: int, amount: int = 1) -> int:
        with translated():
            async with self._pool.connection() as conn:
                cursor = await conn.execute(_INCR, {"key": key, "amount": amount, "expiry": expiry})
                row = await cursor.fetchone()
        await self._maybe_prune()
        return int(row["count"]) if row is not None else amount

    async def get(self, key: str) -> int:
        with translated():
            async with self._pool.connection() as conn:
                row = await (await conn.execute(_GET, (key,))).fetchone()
        return int(row["count"]) if row is not None else 0

    async def get_expiry(self, key: str) -> float:
        with translated():
            async with self._pool.connection() as conn:
                row = await (await conn.execute(_GET_EXPIRY, (key,))).fetchone()
        return float(row["at"]) if row is not None else time.time()

    async def check(self) -> bool:
        try:
            with translated():
                async with self._pool.connection() as conn:
                    await conn.execute("SELECT 1")
        except Exception:  # noqa: BLE001 - any failure means "not healthy"
            return False
        return True

    async def reset(self) -> int | None:
        with translated():
            async with self._pool.connection() as conn:
                cursor = await conn.execute("DELETE FROM rate_limit_counters")
                return cursor.rowcount

    async def clear(self, key: str) -> None:
        with translated():
            async with self._pool.connection() as conn:
                await conn.execute("DELETE FROM rate_limit_counters WHERE key = %s", (key,))

    async def prune(self) -> int:
        """Delete the counters whose window is over; returns how many."""
        self._pruned_at = time.monotonic()
        with translated():
            async with self._pool.connection() as conn:
                cursor = await conn.execute(_PRUNE)
                return cursor.rowcount

    async def _maybe_prune(self) -> None:
        if time.monotonic() - self._pruned_at >= self._prune_interval_s:
            await self.prune()
