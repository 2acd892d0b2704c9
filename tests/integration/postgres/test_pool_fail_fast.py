"""The pool stops making callers wait once the database is known to be down.

A Postgres of the test's own (``tests/stoppable_postgres.py``), stopped and started under
an open pool: before the fix every checkout waited the full 10 s pool timeout for its 503.
"""

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from adapters.postgres.errors import translated
from adapters.postgres.pool import Pool, database_ok, open_pool
from application.errors import UnavailableError
from tests.stoppable_postgres import StoppablePostgres

POOL_TIMEOUT_S = 10.0  # the production default: what a caller waited before the fix


@pytest.fixture
async def stoppable() -> AsyncIterator[tuple[StoppablePostgres, str]]:
    server = StoppablePostgres()
    url = await asyncio.to_thread(server.start_first)
    try:
        yield server, url
    finally:
        await asyncio.to_thread(server.destroy)


async def query(pool: Pool) -> None:
    with translated():
        async with pool.connection() as conn:
            await conn.execute("SELECT 1")


async def until_known_down(pool: Pool) -> None:
    """Use the pool until it has seen the outage (the first uses meet broken connections)."""
    for _ in range(200):
        if pool.database_down:
            return
        with pytest.raises(UnavailableError):
            await query(pool)
    raise AssertionError("the pool never noticed the database was down")


async def test_a_checkout_answers_within_a_second_once_the_database_is_known_down(
    stoppable: tuple[StoppablePostgres, str],
) -> None:
    server, url = stoppable
    async with open_pool(url, min_size=2, max_size=4, timeout_s=POOL_TIMEOUT_S) as pool:
        await query(pool)
        await asyncio.to_thread(server.stop)
        await until_known_down(pool)
        for _ in range(5):
            started = time.monotonic()
            with pytest.raises(UnavailableError):
                await query(pool)
            assert time.monotonic() - started < 1.0
        started = time.monotonic()
        assert not await database_ok(pool)
        assert time.monotonic() - started < 1.0


async def test_callers_already_waiting_when_it_goes_down_are_answered_within_a_second(
    stoppable: tuple[StoppablePostgres, str],
) -> None:
    server, url = stoppable
    async with open_pool(url, min_size=2, max_size=2, timeout_s=POOL_TIMEOUT_S) as pool:
        first, second = await pool.getconn(), await pool.getconn()
        waiter = asyncio.create_task(query(pool))  # queued: both connections are out
        await asyncio.sleep(0.1)
        assert not waiter.done()
        await asyncio.to_thread(server.stop)
        with pytest.raises(Exception):  # noqa: B017 - the server is gone under it
            await first.execute("SELECT 1")
        known_down = time.monotonic()
        await pool.putconn(first)  # comes back broken: now the pool knows
        assert pool.database_down
        with pytest.raises(UnavailableError):
            await waiter
        assert time.monotonic() - known_down < 1.0
        await second.close()
        await pool.putconn(second)


async def test_the_pool_recovers_by_itself_when_the_database_is_back(
    stoppable: tuple[StoppablePostgres, str],
) -> None:
    server, url = stoppable
    async with open_pool(url, min_size=2, max_size=4, timeout_s=POOL_TIMEOUT_S) as pool:
        await asyncio.to_thread(server.stop)
        await until_known_down(pool)
        await asyncio.to_thread(server.start)
        deadline = time.monotonic() + 60  # the pool's reconnection backoff decides; generous
        while True:
            try:
                await query(pool)
                break
            except UnavailableError:
                assert time.monotonic() < deadline, "the pool never came back"
                await asyncio.sleep(0.2)
        assert not pool.database_down
        assert await database_ok(pool)
        await asyncio.sleep(0.5)  # the drain replaces what was idle through the outage
        for _ in range(8):
            await query(pool)  # no stale connection left to fail a request


async def test_queueing_on_a_healthy_database_is_not_an_outage(stoppable: tuple[StoppablePostgres, str]) -> None:
    _, url = stoppable
    async with open_pool(url, min_size=1, max_size=2, timeout_s=POOL_TIMEOUT_S, fail_fast_s=0.2) as pool:

        async def slow_query() -> None:
            with translated():
                async with pool.connection() as conn:
                    await conn.execute("SELECT pg_sleep(0.05)")

        # 40 callers on 2 connections: each waits up to ~1 s, far beyond fail_fast_s
        await asyncio.gather(*(slow_query() for _ in range(40)))
        assert not pool.database_down
