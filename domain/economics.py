"""Job economics: what a job type costs, what a flat price per job would earn, and when a
team runs out of credits.

Definitions (API.md "Job economics"):

- percentiles are **nearest-rank** over the per-job values of a window: the k-th smallest
  of n values with ``k = ⌈p/100 · n⌉`` (at least 1), so a percentile is always one job's
  actual value, never an interpolation;
- margin is gross margin on provider cost, ``(price − cost) / price``;
- the suggested flat price is the smallest whole cent ``P`` with ``(P − c) / P ≥ m`` for
  the job at the requested percentile of provider cost ``c``: every job costing at most
  ``c`` (at least that share of the window's jobs) then reaches the target margin ``m``.

Everything is exact: costs are sums of calls already rounded once (1e-9 USD), the price
search runs on integers, and only a mean (a quotient) is rounded, half-even to 1e-9 USD.
"""

from collections.abc import Sequence
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, ROUND_HALF_EVEN, Context, Decimal, localcontext

import msgspec

from domain.errors import InvalidValueError
from domain.money import CREDIT_QUANTUM, EXACT, USD_QUANTUM, ZERO

CENT = Decimal("0.01")
DEFAULT_PERCENTILE = Decimal(95)
# A percentile has at most 2 decimals (95, 99.9, 99.99): ranks are then exact integers.
PERCENTILE_PLACES = 2
MARGIN_PLACES = 6
_MEAN = Context(prec=120, rounding=ROUND_HALF_EVEN)
RATIO_QUANTUM = Decimal("0.0001")
_RATIO = Context(prec=50, rounding=ROUND_HALF_EVEN)  # a ratio is rounded (half-even), unlike money


def ratio(part: int | Decimal, whole: int | Decimal) -> Decimal | None:
    """``part / whole`` to 4 decimals (``0.0250``: error rates, margin rates); None when
    there is nothing to divide by."""
    if not whole:
        return None
    with localcontext(_RATIO):
        return (Decimal(part) / Decimal(whole)).quantize(RATIO_QUANTUM)


def _places(value: Decimal) -> int:
    exponent = value.normalize().as_tuple().exponent
    return max(0, -exponent) if isinstance(exponent, int) else 0


def check_percentile(percentile: Decimal) -> Decimal:
    """A percentile in (0, 100] with at most 2 decimals (422 otherwise)."""
    if not percentile.is_finite() or not 0 < percentile <= 100 or _places(percentile) > PERCENTILE_PLACES:
        raise InvalidValueError("percentile must be greater than 0 and at most 100, with at most 2 decimals")
    return percentile


def check_target_margin(margin: Decimal) -> Decimal:
    """A target gross margin in [0, 1) with at most 6 decimals (1 would need an infinite price)."""
    if not margin.is_finite() or not 0 <= margin < 1 or _places(margin) > MARGIN_PLACES:
        raise InvalidValueError("target_margin must be at least 0 and below 1 (0.30 is 30 %), at most 6 decimals")
    return margin


def nearest_rank(n: int, percentile: Decimal) -> int:
    """The 1-based rank ``⌈p/100 · n⌉`` (at least 1) of the percentile among n values."""
    if n <= 0:
        raise InvalidValueError("a percentile needs at least one value")
    num, den = check_percentile(percentile).as_integer_ratio()
    # ⌈num·n / (100·den)⌉ in integers: no rounding anywhere.
    return max(1, -((-num * n) // (100 * den)))


def percentile_of(sorted_values: Sequence[Decimal | int], percentile: Decimal) -> Decimal | int:
    """The nearest-rank percentile of values sorted ascending."""
    return sorted_values[nearest_rank(len(sorted_values), percentile) - 1]


# Buckets of the job-types rollup (adapters/postgres/migrations/0011_job_type_rollup.sql,
# ``saasllm_bucket``): a percentile is found by counting jobs per bucket, then sorting only
# the jobs of the bucket that holds its rank. Exact for any values, because the bucket of
# a value is monotone in it.
EXACT_BELOW = 1000  # below, a bucket is one integer value
NANO_PER_USD = 10**9


def value_bucket(n: int) -> int:
    """The bucket of an integer ``n``: ``n`` itself below 1000, else its three significant
    digits and its number of digits (900 buckets per decade)."""
    if n < EXACT_BELOW:
        return n
    digits = len(str(n))
    scale: int = 10 ** (digits - 3)
    return EXACT_BELOW + (digits - 4) * 900 + n // scale - 100


def usd_bucket(usd: Decimal) -> int:
    """Money is bucketed by its whole nano-USD (``floor(usd · 10⁹)``)."""
    return value_bucket(int((usd * NANO_PER_USD).to_integral_value(rounding=ROUND_FLOOR)))


def locate_rank(counts: Sequence[tuple[int, int]], rank: int) -> tuple[int, int]:
    """The bucket holding the ``rank``-th smallest value (1-based) and its 0-based offset
    among that bucket's values, from ``(bucket, count)`` pairs in ascending bucket order."""
    seen = 0
    for bucket, count in counts:
        if rank <= seen + count:
            return bucket, rank - seen - 1
        seen += count
    raise InvalidValueError(f"rank {rank} is beyond the {seen} values counted")


def mean_usd(total: Decimal, n: int) -> Decimal:
    """``total / n`` rounded half-even to 1e-9 USD (the one rounded figure of a report)."""
    if n <= 0:
        return ZERO
    with localcontext(_MEAN):
        return (total / n).quantize(USD_QUANTUM)


def suggested_flat_price(cost_usd: Decimal, target_margin: Decimal) -> Decimal:
    """The smallest whole cent ``P > 0`` with ``(P − cost) / P ≥ target_margin``.

    ``(P − c) / P ≥ m`` ⇔ ``P · (1 − m) ≥ c`` (P > 0, m < 1), so P is ``c / (1 − m)``
    rounded up to the cent, computed on integer ratios (exact for any decimals).
    """
    check_target_margin(target_margin)
    if not cost_usd.is_finite() or cost_usd < 0:
        raise InvalidValueError("cost must be a finite amount >= 0")
    c_num, c_den = cost_usd.as_integer_ratio()
    m_num, m_den = target_margin.as_integer_ratio()
    # cents ≥ 100 · c / (1 − m) = 100 · c_num · m_den / (c_den · (m_den − m_num))
    numerator = 100 * c_num * m_den
    denominator = c_den * (m_den - m_num)
    cents = max(1, -((-numerator) // denominator))
    with localcontext(EXACT):
        return Decimal(cents) * CENT


def reaches_margin(price_usd: Decimal, cost_usd: Decimal, target_margin: Decimal) -> bool:
    """Whether a job costing ``cost_usd`` reaches ``target_margin`` at ``price_usd`` (exact)."""
    if price_usd <= 0:
        return False
    with localcontext(EXACT):
        return price_usd - cost_usd >= target_margin * price_usd


class WhatIf(msgspec.Struct, frozen=True, kw_only=True):
    """The window's jobs had they been charged one flat price each."""

    price_usd: Decimal
    jobs: int
    revenue_usd: Decimal
    provider_cost_usd: Decimal
    margin_usd: Decimal
    jobs_losing_money: int  # jobs whose provider cost exceeds the price

    @property
    def margin_rate(self) -> Decimal | None:
        """Margin / revenue, to 4 places; None without revenue."""
        return ratio(self.margin_usd, self.revenue_usd)


def what_if(*, price_usd: Decimal, jobs: int, provider_cost_usd: Decimal, jobs_costing_more: int) -> WhatIf:
    """``revenue = n · P``, ``margin = n · P − Σ c``; ``jobs_costing_more`` is ``#(c > P)``."""
    with localcontext(EXACT):
        revenue = price_usd * jobs
        return WhatIf(
            price_usd=price_usd,
            jobs=jobs,
            revenue_usd=revenue,
            provider_cost_usd=provider_cost_usd,
            margin_usd=revenue - provider_cost_usd,
            jobs_losing_money=jobs_costing_more,
        )


def what_if_of(costs: Sequence[Decimal], price_usd: Decimal) -> WhatIf:
    """``what_if`` computed from every job's provider cost (the reference definition)."""
    with localcontext(EXACT):
        total = sum(costs, ZERO)
    return what_if(
        price_usd=price_usd,
        jobs=len(costs),
        provider_cost_usd=total,
        jobs_costing_more=sum(1 for c in costs if c > price_usd),
    )


class Forecast(msgspec.Struct, frozen=True, kw_only=True):
    """How fast a team spends its credits and when, at that pace, it has none left.

    ``runs_out_at`` is None when the team is not burning (no debit in the window).
    """

    burn_rate_per_day: Decimal
    runs_out_at: datetime | None


FORECAST_WINDOW_DAYS = 7


def forecast(
    *, remaining: Decimal, debited: Decimal, now: datetime, window_days: int = FORECAST_WINDOW_DAYS
) -> Forecast:
    """The burn rate is the credits debited over the last ``window_days`` per day (rounded
    half-even to 1e-6 for display); the run-out time divides what remains by the exact
    rate, truncated to the second (``now`` itself when nothing remains)."""
    if window_days <= 0:
        raise InvalidValueError("the forecast window must be at least one day")
    if debited < 0 or not debited.is_finite() or not remaining.is_finite():
        raise InvalidValueError("debited credits must be a finite amount >= 0")
    with localcontext(_MEAN):
        rate = (debited / window_days).quantize(CREDIT_QUANTUM)
    if debited == 0:
        return Forecast(burn_rate_per_day=rate, runs_out_at=None)
    if remaining <= 0:
        return Forecast(burn_rate_per_day=rate, runs_out_at=now)
    # seconds = remaining / (debited / (window_days · 86400)), in integers.
    r_num, r_den = remaining.as_integer_ratio()
    d_num, d_den = debited.as_integer_ratio()
    seconds = (r_num * d_den * window_days * 86_400) // (r_den * d_num)
    try:
        return Forecast(burn_rate_per_day=rate, runs_out_at=now + timedelta(seconds=seconds))
    except OverflowError:  # past year 9999: as good as never, but still burning
        return Forecast(burn_rate_per_day=rate, runs_out_at=datetime.max.replace(tzinfo=now.tzinfo))
