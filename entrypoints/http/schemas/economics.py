"""Bodies of the job-economics endpoints: job-type spreads and flat-price suggestions,
quotes, and the CSV export's rows. Amounts leave as fixed-point decimal strings."""

import csv
import io
from datetime import date, datetime
from decimal import Decimal
from uuid import UUID

import msgspec

from application.ports.repositories import JobExportRow, MoneySpread
from application.services.economics import CallQuote, JobTypeEconomics, JobTypeQuote, JobTypesReport
from domain.economics import WhatIf
from domain.errors import InvalidValueError
from entrypoints.http.schemas.amounts import DecimalRule
from entrypoints.http.schemas.copying import from_attributes
from entrypoints.http.schemas.money import Body, Money, fixed_point
from entrypoints.http.schemas.reports import rate

TARGET_MARGIN = DecimalRule(places=6, minimum=Decimal(0), maximum=Decimal(1))
PERCENTILE = DecimalRule(places=2, minimum=Decimal(0), maximum=Decimal(100), minimum_excluded=True)


def query_decimal(value: str | None, rule: DecimalRule, name: str) -> Decimal | None:
    """A decimal query parameter in the bodies' notation (422 otherwise)."""
    if value is None:
        return None
    rule.check(value, name)
    if not value:
        raise InvalidValueError(f"{name} must not be empty")
    return Decimal(value)


class CountSpreadOut(Body, frozen=True, kw_only=True):
    p50: int
    p95: int
    max: int


class MoneySpreadOut(Body, frozen=True, kw_only=True):
    total: Money
    mean: Money  # total / jobs, rounded half-even to 1e-9
    p50: Money
    p95: Money
    p99: Money
    max: Money


class MarginOut(Body, frozen=True, kw_only=True):
    total: Money
    mean: Money


class WhatIfOut(Body, frozen=True, kw_only=True):
    price_usd: Money
    jobs: int
    revenue_usd: Money  # jobs × price
    provider_cost_usd: Money
    margin_usd: Money  # revenue − provider cost
    margin_rate: str | None  # margin / revenue, to 4 places
    jobs_losing_money: int  # jobs whose provider cost exceeds the price


class JobTypeOut(Body, frozen=True, kw_only=True):
    job_type: str
    jobs: int
    completed: int
    failed: int
    cancelled: int
    expired: int
    calls_per_job: CountSpreadOut
    tokens_per_job: CountSpreadOut
    provider_cost_usd: MoneySpreadOut
    customer_price_usd: MoneySpreadOut
    margin_usd: MarginOut
    cost_at_percentile_usd: Money  # provider cost of the job at the requested percentile
    suggested_flat_price_usd: Money | None = None  # with target_margin
    what_if: WhatIfOut | None = None  # with target_margin


class JobTypesOut(Body, frozen=True, kw_only=True):
    organization_id: UUID | None
    team_id: UUID | None
    from_: date = msgspec.field(name="from")
    to: date
    percentile: Money
    target_margin: Money | None
    items: list[JobTypeOut]


def _what_if(w: WhatIf) -> WhatIfOut:
    return from_attributes(WhatIfOut, w, margin_rate=rate(w.margin_rate))


def _money_spread(spread: MoneySpread, mean: Decimal) -> MoneySpreadOut:
    return from_attributes(MoneySpreadOut, spread, mean=mean)


def _job_type(item: JobTypeEconomics) -> JobTypeOut:
    s = item.stats
    return from_attributes(
        JobTypeOut,
        s,
        calls_per_job=from_attributes(CountSpreadOut, s.calls),
        tokens_per_job=from_attributes(CountSpreadOut, s.tokens),
        provider_cost_usd=_money_spread(s.provider_cost_usd, item.provider_cost_mean_usd),
        customer_price_usd=_money_spread(s.customer_price_usd, item.customer_price_mean_usd),
        margin_usd=MarginOut(total=item.margin_total_usd, mean=item.margin_mean_usd),
        cost_at_percentile_usd=s.provider_cost_usd.at_percentile,
        suggested_flat_price_usd=item.suggestion.price_usd if item.suggestion else None,
        what_if=_what_if(item.suggestion.what_if) if item.suggestion else None,
    )


def job_types_out(report: JobTypesReport) -> JobTypesOut:
    return from_attributes(
        JobTypesOut, report, from_=report.first_day, to=report.last_day, items=[_job_type(i) for i in report.items]
    )


class AmountOut(Body, frozen=True, kw_only=True):
    usd: Money
    credits: Money


class CallQuoteOut(Body, frozen=True, kw_only=True):
    model: str
    max_tokens: int  # what the call would send (the alias's default_max_tokens when not given)
    worst_case: AmountOut  # credits: exactly the hold the call places
    expected: AmountOut
    expected_input_tokens: int  # ~4 bytes of message text per token
    expected_output_tokens: int
    output_basis: str  # "recent_median" (of this alias's recent calls by the team) or "max_tokens"
    history_calls: int


def call_quote_out(q: CallQuote) -> CallQuoteOut:
    return from_attributes(
        CallQuoteOut,
        q,
        worst_case=from_attributes(AmountOut, q.worst_case),
        expected=from_attributes(AmountOut, q.expected),
    )


class PercentilesOut(Body, frozen=True, kw_only=True):
    p50: Money
    p95: Money


class JobTypeQuoteOut(Body, frozen=True, kw_only=True):
    team_id: UUID
    job_type: str
    jobs: int  # finished jobs the figures come from (the most recent, at most 1,000)
    credits: PercentilesOut
    customer_price_usd: PercentilesOut


def job_type_quote_out(q: JobTypeQuote) -> JobTypeQuoteOut:
    return from_attributes(
        JobTypeQuoteOut,
        q,
        credits=PercentilesOut(p50=q.credits_p50, p95=q.credits_p95),
        customer_price_usd=PercentilesOut(p50=q.customer_price_p50_usd, p95=q.customer_price_p95_usd),
    )


EXPORT_COLUMNS = (
    "job_id",
    "external_id",
    "organization_id",
    "team_id",
    "job_type",
    "status",
    "created_at",
    "completed_at",
    "calls",
    "successful_calls",
    "failed_calls",
    "input_tokens",
    "cached_input_tokens",
    "cache_write_tokens",
    "output_tokens",
    "reasoning_tokens",
    "total_tokens",
    "provider_cost_usd",
    "customer_price_usd",
    "margin_usd",
    "credits",
)


def _line(values: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow(values)
    return buffer.getvalue().encode("utf-8")


def _time(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _text(value: str) -> str:
    """A client's free text, never read as a formula by a spreadsheet (OWASP "CSV injection")."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_header() -> bytes:
    return _line(list(EXPORT_COLUMNS))


def csv_row(r: JobExportRow) -> bytes:
    """One job; the token columns are disjoint categories (``total_tokens`` is their sum)."""
    return _line(
        [
            str(r.job_id),
            _text(r.external_id or ""),
            str(r.organization_id),
            str(r.team_id),
            _text(r.job_type),
            r.status.value,
            _time(r.created_at),
            _time(r.completed_at),
            str(r.calls),
            str(r.successful_calls),
            str(r.failed_calls),
            str(r.input_tokens),
            str(r.cached_input_tokens),
            str(r.cache_write_tokens),
            str(r.output_tokens),
            str(r.reasoning_tokens),
            str(r.total_tokens),
            fixed_point(r.provider_cost_usd),
            fixed_point(r.customer_price_usd),
            fixed_point(r.margin_usd),
            fixed_point(r.credits),
        ]
    )
