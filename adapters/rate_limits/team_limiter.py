"""``TeamRateLimiter`` on the ``limits`` library: fixed one-minute windows over any of its
async storages (in-process memory by default, Redis when ``REDIS_URL`` is set, so every
instance counts in the same windows).

Each counter is one atomic ``incr`` in the storage, so concurrent calls on several
instances never admit more than a limit. A hit the limit refuses is taken back at once
(like the login throttle's refunds), and so is the request's count when its tokens do not
fit: what stays counted is what was admitted. A window starts with its first count and
lasts 60 s; its key includes the limit's value, so a changed limit starts a new window.

``windows`` reads each limit's window with the library's ``get_window_stats`` (a read of
the counter and of its expiry); the limits are read concurrently, so with Redis this is
one more round trip's wait per admitted call of a team with limits, and none otherwise.
"""

import asyncio
import time

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError

from application.errors import UnavailableError
from application.ports.rate_limits import LimitedResource, RateLimitRefusal, RateLimitWindow
from domain.ids import TeamId
from domain.rate_limits import RateLimits

_NAMESPACES = {LimitedResource.REQUESTS: "team-rpm", LimitedResource.TOKENS: "team-tpm"}


class LimitsTeamRateLimiter:
    def __init__(self, storage: Storage) -> None:
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)

    async def acquire(self, team_id: TeamId, limits: RateLimits, *, tokens: int) -> RateLimitRefusal | None:
        team = str(team_id)
        wanted = (
            (LimitedResource.REQUESTS, limits.requests_per_minute, 1),
            (LimitedResource.TOKENS, limits.tokens_per_minute, tokens),
        )
        counted: list[tuple[RateLimitItem, int]] = []
        try:
            for resource, amount, cost in wanted:
                if amount is None or cost <= 0:
                    continue
                item = _item(resource, amount)
                if cost > amount:  # waiting cannot make it fit
                    await self._take_back(counted, team)
                    stats = await self._limiter.get_window_stats(item, team)
                    return RateLimitRefusal(
                        resource=resource,
                        limit=amount,
                        remaining=stats.remaining,
                        reset_s=float(item.get_expiry()),
                        fits_ever=False,
                    )
                counted.append((item, cost))
                if not await self._limiter.hit(item, team, cost=cost):
                    await self._take_back(counted, team)
                    stats = await self._limiter.get_window_stats(item, team)
                    return RateLimitRefusal(
                        resource=resource,
                        limit=amount,
                        remaining=max(0, stats.remaining),
                        reset_s=_reset_s(stats.reset_time, time.time(), item),
                    )
        except StorageError:
            raise UnavailableError("the rate limit counters are unavailable") from None
        return None

    async def add_tokens(self, team_id: TeamId, limits: RateLimits, tokens: int) -> None:
        if limits.tokens_per_minute is None or tokens <= 0:
            return
        item = _item(LimitedResource.TOKENS, limits.tokens_per_minute)
        try:
            await self._limiter.hit(item, str(team_id), cost=tokens)  # counted even past the limit
        except StorageError:
            raise UnavailableError("the rate limit counters are unavailable") from None

    async def windows(self, team_id: TeamId, limits: RateLimits) -> tuple[RateLimitWindow, ...]:
        team = str(team_id)
        items = [
            (resource, _item(resource, amount))
            for resource, amount in (
                (LimitedResource.REQUESTS, limits.requests_per_minute),
                (LimitedResource.TOKENS, limits.tokens_per_minute),
            )
            if amount is not None
        ]
        try:
            stats = await asyncio.gather(*(self._limiter.get_window_stats(item, team) for _, item in items))
        except StorageError:
            raise UnavailableError("the rate limit counters are unavailable") from None
        now = time.time()
        return tuple(
            RateLimitWindow(
                resource=resource,
                limit=item.amount,
                remaining=max(0, s.remaining),
                reset_s=_reset_s(s.reset_time, now, item),
            )
            for (resource, item), s in zip(items, stats, strict=True)
        )

    async def _take_back(self, counted: list[tuple[RateLimitItem, int]], team: str) -> None:
        for item, cost in counted:
            await self._storage.incr(item.key_for(team), item.get_expiry(), amount=-cost)


def _item(resource: LimitedResource, amount: int) -> RateLimitItem:
    return RateLimitItemPerMinute(amount, namespace=_NAMESPACES[resource])


def _reset_s(reset_time: float, now: float, item: RateLimitItem) -> float:
    """Seconds from ``now`` until a window resetting at ``reset_time`` does, within [0, 60]."""
    return min(max(0.0, reset_time - now), float(item.get_expiry()))
