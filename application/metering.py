"""Counting what the call path refuses, without touching the call path: a ``CallLedger``
decorator that tells the metrics about every hold refused for lack of credits."""

from datetime import datetime
from decimal import Decimal

from application.ports.observability import Metrics
from application.ports.repositories import CallLease, CallLedger
from domain.calls import LlmCall
from domain.errors import InsufficientCreditsError


class MeteredCallLedger:
    def __init__(self, inner: CallLedger, metrics: Metrics) -> None:
        self._inner = inner
        self._metrics = metrics

    async def reserve(self, lease: CallLease, *, at: datetime) -> None:
        try:
            await self._inner.reserve(lease, at=at)
        except InsufficientCreditsError:
            self._metrics.hold_refused(str(lease.provider), lease.alias)
            raise

    async def record(
        self, call: LlmCall, *, actual: Decimal, at: datetime | None, reason: str | None = None
    ) -> LlmCall | None:
        return await self._inner.record(call, actual=actual, at=at, reason=reason)
