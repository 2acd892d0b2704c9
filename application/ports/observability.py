"""Business metrics: what the service reports about calls and jobs (Prometheus, say)."""

from typing import Protocol

from domain.calls import LlmCall
from domain.jobs import CostSummary, JobStatus


class Metrics(Protocol):
    def call_recorded(self, call: LlmCall) -> None:
        """A call was recorded (after its commit): count, tokens, cost, latency, errors."""
        ...

    def job_finished(self, status: JobStatus, summary: CostSummary) -> None:
        """A job reached a final status (after its commit)."""
        ...

    def cache_lookup(self, cache: str, *, hit: bool) -> None:
        """An in-process reference cache (keys, teams, aliases, credentials) was read."""
        ...

    def hold_refused(self, provider: str, alias: str) -> None:
        """A call's hold was refused (not enough credits): the provider was never called."""
        ...
