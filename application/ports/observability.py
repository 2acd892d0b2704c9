"""Business metrics: what the service reports about calls and jobs (Prometheus, say)."""

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from domain.calls import LlmCall
from domain.catalog import ProviderName
from domain.jobs import CostSummary, JobStatus


class BreakerState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True, slots=True)
class TargetKey:
    """A circuit breaker's target: a provider model reached with one credential (one account)."""

    provider: ProviderName
    provider_model: str
    credential: str  # the credential's id, or "none"


class BreakerObserver(Protocol):
    def breaker_state(self, key: TargetKey, state: BreakerState) -> None:
        """A target's circuit breaker changed state (after the change)."""
        ...


class Metrics(Protocol):
    def call_recorded(self, call: LlmCall) -> None:
        """A call was recorded (after its commit): count, tokens, cost, latency, errors."""
        ...

    def job_finished(self, status: JobStatus, summary: CostSummary) -> None:
        """A job reached a final status (after its commit)."""
        ...

    def breaker_state(self, key: TargetKey, state: BreakerState) -> None:
        """A target's circuit breaker changed state (after the change)."""
        ...

    def cache_lookup(self, cache: str, *, hit: bool) -> None:
        """An in-process reference cache (keys, teams, aliases, credentials) was read."""
        ...

    def hold_refused(self, provider: str, alias: str) -> None:
        """A call's hold was refused (not enough credits): the provider was never called."""
        ...
