"""Admin API bodies for usage across teams: an organization's usage and the dashboard overview."""

from datetime import date
from decimal import Decimal
from typing import TypedDict
from uuid import UUID

import msgspec

from application.ports.repositories import ModelTotals, UsageOverview
from domain.jobs import CostSummary
from entrypoints.http.schemas.client import DayUsageOut, TokensOut, day_usage_out, tokens_out
from entrypoints.http.schemas.copying import from_attributes
from entrypoints.http.schemas.money import Body, Money


def rate(ratio: Decimal | None) -> str | None:
    """A ratio as the read model computed it, to 4 decimals ('0.0250'); None: nothing to divide."""
    return None if ratio is None else str(ratio)


class JobCountsOut(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    completed: int
    failed: int
    cancelled: int
    expired: int


class CallCountsOut(msgspec.Struct, frozen=True, kw_only=True):
    total: int
    successful: int
    failed: int


class TeamUsageRowOut(Body, frozen=True, kw_only=True):
    team_id: UUID
    jobs: int
    calls: int
    failed_calls: int
    tokens: int
    provider_cost_usd: Money
    customer_cost_usd: Money
    margin_usd: Money


class ModelUsageRowOut(Body, frozen=True, kw_only=True):
    model: str
    provider: str | None  # the alias's provider; None when the alias was deleted since
    calls: int
    tokens: int
    provider_cost_usd: Money
    customer_cost_usd: Money
    margin_usd: Money


class ProviderUsageOut(Body, frozen=True, kw_only=True):
    provider: str  # "unknown": calls of aliases deleted since
    calls: int
    failed_calls: int
    error_rate: str | None  # failed calls / calls
    tokens: int
    provider_cost_usd: Money
    customer_cost_usd: Money
    margin_usd: Money
    margin_rate: str | None  # margin / customer cost


class ErrorRatesOut(msgspec.Struct, frozen=True, kw_only=True):
    calls: str | None  # failed calls / calls
    jobs: str | None  # failed and expired jobs / finished jobs


class OrganizationUsageOut(Body, frozen=True, kw_only=True):
    organization_id: UUID
    from_: date = msgspec.field(name="from")
    to: date
    jobs: JobCountsOut
    calls: CallCountsOut
    tokens: TokensOut
    provider_cost_usd: Money
    customer_cost_usd: Money
    margin_usd: Money
    by_team: list[TeamUsageRowOut]
    by_model: list[ModelUsageRowOut]
    by_day: list[DayUsageOut]


class OverviewOut(Body, frozen=True, kw_only=True):
    from_: date = msgspec.field(name="from")
    to: date
    organization_id: UUID | None
    teams_with_usage: int
    jobs: JobCountsOut
    calls: CallCountsOut
    tokens: TokensOut
    provider_cost_usd: Money
    customer_cost_usd: Money
    margin_usd: Money
    margin_rate: str | None
    error_rates: ErrorRatesOut
    by_provider: list[ProviderUsageOut]
    by_model: list[ModelUsageRowOut]
    by_day: list[DayUsageOut]


def _jobs(o: UsageOverview) -> JobCountsOut:
    return JobCountsOut(
        total=o.jobs_total,
        completed=o.jobs_completed,
        failed=o.jobs_failed,
        cancelled=o.jobs_cancelled,
        expired=o.jobs_expired,
    )


def _calls(t: CostSummary) -> CallCountsOut:
    return CallCountsOut(total=t.total_calls, successful=t.successful_calls, failed=t.failed_calls)


class _UsageTotals(TypedDict):
    """The totals an organization's usage and the overview both report, field for field."""

    jobs: JobCountsOut
    calls: CallCountsOut
    tokens: TokensOut
    provider_cost_usd: Decimal
    customer_cost_usd: Decimal
    margin_usd: Decimal


def _usage_totals(o: UsageOverview) -> _UsageTotals:
    t = o.totals
    return _UsageTotals(
        jobs=_jobs(o),
        calls=_calls(t),
        tokens=tokens_out(t),
        provider_cost_usd=t.provider_cost_usd,
        customer_cost_usd=t.customer_cost_usd,
        margin_usd=t.margin_usd,
    )


def _models(rows: list[ModelTotals]) -> list[ModelUsageRowOut]:
    return [
        from_attributes(ModelUsageRowOut, m, provider=str(m.provider) if m.provider is not None else None) for m in rows
    ]


def _days(o: UsageOverview) -> list[DayUsageOut]:
    return [day_usage_out(d) for d in o.by_day]


def organization_usage_out(organization_id: UUID, first: date, last: date, o: UsageOverview) -> OrganizationUsageOut:
    return OrganizationUsageOut(
        organization_id=organization_id,
        from_=first,
        to=last,
        **_usage_totals(o),
        by_team=[
            from_attributes(
                TeamUsageRowOut,
                row.totals,
                team_id=row.team_id,
                jobs=row.jobs,
                calls=row.totals.total_calls,
                tokens=row.totals.total_tokens,
            )
            for row in o.by_team
        ],
        by_model=_models(o.by_model),
        by_day=_days(o),
    )


def overview_out(organization_id: UUID | None, first: date, last: date, o: UsageOverview) -> OverviewOut:
    by_provider = [
        from_attributes(ProviderUsageOut, p, error_rate=rate(p.error_rate), margin_rate=rate(p.margin_rate))
        for p in o.by_provider
    ]
    return OverviewOut(
        from_=first,
        to=last,
        organization_id=organization_id,
        teams_with_usage=len(o.by_team),
        **_usage_totals(o),
        margin_rate=rate(o.margin_rate),
        error_rates=ErrorRatesOut(calls=rate(o.call_error_rate), jobs=rate(o.job_error_rate)),
        by_provider=by_provider,
        by_model=_models(o.by_model),
        by_day=_days(o),
    )
