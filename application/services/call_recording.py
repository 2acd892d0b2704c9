"""Recording a call's outcome: once, shielded, retried while the database is unavailable.

A call has exactly one outcome, recorded once: whichever of the normal end, a provider
error or the client's disconnect comes first records it, and the others wait for that
record instead of writing their own. The record is one statement (``CallLedger.record``)
that ends the lease, settles the hold, stores the call and adds it to the job's totals;
when it cannot be written (the database is down past a few retries) the lease stays, and
once it expires the sweeper captures the hold as ``unsettled``.
"""

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any, TypeVar

from application.errors import ProviderError, UnavailableError
from application.ports.observability import Metrics
from application.ports.response_cache import CachedAnswer
from application.ports.unit_of_work import UnitOfWorkFactory
from application.services.call_preparation import CallPath, PreparedCall
from application.services.call_values import ClientGoneError
from domain.access import ModelAlias
from domain.calls import CallStatus, LlmCall
from domain.llm import FinishReason, LlmResponse, estimate_usage
from domain.pricing import CallCost, price_cached_call, price_call
from domain.routing import AliasTarget
from domain.text import storable
from domain.usage import NO_USAGE, TokenUsage

log = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class CallRecorder:
    """Records outcomes of prepared calls (see the module docstring)."""

    path: CallPath
    uow: UnitOfWorkFactory
    metrics: Metrics
    record_attempts: int = 4
    record_retry_s: float = 0.25

    async def succeeded(
        self, prepared: PreparedCall, response: LlmResponse, *, ttft_ms: int | None, streamed: bool, answer: str | None
    ) -> LlmCall:
        """The provider answered in full: the target is healthy, the call is recorded, and
        ``answer`` (the text, None when it may not be cached) kept in the response cache."""
        self.path.breakers.succeeded(prepared.route.key)
        call = await self._once(
            prepared,
            status=CallStatus.SUCCEEDED,
            usage=response.usage,
            usage_estimated=response.usage_estimated,
            finish_reason=response.finish_reason,
            provider_model=response.provider_model or prepared.route.target.provider_model,
            attempts=prepared.attempts_before + response.attempts,
            ttft_ms=ttft_ms,
            streamed=streamed,
            error=None,
        )
        if answer is not None:
            await self.path.caching.keep(prepared.cache_key, prepared.alias, prepared.route.target, call, answer)
        return call

    async def failed(
        self,
        prepared: PreparedCall,
        exc: ProviderError,
        *,
        received: int = 0,
        ttft_ms: int | None = None,
        streamed: bool,
        estimate: bool = False,
    ) -> LlmCall:
        """``received``: bytes of text relayed to the client before the failure; ``estimate``:
        bill an estimate when the provider reported no usage even if nothing was relayed."""
        if prepared.cached is not None:  # a replay the client left: the answer was served from the cache
            return await self.replayed(prepared, ttft_ms=ttft_ms, streamed=streamed)
        usage, estimated = exc.usage, exc.usage_estimated
        if usage is None and (estimate or received):
            usage, estimated = estimate_usage(prepared.request.messages, received), True
        return await self._once(
            prepared,
            status=CallStatus.FAILED,
            usage=usage or NO_USAGE,
            usage_estimated=estimated,
            finish_reason=FinishReason.ERROR,
            provider_model=prepared.route.target.provider_model,
            attempts=prepared.attempts_before + exc.attempts,
            ttft_ms=ttft_ms,
            streamed=streamed,
            error=exc,
        )

    async def replayed(self, prepared: PreparedCall, *, ttft_ms: int | None, streamed: bool) -> LlmCall:
        """A call answered from the response cache (issue 12): no provider attempt, provider
        cost 0, the customer price of the answer × the alias's cached price factor."""
        answer = prepared.cached
        assert answer is not None
        return await self._once(
            prepared,
            status=CallStatus.SUCCEEDED,
            usage=answer.usage,
            usage_estimated=False,
            finish_reason=answer.finish_reason,
            provider_model=answer.provider_model,
            attempts=0,
            ttft_ms=ttft_ms,
            streamed=streamed,
            error=None,
            cached=answer,
        )

    async def renew(self, prepared: PreparedCall) -> None:
        """Keep a running stream's lease alive; a database blip only shortens it."""
        now = self.path.clock.now()
        try:
            async with self.uow() as uow:
                await uow.calls.renew_lease(prepared.job_id, prepared.call_id, until=now + self.path.lease, at=now)
                await uow.commit()
        except UnavailableError:
            log.warning("lease_renewal_failed", extra={"call_id": str(prepared.call_id)})

    def elapsed_ms(self, prepared: PreparedCall) -> int:
        return max(0, round((self.path.clock.monotonic() - prepared.started) * 1000))

    async def _once(self, prepared: PreparedCall, **outcome: Any) -> LlmCall:
        """Record the call's outcome unless one is already being recorded (then wait for it).

        The record runs as its own task, shielded: the cancellation of the request that
        triggered it must not stop it.
        """
        if prepared.outcome is None:
            prepared.outcome = background(self._record(prepared, **outcome))
        return await asyncio.shield(prepared.outcome)

    async def _record(
        self,
        prepared: PreparedCall,
        *,
        status: CallStatus,
        usage: TokenUsage,
        usage_estimated: bool,
        finish_reason: FinishReason,
        provider_model: str,
        attempts: int,
        ttft_ms: int | None,
        streamed: bool,
        error: ProviderError | None,
        cached: CachedAnswer | None = None,
    ) -> LlmCall:
        alias, team, route = prepared.alias, prepared.team, prepared.route
        # A half-open target's trial this call took and did not decide is handed back.
        self.path.breakers.release([r.key for r in prepared.routes], prepared.call_id)
        cost: CallCost
        if cached is not None:
            factor = alias.cached_response_price_factor
            sheet = served_by(alias, cached).customer_prices
            cost = price_cached_call(usage, customer=sheet, factor=factor)
            actual = team.budget.call_credits(usage, cost, token_factor=factor)
        else:
            # Priced at the target that served (or failed last), not at the alias's primary.
            cost = price_call(usage, provider=route.target.provider_costs, customer=route.target.customer_prices)
            actual = team.budget.call_credits(usage, cost)
        now = self.path.clock.now()
        call = LlmCall(
            id=prepared.call_id,
            job_id=prepared.job_id,
            team_id=team.id,
            alias=alias.alias,
            provider=cached.provider if cached is not None else route.target.provider,
            provider_model=storable(provider_model)[:200],
            status=status,
            usage=usage,
            cost=cost,
            credits=actual,
            usage_estimated=usage_estimated,
            created_at=now,
            latency_ms=self.elapsed_ms(prepared),
            ttft_ms=ttft_ms,
            finish_reason=finish_reason,
            attempts=attempts,
            streamed=streamed,
            error_code=error.code if error else None,
            error_message=storable(error.detail[:1000]) if error else None,
            credential_id=None if cached is not None else route.provider.credential_id,
            purpose=prepared.purpose,
            cached=cached is not None,
        )
        recorded = await self._write_retrying(call, actual, now)
        self.metrics.call_recorded(recorded)
        if error is not None and not isinstance(error, ClientGoneError):
            log.warning(
                "provider_call_failed",
                extra={
                    "call_id": str(call.id),
                    "provider": str(route.target.provider),
                    "model": alias.alias,
                    "credential": route.credential_hint,
                    "error": type(error).__name__,
                    "code": error.code,
                    "detail": error.detail[:300],  # the provider's own message, redacted by the adapter
                    "attempts": attempts,
                },
            )
        await self.path.rate_limits.settle(prepared.admission, recorded.usage)  # rate limits (issue 12)
        if recorded.overdraft_credits > 0:
            log.warning(
                "call used more credits than its hold allowed",
                extra={
                    "call_id": str(call.id),
                    "team_id": str(team.id),
                    "overdraft_credits": str(recorded.overdraft_credits),
                },
            )
        return recorded

    async def _write_retrying(self, call: LlmCall, actual: Decimal, now: datetime) -> LlmCall:
        for attempt in range(1, max(1, self.record_attempts) + 1):
            try:
                return await self._write(call, actual, now)
            except UnavailableError:
                if attempt == max(1, self.record_attempts):
                    # The lease stays: once it expires the sweeper captures the hold.
                    log.error("call_record_failed", extra={"call_id": str(call.id), "attempts": attempt})
                    raise
                await asyncio.sleep(self.record_retry_s * 2 ** (attempt - 1))
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns or raises

    async def _write(self, call: LlmCall, actual: Decimal, now: datetime) -> LlmCall:
        recorded = await self.path.ledger.record(call, actual=actual, at=now)
        if recorded is None:
            # The sweeper captured this call's hold (its lease expired while the record
            # could not be written): the captured debit stands, for an operator to review.
            log.warning(
                "call_outcome_after_capture",
                extra={"call_id": str(call.id), "credits": str(actual), "status": call.status.value},
            )
            return call
        return recorded


def served_by(alias: ModelAlias, answer: CachedAnswer) -> AliasTarget:
    """The target of ``alias`` that produced a cached answer (its primary when none matches
    any more): a replay costs what that target's answer costs, times the cached factor."""
    for target in (*alias.own_targets, *alias.fallback_targets):
        if (target.provider, target.provider_model) == (answer.provider, answer.provider_model):
            return target
    return alias.primary


def background(work: Awaitable[T]) -> "asyncio.Future[T]":
    """Run ``work`` as its own task; its error is always retrieved (logged if nobody awaits it)."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieve)
    return task


def _retrieve(task: "asyncio.Future[Any]") -> None:
    if not task.cancelled():
        task.exception()
