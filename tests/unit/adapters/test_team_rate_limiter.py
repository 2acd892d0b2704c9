"""The limits-based team rate limiter over in-process storage: both counters or neither."""

import asyncio
from uuid import uuid4

import pytest
from limits import RateLimitItemPerMinute
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError

from adapters.rate_limits.team_limiter import LimitsTeamRateLimiter
from application.errors import UnavailableError
from application.ports.rate_limits import LimitedResource
from domain.ids import TeamId
from domain.rate_limits import RateLimits

TEAM = TeamId(uuid4())


async def remaining(storage: MemoryStorage, namespace: str, amount: int) -> int:
    stats = await FixedWindowRateLimiter(storage).get_window_stats(
        RateLimitItemPerMinute(amount, namespace=namespace), str(TEAM)
    )
    return stats.remaining


async def test_a_call_whose_tokens_do_not_fit_leaves_its_request_uncounted() -> None:
    storage = MemoryStorage()
    limiter = LimitsTeamRateLimiter(storage)
    limits = RateLimits(requests_per_minute=10, tokens_per_minute=100)
    assert await limiter.acquire(TEAM, limits, tokens=60) is None
    refusal = await limiter.acquire(TEAM, limits, tokens=60)
    assert refusal is not None and refusal.resource is LimitedResource.TOKENS
    assert (refusal.limit, refusal.remaining, refusal.fits_ever) == (100, 40, True)
    assert 0 < refusal.reset_s <= 60
    assert await remaining(storage, "team-rpm", 10) == 9  # only the admitted call counts
    assert await remaining(storage, "team-tpm", 100) == 40
    assert await limiter.acquire(TEAM, limits, tokens=40) is None


async def test_tokens_used_beyond_the_estimate_count_even_past_the_limit() -> None:
    storage = MemoryStorage()
    limiter = LimitsTeamRateLimiter(storage)
    limits = RateLimits(tokens_per_minute=100)
    assert await limiter.acquire(TEAM, limits, tokens=10) is None
    await limiter.add_tokens(TEAM, limits, 500)
    refusal = await limiter.acquire(TEAM, limits, tokens=1)
    assert refusal is not None and refusal.remaining == 0


async def test_a_request_larger_than_the_limit_never_fits() -> None:
    limiter = LimitsTeamRateLimiter(MemoryStorage())
    refusal = await limiter.acquire(TEAM, RateLimits(requests_per_minute=5, tokens_per_minute=50), tokens=51)
    assert refusal is not None and not refusal.fits_ever and refusal.remaining == 50


async def test_concurrent_acquisitions_admit_exactly_the_limit() -> None:
    limiter = LimitsTeamRateLimiter(MemoryStorage())
    limits = RateLimits(requests_per_minute=7)
    outcomes = await asyncio.gather(*(limiter.acquire(TEAM, limits, tokens=0) for _ in range(30)))
    assert sum(o is None for o in outcomes) == 7


class BrokenStorage(MemoryStorage):
    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        raise StorageError(ConnectionError("redis is down"))

    async def get(self, key: str) -> int:
        raise StorageError(ConnectionError("redis is down"))


async def test_an_unreachable_storage_is_unavailable() -> None:
    limiter = LimitsTeamRateLimiter(BrokenStorage())
    with pytest.raises(UnavailableError):
        await limiter.acquire(TEAM, RateLimits(requests_per_minute=1), tokens=1)
    with pytest.raises(UnavailableError):
        await limiter.add_tokens(TEAM, RateLimits(tokens_per_minute=1), 5)
    with pytest.raises(UnavailableError):
        await limiter.windows(TEAM, RateLimits(requests_per_minute=1))


async def test_windows_tell_each_limit_set_as_the_admitted_calls_left_it() -> None:
    limiter = LimitsTeamRateLimiter(MemoryStorage())
    limits = RateLimits(requests_per_minute=10, tokens_per_minute=100)
    assert await limiter.acquire(TEAM, limits, tokens=30) is None
    requests, tokens = await limiter.windows(TEAM, limits)
    assert (requests.resource, requests.limit, requests.remaining) == (LimitedResource.REQUESTS, 10, 9)
    assert (tokens.resource, tokens.limit, tokens.remaining) == (LimitedResource.TOKENS, 100, 70)
    assert 59 < requests.reset_s <= 60 and 59 < tokens.reset_s <= 60
    await limiter.add_tokens(TEAM, limits, 500)  # past the limit: nothing left, never negative
    assert (await limiter.windows(TEAM, limits))[1].remaining == 0
    only_requests = await limiter.windows(TEAM, RateLimits(requests_per_minute=10))
    assert [w.resource for w in only_requests] == [LimitedResource.REQUESTS]
    assert await limiter.windows(TEAM, RateLimits()) == ()
