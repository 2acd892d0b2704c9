"""The providers' published list prices for the worked cost examples (USD per million tokens).

Explicit sheets, so an expectation does not move with the catalog; one copy for the
pricing unit tests and the provider cost tests that cost the same examples.
"""

from decimal import Decimal

from domain.pricing import PriceSheet

D = Decimal
GPT_5_6_SOL = PriceSheet(
    input_per_million=D("5"),
    cached_input_per_million=D("0.50"),
    cache_write_per_million=D("6.25"),
    output_per_million=D("30"),
)
CLAUDE_SONNET_4_5 = PriceSheet(
    input_per_million=D("3"),
    cached_input_per_million=D("0.30"),
    cache_write_per_million=D("3.75"),
    output_per_million=D("15"),
)
GEMINI_2_5_FLASH = PriceSheet(
    input_per_million=D("0.30"), cached_input_per_million=D("0.03"), output_per_million=D("2.50")
)
