"""Per-team rate limits: counters of requests and tokens per minute, shared where configured."""

from enum import StrEnum
from typing import Protocol

import msgspec

from domain.ids import TeamId
from domain.rate_limits import RateLimits


class LimitedResource(StrEnum):
    REQUESTS = "requests"
    TOKENS = "tokens"


class RateLimitRefusal(msgspec.Struct, frozen=True, kw_only=True):
    """Why a call was refused: the limit that is reached and when its window resets.

    ``fits_ever`` is False when the request alone is larger than the limit (waiting
    cannot help).
    """

    resource: LimitedResource
    limit: int
    remaining: int
    reset_s: float  # seconds until the window resets
    fits_ever: bool = True


class RateLimitWindow(msgspec.Struct, frozen=True, kw_only=True):
    """One limit's current window, as a call admitted under it left it."""

    resource: LimitedResource
    limit: int
    remaining: int
    reset_s: float  # seconds until the window resets


class TeamRateLimiter(Protocol):
    """Counters per team and minute. With several instances they are shared only if the
    adapter's storage is (Redis); in-process counters limit each instance on its own."""

    async def acquire(self, team_id: TeamId, limits: RateLimits, *, tokens: int) -> RateLimitRefusal | None:
        """Count one request and ``tokens`` against the team's current minute, both or
        neither: None when they fit under every limit set, else the refusal of the first
        limit they do not fit (and nothing stays counted). A limit of None is not counted.

        Raises ``UnavailableError`` when the counters cannot be reached.
        """
        ...

    async def add_tokens(self, team_id: TeamId, limits: RateLimits, tokens: int) -> None:
        """Count ``tokens`` more against the current minute, even past the limit: what a
        call used beyond what was counted when it was admitted (the money was spent; the
        next calls wait). Does nothing without a tokens-per-minute limit.

        Raises ``UnavailableError`` when the counters cannot be reached.
        """
        ...

    async def windows(self, team_id: TeamId, limits: RateLimits) -> tuple[RateLimitWindow, ...]:
        """The current window of each limit set (requests first, then tokens), for the
        ``X-RateLimit-*`` headers of an admitted call; empty without limits.

        Raises ``UnavailableError`` when the counters cannot be reached.
        """
        ...
