"""Per-team rate limits: requests and tokens per minute, and what a call counts against them."""

import msgspec

from domain.errors import InvalidValueError
from domain.llm import ChatMessage, estimate_tokens

MAX_LIMIT = 1_000_000_000


class RateLimits(msgspec.Struct, frozen=True, kw_only=True):
    """A team's limits per minute; None is unlimited."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None

    def __post_init__(self) -> None:
        for name in ("requests_per_minute", "tokens_per_minute"):
            value = getattr(self, name)
            if value is not None and not 0 < value <= MAX_LIMIT:
                raise InvalidValueError(f"{name} must be between 1 and {MAX_LIMIT}, or null (unlimited)")

    @property
    def unlimited(self) -> bool:
        return self.requests_per_minute is None and self.tokens_per_minute is None


UNLIMITED = RateLimits()


def admission_tokens(messages: list[ChatMessage]) -> int:
    """The tokens a call counts when it is admitted: an estimate of its prompt (never the
    generous upper bound of the credit hold, which would starve a tokens-per-minute limit).
    The call's real total is counted once it is recorded."""
    return max(1, sum(estimate_tokens(m.content) for m in messages))
