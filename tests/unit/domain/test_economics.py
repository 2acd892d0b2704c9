"""Job economics rules: nearest-rank percentiles, the flat-price suggestion, what-if and the forecast."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.economics import (
    check_percentile,
    check_target_margin,
    forecast,
    locate_rank,
    mean_usd,
    nearest_rank,
    percentile_of,
    reaches_margin,
    suggested_flat_price,
    usd_bucket,
    value_bucket,
    what_if_of,
)
from domain.errors import InvalidValueError

D = Decimal
NOW = datetime(2026, 3, 1, tzinfo=UTC)
costs = st.decimals(min_value=0, max_value=1000, places=9, allow_nan=False, allow_infinity=False)
job_costs = st.lists(costs, min_size=1, max_size=60)
margins = st.decimals(min_value=0, max_value=D("0.999999"), places=6, allow_nan=False, allow_infinity=False)
percentiles = st.decimals(min_value=D("0.01"), max_value=100, places=2, allow_nan=False, allow_infinity=False)


def test_nearest_rank_examples() -> None:
    assert nearest_rank(30, D(10)) == 3  # 0.1 · 30 in floats is 3.0000000000000004: not 4
    assert nearest_rank(20, D(95)) == 19
    assert nearest_rank(1, D("0.01")) == 1
    assert nearest_rank(7, D(100)) == 7
    assert percentile_of([D(1), D(2), D(3), D(4)], D(50)) == D(2)


@given(st.integers(min_value=1, max_value=10_000), percentiles)
def test_nearest_rank_is_the_smallest_rank_covering_the_share(n: int, p: Decimal) -> None:
    k = nearest_rank(n, p)
    assert 1 <= k <= n
    assert D(k) * 100 >= p * n  # at least p % of the values are at or below the k-th
    assert k == 1 or D(k - 1) * 100 < p * n  # and no smaller rank covers it


@given(job_costs, margins, percentiles)
def test_suggested_price_reaches_the_margin_for_the_percentile_and_is_the_smallest_cent(
    values: list[Decimal], margin: Decimal, p: Decimal
) -> None:
    ordered = sorted(values)
    price = suggested_flat_price(D(percentile_of(ordered, p)), margin)
    assert price > 0 and price == price.quantize(D("0.01"))
    reaching = sum(1 for c in ordered if reaches_margin(price, c, margin))
    assert D(reaching) * 100 >= p * len(ordered)  # at least the requested share reaches the margin
    cheaper = price - D("0.01")
    if cheaper > 0:  # one cent less and that share no longer does
        assert D(sum(1 for c in ordered if reaches_margin(cheaper, c, margin))) * 100 < p * len(ordered)


@given(job_costs, st.decimals(min_value=D("0.01"), max_value=10_000, places=2))
def test_what_if_totals_are_the_exact_sums_of_the_jobs(values: list[Decimal], price: Decimal) -> None:
    w = what_if_of(values, price)
    assert w.revenue_usd == price * len(values)
    assert w.provider_cost_usd == sum(values, D(0))
    assert w.margin_usd == price * len(values) - sum(values, D(0))
    assert w.jobs_losing_money == len([c for c in values if c > price])


def test_suggestion_examples() -> None:
    assert suggested_flat_price(D("0.70"), D("0.30")) == D("1.00")  # (1 − 0.7) / 1 = 30 % exactly
    assert suggested_flat_price(D("0.7000001"), D("0.30")) == D("1.01")
    assert suggested_flat_price(D(0), D("0.5")) == D("0.01")  # never a zero price
    assert suggested_flat_price(D("0.01"), D(0)) == D("0.01")


@pytest.mark.parametrize("bad", [D(1), D("1.5"), D("-0.1"), D("0.1234567"), D("NaN")])
def test_a_margin_of_one_or_more_or_negative_is_refused(bad: Decimal) -> None:
    with pytest.raises(InvalidValueError):
        check_target_margin(bad)


@pytest.mark.parametrize("bad", [D(0), D("100.01"), D(-5), D("95.123")])
def test_a_percentile_outside_0_100_or_too_precise_is_refused(bad: Decimal) -> None:
    with pytest.raises(InvalidValueError):
        check_percentile(bad)


def test_mean_rounds_half_even_to_a_nano_dollar() -> None:
    assert mean_usd(D("0.000000001"), 2) == D("0.000000000")  # 0.5 nano: to the even neighbour
    assert mean_usd(D("0.000000003"), 2) == D("0.000000002")
    assert mean_usd(D(1), 3) == D("0.333333333")


@given(
    st.decimals(min_value=0, max_value=10**9, places=6),
    st.decimals(min_value=D("0.000001"), max_value=10**6, places=6),
    st.decimals(min_value=D("0.000001"), max_value=10**6, places=6),
)
def test_forecast_is_monotone_in_the_burn_rate(remaining: Decimal, slow: Decimal, extra: Decimal) -> None:
    slower = forecast(remaining=remaining, debited=slow, now=NOW)
    faster = forecast(remaining=remaining, debited=slow + extra, now=NOW)
    assert faster.burn_rate_per_day >= slower.burn_rate_per_day
    assert slower.runs_out_at is not None and faster.runs_out_at is not None
    assert NOW <= faster.runs_out_at <= slower.runs_out_at


def test_forecast_examples() -> None:
    at_pace = forecast(remaining=D(70), debited=D(7), now=NOW)  # 1 credit a day: 70 days left
    assert at_pace.burn_rate_per_day == D("1.000000")
    assert at_pace.runs_out_at == NOW + timedelta(days=70)
    idle = forecast(remaining=D(70), debited=D(0), now=NOW)
    assert idle.runs_out_at is None and idle.burn_rate_per_day == 0
    assert forecast(remaining=D(0), debited=D(1), now=NOW).runs_out_at == NOW
    assert forecast(remaining=D(10**12), debited=D("0.000001"), now=NOW).runs_out_at is not None  # far, no overflow


# --- the buckets of the job-types rollup -------------------------------------------------


@given(st.integers(0, 10**30), st.integers(0, 10**30))
def test_buckets_are_monotone(a: int, b: int) -> None:
    lo, hi = sorted((a, b))
    assert value_bucket(lo) <= value_bucket(hi)
    if hi < 1000:
        assert value_bucket(hi) == hi  # exact below 1000


@given(
    st.lists(
        st.one_of(st.integers(0, 3000), st.integers(0, 10**15)).map(lambda n: Decimal(n) / 10**9)
        | st.integers(0, 10**9).map(lambda n: Decimal(n) / 10**12),
        min_size=1,
        max_size=60,
    ),
    st.sampled_from([Decimal(50), Decimal(95), Decimal(99), Decimal(100), Decimal("0.01"), Decimal("33.33")]),
)
def test_the_bucketed_percentile_equals_the_naive_one(values: list[Decimal], percentile: Decimal) -> None:
    """Count per bucket, find the bucket of the rank, sort only its values: the same value."""
    counts: dict[int, list[Decimal]] = {}
    for v in values:
        counts.setdefault(usd_bucket(v), []).append(v)
    rank = nearest_rank(len(values), percentile)
    bucket, offset = locate_rank(sorted((b, len(vs)) for b, vs in counts.items()), rank)
    assert sorted(counts[bucket])[offset] == percentile_of(sorted(values), percentile)


def test_a_rank_beyond_the_counts_is_refused() -> None:
    with pytest.raises(InvalidValueError):
        locate_rank([(1, 2), (5, 1)], 4)
