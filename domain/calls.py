"""A recorded LLM call: what was asked, what it used, what it cost."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import msgspec

from domain.catalog import ProviderName
from domain.ids import CallId, CredentialId, JobId, TeamId
from domain.jobs import CostSummary
from domain.llm import FinishReason
from domain.money import ZERO
from domain.pricing import CallCost
from domain.usage import TokenUsage


class CallStatus(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class LlmCall(msgspec.Struct, frozen=True, kw_only=True):
    id: CallId
    job_id: JobId
    team_id: TeamId
    alias: str
    provider: ProviderName
    provider_model: str
    status: CallStatus
    usage: TokenUsage
    cost: CallCost
    credits: Decimal
    created_at: datetime
    latency_ms: int
    usage_estimated: bool = False
    overdraft_credits: Decimal = ZERO
    finish_reason: FinishReason | None = None
    ttft_ms: int | None = None
    attempts: int = 1
    streamed: bool = False
    error_code: str | None = None
    error_message: str | None = None
    credential_id: CredentialId | None = None
    purpose: str | None = None
    # Captured at its held amount because its outcome could never be recorded.
    unsettled: bool = False
    # Answered from the response cache: the provider was never called (provider cost 0).
    cached: bool = False

    def summary(self) -> CostSummary:
        """This call as a one-call summary, so job totals are sums of these."""
        ok = self.status is CallStatus.SUCCEEDED
        return CostSummary(
            total_calls=1,
            successful_calls=1 if ok else 0,
            failed_calls=0 if ok else 1,
            input_tokens=self.usage.prompt_tokens,
            output_tokens=self.usage.completion_tokens,
            provider_cost_usd=self.cost.provider_cost_usd,
            customer_cost_usd=self.cost.customer_price_usd,
            credits=self.credits,
        )


UNSETTLED_ERROR_CODE = "unsettled"


def unsettled_call(
    *,
    call_id: CallId,
    job_id: JobId,
    team_id: TeamId,
    alias: str,
    provider: ProviderName,
    credits: Decimal,
    started_at: datetime,
    at: datetime,
) -> LlmCall:
    """A call whose outcome could never be recorded, captured at its held credits.

    It counts as a failed call with unknown usage (none is invented); its credits are the
    hold it was captured at, flagged so an operator can review and refund it.
    """
    latency_ms = max(0, round((at - started_at).total_seconds() * 1000))
    return LlmCall(
        id=call_id,
        job_id=job_id,
        team_id=team_id,
        alias=alias,
        provider=provider,
        provider_model="unknown",
        status=CallStatus.FAILED,
        usage=TokenUsage(),
        cost=CallCost(provider_cost_usd=ZERO, customer_price_usd=ZERO),
        credits=credits,
        created_at=at,
        latency_ms=min(latency_ms, 2**31 - 1),
        finish_reason=None,
        error_code=UNSETTLED_ERROR_CODE,
        error_message="the outcome of this call could not be recorded; captured at its held credits",
        unsettled=True,
    )
