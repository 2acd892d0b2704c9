"""Hypothesis strategies shared by the property tests."""

from decimal import Decimal

from hypothesis import strategies as st

from domain.pricing import PriceSheet
from domain.usage import TokenUsage

tokens = st.integers(min_value=0, max_value=5_000_000)

usages = st.builds(TokenUsage, input=tokens, cached_input=tokens, cache_write=tokens, output=tokens, reasoning=tokens)

# Prices with up to 6 decimals, like real sheets (0.075, 1.25, 0.000001).
prices = st.decimals(min_value=Decimal(0), max_value=Decimal(500), places=6, allow_nan=False, allow_infinity=False)
optional_prices = st.none() | prices

price_sheets = st.builds(
    PriceSheet,
    input_per_million=prices,
    output_per_million=prices,
    cached_input_per_million=optional_prices,
    cache_write_per_million=optional_prices,
    reasoning_per_million=optional_prices,
)

credit_amounts = st.decimals(
    min_value=Decimal("0.000001"), max_value=Decimal(1_000_000), places=6, allow_nan=False, allow_infinity=False
)
