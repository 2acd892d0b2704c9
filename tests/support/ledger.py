"""A call's lease and its succeeded outcome, as the call-ledger tests build them.

One copy for the contract, integration and unit tests that reserve and record on a ledger
directly (without the call path in front of it).
"""

from datetime import datetime
from decimal import Decimal
from uuid import uuid4

from application.ports.repositories import CallLease
from domain.calls import CallStatus, LlmCall
from domain.catalog import Provider
from domain.ids import CallId, JobId, TeamId
from domain.pricing import CallCost
from domain.usage import TokenUsage


def call_lease(
    team_id: TeamId,
    job_id: JobId,
    held: Decimal,
    *,
    at: datetime,
    expires_at: datetime,
    call_id: CallId | None = None,
    alias: str = "smart",
) -> CallLease:
    """A lease on OpenAI holding ``held``, taken at ``at`` (a fresh call id unless given)."""
    return CallLease(
        call_id=call_id or CallId(uuid4()),
        job_id=job_id,
        team_id=team_id,
        held=held,
        alias=alias,
        provider=Provider.OPENAI,
        expires_at=expires_at,
        created_at=at,
    )


def succeeded_call(lease: CallLease, credits: Decimal, *, at: datetime) -> LlmCall:
    """The succeeded call that settles ``lease`` at ``credits`` (10 in, 5 out tokens)."""
    return LlmCall(
        id=lease.call_id,
        job_id=lease.job_id,
        team_id=lease.team_id,
        alias=lease.alias,
        provider=lease.provider,
        provider_model="gpt-test",
        status=CallStatus.SUCCEEDED,
        usage=TokenUsage(input=10, output=5),
        cost=CallCost(provider_cost_usd=Decimal("0.001"), customer_price_usd=Decimal("0.002")),
        credits=credits,
        created_at=at,
        latency_ms=1,
    )
