"""Worked examples of real provider usage blocks, costed exactly: adapter usage mapping + domain pricing.

Each recorded usage block is served by the fake upstream, parsed by the adapter over
HTTP, and priced with ``domain.pricing``: first with the providers' published list prices
(explicit sheets, so the expectation does not move with the catalog), then with the
locked ``genai-prices`` catalog, whose figures are pinned to its version.
"""

from decimal import Decimal
from importlib.metadata import version
from typing import Any

import pytest

from adapters.catalog.genai import GenaiPricesCatalog
from domain.catalog import Provider
from domain.llm import StreamEnd
from domain.pricing import PriceSheet, exact_cost_usd, price_call
from domain.usage import TokenUsage
from tests.integration.providers.conftest import UpstreamFor, chat
from tests.support.fake_provider import Reply
from tests.support.list_prices import CLAUDE_SONNET_4_5, GEMINI_2_5_FLASH, GPT_5_6_SOL

D = Decimal
OPENAI_CACHE_HIT = {
    "prompt_tokens": 4020,
    "completion_tokens": 4,
    "total_tokens": 4024,
    "prompt_tokens_details": {"audio_tokens": 0, "cache_write_tokens": 0, "cached_tokens": 4012},
    "completion_tokens_details": {"reasoning_tokens": 0},
}
ANTHROPIC_CACHE_WRITE_AND_READ = {
    "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 418},
    "cache_creation_input_tokens": 418,
    "cache_read_input_tokens": 1111,
    "input_tokens": 3,
    "output_tokens": 33,
}
GEMINI_CACHED = {
    "cachedContentTokenCount": 3512,
    "candidatesTokenCount": 2,
    "promptTokenCount": 3520,
    "thoughtsTokenCount": 42,
    "totalTokenCount": 3564,
}
EXAMPLES: list[tuple[str, Provider, str, dict[str, Any], PriceSheet, Decimal]] = [
    (
        "openai-cache-hit-gpt-5.6-sol",
        Provider.OPENAI,
        "gpt-5.6-sol",
        OPENAI_CACHE_HIT,
        GPT_5_6_SOL,
        D("0.002166"),  # (8×5 + 4012×0.50 + 4×30) / 1e6
    ),
    (
        "anthropic-cache-write-and-read-sonnet-4-5",
        Provider.ANTHROPIC,
        "claude-sonnet-4-5",
        ANTHROPIC_CACHE_WRITE_AND_READ,
        CLAUDE_SONNET_4_5,
        D("0.0024048"),  # (3×3 + 418×3.75 + 1111×0.30 + 33×15) / 1e6
    ),
    (
        "gemini-cached-2.5-flash",
        Provider.GEMINI,
        "gemini-2.5-flash",
        GEMINI_CACHED,
        GEMINI_2_5_FLASH,
        D("0.00021776"),  # (8×0.30 + 3512×0.03 + (2+42)×2.50) / 1e6, "$0.000218" rounded in the text
    ),
]
# The same usage with the catalog locked in requirements.lock (gpt-5.6-sol is 4 / 0.4 / 5 / 20 there).
CATALOG_VERSION = "0.2.3"
CATALOG_COSTS = {
    "gpt-5.6-sol": D("0.0017168"),  # (8×4 + 4012×0.4 + 4×20) / 1e6
    "claude-sonnet-4-5": D("0.0024048"),
    "gemini-2.5-flash": D("0.00021776"),
}


async def served_usage(
    upstream_for: UpstreamFor, provider: Provider, native: dict[str, Any], stream: bool
) -> TokenUsage:
    upstream = upstream_for(provider)
    upstream.server.push(Reply(chunks=("OK",), usage=native))
    if not stream:
        return (await upstream.client.complete(upstream.target, chat())).usage
    end = [event async for event in upstream.client.stream(upstream.target, chat())][-1]
    assert isinstance(end, StreamEnd)
    return end.usage


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(
    ("provider", "model", "native", "sheet", "expected"), [e[1:] for e in EXAMPLES], ids=[e[0] for e in EXAMPLES]
)
async def test_worked_examples_cost_exactly(
    upstream_for: UpstreamFor,
    provider: Provider,
    model: str,
    native: dict[str, Any],
    sheet: PriceSheet,
    expected: Decimal,
    stream: bool,
) -> None:
    usage = await served_usage(upstream_for, provider, native, stream)
    assert exact_cost_usd(usage, sheet) == expected
    assert price_call(usage, provider=sheet, customer=sheet).provider_cost_usd == expected


@pytest.mark.parametrize(("provider", "model", "native"), [e[1:4] for e in EXAMPLES], ids=[e[0] for e in EXAMPLES])
async def test_worked_examples_with_the_locked_catalog(
    upstream_for: UpstreamFor, provider: Provider, model: str, native: dict[str, Any]
) -> None:
    assert version("genai-prices") == CATALOG_VERSION, "genai-prices moved: re-check CATALOG_COSTS against it"
    sheet = GenaiPricesCatalog().provider_prices(provider, model)
    assert sheet is not None
    usage = await served_usage(upstream_for, provider, native, stream=False)
    assert exact_cost_usd(usage, sheet) == CATALOG_COSTS[model]
