"""Admin API bodies for usage across teams: an organization's usage and the dashboard overview."""

from collections import defaultdict
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from uuid import UUID

import msgspec

from application.ports.repositories import ModelTotals, UsageOverview
from domain.jobs import CostSummary
from domain.money import EXACT, ZERO
from entrypoints.http.schemas.client import DayUsageOut, TokensOut, dec

RATE_QUANTUM = Decimal("0.0001")
_RATIO = Context(prec=50, rounding=ROUND_HALF_EVEN)  # a ratio is rounded, unlike money


def rate(part: int | Decimal, whole: int | Decimal) -> str | None:
    """A ratio to 4 decimals ('0.0250'), None when there is nothing to divide by."""
    if not whole:
        return None
    with localcontext(_RATIO):
        return str((Decimal(part) / Decimal(whole)).quantize(RATE_QUANTUM))


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


class TeamUsageRowOut(msgspec.Struct, frozen=True, kw_only=True):
    team_id: UUID
    jobs: int
    calls: int
    failed_calls: int
    tokens: int
    provider_cost_usd: str
    customer_cost_usd: str
    margin_usd: str


class ModelUsageRowOut(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    provider: str | None  # the alias's provider; None when the alias was deleted since
    calls: int
    tokens: int
    provider_cost_usd: str
    customer_cost_usd: str
    margin_usd: str


class ProviderUsageOut(msgspec.Struct, frozen=True, kw_only=True):
    provider: str  # "unknown": calls of aliases deleted since
    calls: int
    failed_calls: int
    error_rate: str | None  # failed calls / calls
    tokens: int
    provider_cost_usd: str
    customer_cost_usd: str
    margin_usd: str
    margin_rate: str | None  # margin / customer cost


class ErrorRatesOut(msgspec.Struct, frozen=True, kw_only=True):
    calls: str | None  # failed calls / calls
    jobs: str | None  # failed and expired jobs / finished jobs


class OrganizationUsageOut(msgspec.Struct, frozen=True, kw_only=True):
    organization_id: UUID
    from_: date = msgspec.field(name="from")
    to: date
    jobs: JobCountsOut
    calls: CallCountsOut
    tokens: TokensOut
    provider_cost_usd: str
    customer_cost_usd: str
    margin_usd: str
    by_team: list[TeamUsageRowOut]
    by_model: list[ModelUsageRowOut]
    by_day: list[DayUsageOut]


class OverviewOut(msgspec.Struct, frozen=True, kw_only=True):
    from_: date = msgspec.field(name="from")
    to: date
    organization_id: UUID | None
    teams_with_usage: int
    jobs: JobCountsOut
    calls: CallCountsOut
    tokens: TokensOut
    provider_cost_usd: str
    customer_cost_usd: str
    margin_usd: str
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


def _models(rows: list[ModelTotals]) -> list[ModelUsageRowOut]:
    with localcontext(EXACT):
        return [
            ModelUsageRowOut(
                model=m.model,
                provider=str(m.provider) if m.provider is not None else None,
                calls=m.calls,
                tokens=m.tokens,
                provider_cost_usd=dec(m.provider_cost_usd),
                customer_cost_usd=dec(m.customer_cost_usd),
                margin_usd=dec(m.customer_cost_usd - m.provider_cost_usd),
            )
            for m in rows
        ]


def _days(o: UsageOverview) -> list[DayUsageOut]:
    return [DayUsageOut(d.day, d.calls, d.tokens, dec(d.provider_cost_usd), dec(d.customer_cost_usd)) for d in o.by_day]


def organization_usage_out(organization_id: UUID, first: date, last: date, o: UsageOverview) -> OrganizationUsageOut:
    t = o.totals
    return OrganizationUsageOut(
        organization_id=organization_id,
        from_=first,
        to=last,
        jobs=_jobs(o),
        calls=_calls(t),
        tokens=TokensOut(t.input_tokens, t.output_tokens, t.total_tokens),
        provider_cost_usd=dec(t.provider_cost_usd),
        customer_cost_usd=dec(t.customer_cost_usd),
        margin_usd=dec(t.margin_usd),
        by_team=[
            TeamUsageRowOut(
                team_id=row.team_id,
                jobs=row.jobs,
                calls=row.totals.total_calls,
                failed_calls=row.totals.failed_calls,
                tokens=row.totals.total_tokens,
                provider_cost_usd=dec(row.totals.provider_cost_usd),
                customer_cost_usd=dec(row.totals.customer_cost_usd),
                margin_usd=dec(row.totals.margin_usd),
            )
            for row in o.by_team
        ],
        by_model=_models(o.by_model),
        by_day=_days(o),
    )


def overview_out(organization_id: UUID | None, first: date, last: date, o: UsageOverview) -> OverviewOut:
    t = o.totals
    providers: dict[str, list[ModelTotals]] = defaultdict(list)
    for m in o.by_model:
        providers[str(m.provider) if m.provider is not None else "unknown"].append(m)
    by_provider: list[ProviderUsageOut] = []
    with localcontext(EXACT):
        for name in sorted(providers):
            rows = providers[name]
            cost = sum((m.provider_cost_usd for m in rows), ZERO)
            price = sum((m.customer_cost_usd for m in rows), ZERO)
            calls = sum(m.calls for m in rows)
            failed = sum(m.failed_calls for m in rows)
            by_provider.append(
                ProviderUsageOut(
                    provider=name,
                    calls=calls,
                    failed_calls=failed,
                    error_rate=rate(failed, calls),
                    tokens=sum(m.tokens for m in rows),
                    provider_cost_usd=dec(cost),
                    customer_cost_usd=dec(price),
                    margin_usd=dec(price - cost),
                    margin_rate=rate(price - cost, price),
                )
            )
    return OverviewOut(
        from_=first,
        to=last,
        organization_id=organization_id,
        teams_with_usage=len(o.by_team),
        jobs=_jobs(o),
        calls=_calls(t),
        tokens=TokensOut(t.input_tokens, t.output_tokens, t.total_tokens),
        provider_cost_usd=dec(t.provider_cost_usd),
        customer_cost_usd=dec(t.customer_cost_usd),
        margin_usd=dec(t.margin_usd),
        margin_rate=rate(t.margin_usd, t.customer_cost_usd),
        error_rates=ErrorRatesOut(
            calls=rate(t.failed_calls, t.total_calls), jobs=rate(o.jobs_failed + o.jobs_expired, o.jobs_total)
        ),
        by_provider=by_provider,
        by_model=_models(o.by_model),
        by_day=_days(o),
    )
