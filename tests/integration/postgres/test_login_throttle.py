"""The login throttle's shared state: Postgres (the default) and Redis (when reachable)."""

import asyncio
import contextlib
import socket
import uuid

import pytest
from limits.aio.storage import RedisStorage

from adapters.postgres.limits_storage import PostgresLimitsStorage
from adapters.postgres.pool import Pool, open_pool
from adapters.security.login_throttle import LimitsLoginThrottle
from application.errors import LoginRateLimitedError, UnauthorizedError
from domain.admins import AdminRole
from entrypoints.runtime import limits_redis_uri
from tests.integration.postgres.conftest import OpenInstance

PASSWORD = "a long enough password"
REDIS = ("127.0.0.1", 6379)


async def test_concurrent_increments_are_atomic(clean_postgres: Pool) -> None:
    storage = PostgresLimitsStorage(clean_postgres)
    counts = await asyncio.gather(*(storage.incr("k", 60) for _ in range(40)))
    assert sorted(counts) == list(range(1, 41))
    assert await storage.get("k") == 40
    assert await storage.get("never-hit") == 0


async def test_an_expired_counter_starts_a_new_window_and_is_pruned(clean_postgres: Pool) -> None:
    storage = PostgresLimitsStorage(clean_postgres, prune_interval_s=3600)
    await storage.incr("old", 60, amount=7)
    await storage.incr("other-old", 60)
    await storage.incr("live", 60)
    async with clean_postgres.connection() as conn:
        await conn.execute(
            "UPDATE rate_limit_counters SET expires_at = now() - interval '1 second' WHERE key LIKE '%old'"
        )
    assert await storage.get("old") == 0  # an expired window counts nothing
    assert await storage.incr("old", 60) == 1  # and the next hit starts a new one
    assert await storage.prune() == 1  # "other-old" was still stored; "old" is live again
    async with clean_postgres.connection() as conn:
        rows = await (await conn.execute("SELECT key FROM rate_limit_counters ORDER BY key")).fetchall()
    assert [r["key"] for r in rows] == ["live", "old"]
    await storage.clear("old")
    assert await storage.get("old") == 0 and await storage.reset() == 1


async def test_increments_prune_expired_rows_as_they_go(clean_postgres: Pool) -> None:
    storage = PostgresLimitsStorage(clean_postgres, prune_interval_s=0)
    await storage.incr("gone", 60)
    async with clean_postgres.connection() as conn:
        await conn.execute("UPDATE rate_limit_counters SET expires_at = now() - interval '1 second'")
    await storage.incr("new", 60)
    async with clean_postgres.connection() as conn:
        rows = await (await conn.execute("SELECT key FROM rate_limit_counters")).fetchall()
    assert [r["key"] for r in rows] == ["new"]


async def test_two_throttles_on_two_pools_share_one_limit(clean_postgres: Pool, postgres_url: str) -> None:
    async with open_pool(postgres_url, min_size=1, max_size=4, name="second-instance") as other_pool:
        first = LimitsLoginThrottle(PostgresLimitsStorage(clean_postgres))
        second = LimitsLoginThrottle(PostgresLimitsStorage(other_pool))
        let_through = [await (first if i % 2 else second).attempt("boss@example.com", "6.6.6.6") for i in range(5)]
        assert let_through == [None] * 5
        assert (await first.attempt("boss@example.com", "6.6.6.6") or 0) > 0
        assert (await second.attempt("boss@example.com", "6.6.6.6") or 0) > 0


async def test_two_app_instances_share_the_login_limit(open_instance: OpenInstance) -> None:
    async with open_instance() as a, open_instance() as b:
        await a.services.admin_auth.create_user(email="boss@example.com", password=PASSWORD, role=AdminRole.OWNER)
        for i in range(5):
            with pytest.raises(UnauthorizedError):
                await (a if i % 2 else b).services.admin_auth.login(
                    email="boss@example.com", password="wrong password!", address="6.6.6.6"
                )
        for instance in (a, b):
            with pytest.raises(LoginRateLimitedError):
                await instance.services.admin_auth.login(email="boss@example.com", password=PASSWORD, address="6.6.6.6")


def redis_reachable() -> bool:
    with contextlib.suppress(OSError), socket.create_connection(REDIS, timeout=0.2):
        return True
    return False


@pytest.mark.skipif(not redis_reachable(), reason="no Redis at 127.0.0.1:6379")
async def test_two_throttles_share_one_limit_in_redis() -> None:
    prefix = f"saasllm-test-{uuid.uuid4().hex[:8]}"
    uri = limits_redis_uri(f"redis://{REDIS[0]}:{REDIS[1]}/0")
    storages = [RedisStorage(uri, implementation="redispy", wrap_exceptions=True, key_prefix=prefix) for _ in "ab"]
    first, second = (LimitsLoginThrottle(s) for s in storages)
    try:
        let_through = [await (first if i % 2 else second).attempt("boss@example.com", "6.6.6.6") for i in range(5)]
        assert let_through == [None] * 5
        assert (await second.attempt("boss@example.com", "6.6.6.6") or 0) > 0
        await first.succeeded("boss@example.com", "6.6.6.6")  # a success clears the pair everywhere
        assert await second.attempt("boss@example.com", "6.6.6.6") is None
    finally:
        await storages[0].reset()


@pytest.mark.skipif(not redis_reachable(), reason="no Redis at 127.0.0.1:6379")
async def test_with_redis_url_two_app_instances_share_the_limit_in_redis(
    open_instance: OpenInstance, clean_postgres: Pool
) -> None:
    email = f"boss-{uuid.uuid4().hex[:8]}@example.com"  # the counters' keys are this run's own
    n = uuid.uuid4().int
    address = f"6.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250}"  # Redis outlives runs: so does an address's budget
    redis = {"REDIS_URL": f"redis://{REDIS[0]}:{REDIS[1]}/0"}
    async with open_instance(**redis) as a, open_instance(**redis) as b:
        await a.services.admin_auth.create_user(email=email, password=PASSWORD, role=AdminRole.OWNER)
        for i in range(5):
            with pytest.raises(UnauthorizedError):
                await (a if i % 2 else b).services.admin_auth.login(
                    email=email, password="wrong password!", address=address
                )
        with pytest.raises(LoginRateLimitedError):
            await a.services.admin_auth.login(email=email, password=PASSWORD, address=address)
    async with clean_postgres.connection() as conn:
        rows = await (await conn.execute("SELECT count(*) AS n FROM rate_limit_counters")).fetchone()
    assert rows is not None and rows["n"] == 0  # nothing went to Postgres


def test_redis_urls_become_limits_async_uris() -> None:
    assert limits_redis_uri("redis://cache:6379/2") == "async+redis://cache:6379/2"
    assert limits_redis_uri("rediss://:pw@cache:6380") == "async+rediss://:pw@cache:6380"
    assert limits_redis_uri("unix:///run/redis.sock") == "async+redis+unix:///run/redis.sock"
    assert limits_redis_uri("async+redis://cache") == "async+redis://cache"
