"""Cost of a call: exact, rounded once upward, additive and monotone."""

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import InvalidValueError
from domain.money import USD_QUANTUM, ceil_usd
from domain.pricing import PriceSheet, exact_cost_usd, marked_up, price_call
from domain.usage import TokenUsage
from tests.strategies import price_sheets, usages
from tests.support.list_prices import CLAUDE_SONNET_4_5, GEMINI_2_5_FLASH, GPT_5_6_SOL

D = Decimal


def test_openai_cache_hit_worked_example() -> None:
    usage = TokenUsage(input=4020 - 4012, cached_input=4012, output=4)
    assert exact_cost_usd(usage, GPT_5_6_SOL) == D("0.002166")


def test_anthropic_cache_write_and_read_worked_example() -> None:
    usage = TokenUsage(input=3, cache_write=418, cached_input=1111, output=33)
    assert exact_cost_usd(usage, CLAUDE_SONNET_4_5) == D("0.0024048")


def test_gemini_cached_worked_example() -> None:
    usage = TokenUsage(input=8, cached_input=3512, output=2, reasoning=42)
    # The provider's own worked example shows this rounded to $0.000218; the exact value is 217.76e-6.
    assert exact_cost_usd(usage, GEMINI_2_5_FLASH) == D("0.00021776")


def test_missing_category_prices_fall_back_to_input_and_output() -> None:
    sheet = PriceSheet(input_per_million=D("2"), output_per_million=D("8"))
    usage = TokenUsage(input=1, cached_input=1, cache_write=1, output=1, reasoning=1)
    assert exact_cost_usd(usage, sheet) == D("22") / D(1_000_000)


def test_cost_is_rounded_up_to_a_nanodollar() -> None:
    sheet = PriceSheet(input_per_million=D("0.0001"), output_per_million=D("0"))
    assert exact_cost_usd(TokenUsage(input=1), sheet) == D("1E-10")
    cost = price_call(TokenUsage(input=1), provider=sheet, customer=sheet)
    assert cost.customer_price_usd == D("0.000000001")


def test_an_exact_nanodollar_amount_is_not_rounded_further() -> None:
    sheet = PriceSheet(input_per_million=D("0.001"), output_per_million=D("0"))
    assert price_call(TokenUsage(input=3), provider=sheet, customer=sheet).customer_price_usd == D("0.000000003")


def test_negative_token_counts_are_refused() -> None:
    with pytest.raises(InvalidValueError):
        TokenUsage(input=-1)


@given(usages, price_sheets)
def test_rounding_error_per_call_is_below_a_nanodollar_and_never_negative(usage: TokenUsage, sheet: PriceSheet) -> None:
    exact = exact_cost_usd(usage, sheet)
    rounded = ceil_usd(exact)
    assert D(0) <= rounded - exact < USD_QUANTUM
    assert rounded == rounded.quantize(USD_QUANTUM)


@given(st.lists(usages, min_size=1, max_size=20), price_sheets, price_sheets)
def test_job_cost_equals_the_exact_sum_of_its_calls(
    calls: list[TokenUsage], provider: PriceSheet, customer: PriceSheet
) -> None:
    from domain.jobs import EMPTY_SUMMARY, CostSummary

    priced = [price_call(u, provider=provider, customer=customer) for u in calls]
    summary = sum(
        (
            CostSummary(total_calls=1, provider_cost_usd=p.provider_cost_usd, customer_cost_usd=p.customer_price_usd)
            for p in priced
        ),
        EMPTY_SUMMARY,
    )
    assert summary.provider_cost_usd == sum((p.provider_cost_usd for p in priced), D(0))
    assert summary.customer_cost_usd == sum((p.customer_price_usd for p in priced), D(0))
    assert summary.margin_usd == sum((p.margin_usd for p in priced), D(0))
    # and the per-call rounding never costs the job more than 1e-9 per call
    exact_total = sum((exact_cost_usd(u, customer) for u in calls), D(0))
    assert D(0) <= summary.customer_cost_usd - exact_total < USD_QUANTUM * len(calls)


@given(
    usages,
    price_sheets,
    st.sampled_from(["input", "cached_input", "cache_write", "output", "reasoning"]),
    st.integers(1, 10**6),
)
def test_cost_is_monotone_in_every_token_category(
    usage: TokenUsage, sheet: PriceSheet, category: str, extra: int
) -> None:
    from msgspec.structs import replace

    more = replace(usage, **{category: getattr(usage, category) + extra})
    assert exact_cost_usd(more, sheet) >= exact_cost_usd(usage, sheet)
    assert (
        price_call(more, provider=sheet, customer=sheet).customer_price_usd
        >= price_call(usage, provider=sheet, customer=sheet).customer_price_usd
    )


@given(usages, price_sheets)
def test_cost_never_exceeds_the_worst_case_prices(usage: TokenUsage, sheet: PriceSheet) -> None:
    from domain.pricing import worst_case_cost_usd

    bound = worst_case_cost_usd(
        prompt_tokens=usage.prompt_tokens, completion_tokens=usage.completion_tokens, sheet=sheet
    )
    assert price_call(usage, provider=sheet, customer=sheet).customer_price_usd <= bound


def test_missing_cache_prices_follow_the_catalog_ratio() -> None:
    from domain.pricing import with_derived_cache_prices

    customer = PriceSheet(input_per_million=D("4"), output_per_million=D("20"))
    derived = with_derived_cache_prices(customer, CLAUDE_SONNET_4_5)
    assert derived.cached_input_per_million == D("0.4")  # 0.1 × input
    assert derived.cache_write_per_million == D("5")  # 1.25 × input
    explicit = PriceSheet(input_per_million=D("4"), output_per_million=D("20"), cached_input_per_million=D("1"))
    assert with_derived_cache_prices(explicit, CLAUDE_SONNET_4_5).cached_input_per_million == D("1")
    assert with_derived_cache_prices(customer, None) == customer  # no ratio: falls back to input when priced
    odd = PriceSheet(input_per_million=D("0.15"), output_per_million=D("0.6"), cached_input_per_million=D("0.014"))
    thirds = with_derived_cache_prices(PriceSheet(input_per_million=D("1"), output_per_million=D("1")), odd)
    assert thirds.cached_input_per_million == D("0.093333334")  # 0.0933…, rounded up to 1e-9


def test_a_markup_raises_every_price_and_keeps_missing_ones_missing() -> None:
    cost = PriceSheet(input_per_million=D("2.5"), output_per_million=D("10"), cached_input_per_million=D("1.25"))
    assert marked_up(cost, D("0.3")) == PriceSheet(
        input_per_million=D("3.25"), output_per_million=D("13"), cached_input_per_million=D("1.625")
    )
    assert marked_up(cost, D(0)) == cost
    thirds = marked_up(PriceSheet(input_per_million=D(1), output_per_million=D(1)), D(1) / D(3))
    assert thirds.input_per_million == D("1.333333334")  # rounded up, to 1e-9 per 1M
    with pytest.raises(InvalidValueError):
        marked_up(cost, D("-0.1"))
