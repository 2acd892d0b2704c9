"""Per-team rate limits on LLM calls: counted before anything is held, corrected after.

Rules:

- a call counts one request and an estimate of its prompt tokens when it is admitted,
  before its credits are held; over a limit it is refused (429 ``rate_limited``), and
  then nothing is held, recorded or counted;
- once the call is recorded, the tokens it really used (prompt + completion, as billed)
  beyond that estimate are counted too, even past the limit: the next calls wait;
- a team without limits touches no counter;
- an admitted call of a team with limits carries each limit's window as it left it
  (``Admission.windows``: limit, remaining, reset), read once more from the counters,
  for the ``X-RateLimit-*`` headers of its response; a team without limits has none;
- counters that cannot be reached let the call through, with a warning in the log:
  rate limits protect capacity and fairness, while the credit hold still bounds spending.
"""

import logging
import math

import msgspec

from application.errors import RateLimitedError, UnavailableError
from application.ports.rate_limits import LimitedResource, RateLimitRefusal, RateLimitWindow, TeamRateLimiter
from domain.ids import TeamId
from domain.llm import ChatMessage
from domain.organizations import Team
from domain.rate_limits import UNLIMITED, RateLimits, admission_tokens
from domain.usage import TokenUsage

log = logging.getLogger(__name__)


class Admission(msgspec.Struct, frozen=True, kw_only=True):
    """A call let through its team's limits, the tokens already counted for it, and the
    windows of those limits once it was counted (empty: no limits, or unreadable)."""

    team_id: TeamId
    limits: RateLimits = UNLIMITED
    tokens: int = 0
    windows: tuple[RateLimitWindow, ...] = ()


class CallRateLimits:
    def __init__(self, limiter: TeamRateLimiter | None = None) -> None:
        self._limiter = limiter

    async def admit(self, team: Team, messages: list[ChatMessage]) -> Admission:
        """Count the call against the team's limits, or raise ``RateLimitedError``."""
        limits = team.rate_limits
        if limits.unlimited or self._limiter is None:
            return Admission(team_id=team.id)
        tokens = admission_tokens(messages) if limits.tokens_per_minute is not None else 0
        try:
            refusal = await self._limiter.acquire(team.id, limits, tokens=tokens)
        except UnavailableError:
            log.warning("rate_limit_unavailable", extra={"team_id": str(team.id)})
            return Admission(team_id=team.id)
        if refusal is not None:
            raise _refused(refusal, tokens)
        try:
            windows = await self._limiter.windows(team.id, limits)
        except UnavailableError:  # admitted all the same, only without the headers
            log.warning("rate_limit_unavailable", extra={"team_id": str(team.id)})
            windows = ()
        return Admission(team_id=team.id, limits=limits, tokens=tokens, windows=windows)

    async def settle(self, admission: Admission | None, usage: TokenUsage) -> None:
        """Count what the recorded call used beyond its admission's estimate."""
        if admission is None or self._limiter is None or admission.limits.tokens_per_minute is None:
            return
        extra = usage.total_tokens - admission.tokens
        if extra <= 0:
            return
        try:
            await self._limiter.add_tokens(admission.team_id, admission.limits, extra)
        except UnavailableError:
            log.warning("rate_limit_unavailable", extra={"team_id": str(admission.team_id)})


def _refused(refusal: RateLimitRefusal, tokens: int) -> RateLimitedError:
    unit = "requests" if refusal.resource is LimitedResource.REQUESTS else "tokens"
    wait_s = max(1, math.ceil(refusal.reset_s))
    if not refusal.fits_ever:
        detail = (
            f"this request (about {tokens} prompt tokens) is larger than the team's limit "
            f"of {refusal.limit} tokens per minute"
        )
    else:
        detail = f"the team's limit of {refusal.limit} {unit} per minute is reached; retry in {wait_s} s"
    return RateLimitedError(
        detail,
        resource=unit,
        limit=refusal.limit,
        remaining=refusal.remaining,
        reset_s=refusal.reset_s,
        retryable=refusal.fits_ever,
    )
