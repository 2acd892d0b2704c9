"""The genai-prices catalog: model names in the forms operators write, unknown models refused."""

from decimal import Decimal

import pytest

from adapters.catalog.genai import GenaiPricesCatalog, model_names
from adapters.providers.fake import FAKE_PROVIDER
from domain.catalog import Provider

D = Decimal


@pytest.fixture(scope="module")
def catalog() -> GenaiPricesCatalog:
    return GenaiPricesCatalog()


@pytest.mark.parametrize(
    ("provider", "model", "input_price", "output_price"),
    [
        (Provider.FIREWORKS, "accounts/fireworks/models/llama-v3p1-8b-instruct", D("0.2"), D("0.2")),
        (Provider.FIREWORKS, "llama-v3p1-8b-instruct", D("0.2"), D("0.2")),
        (Provider.FIREWORKS, "fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct", D("0.2"), D("0.2")),
        (Provider.GEMINI, "models/gemini-2.5-pro", D("1.25"), D("10")),
        (Provider.GEMINI, "gemini/gemini-2.5-pro", D("1.25"), D("10")),
        (Provider.ANTHROPIC, "claude-sonnet-4-5-20250929", D("3"), D("15")),
        (Provider.OPENAI, "openai/gpt-4o", D("2.5"), D("10")),
        (Provider.OPENAI, "gpt-4o-2024-08-06", D("2.5"), D("10")),
    ],
)
def test_model_name_forms_resolve(
    catalog: GenaiPricesCatalog, provider: Provider, model: str, input_price: Decimal, output_price: Decimal
) -> None:
    sheet = catalog.provider_prices(provider, model)
    assert sheet is not None
    assert (sheet.input_per_million, sheet.output_per_million) == (input_price, output_price)


def test_tiered_prices_use_the_base_tier(catalog: GenaiPricesCatalog) -> None:
    sheet = catalog.provider_prices(Provider.ANTHROPIC, "claude-sonnet-4-5")
    assert sheet is not None
    assert sheet.input_per_million == D("3")  # not the 6.00 that applies above 200k prompt tokens
    assert sheet.cached_input_per_million == D("0.3")
    assert sheet.cache_write_per_million == D("3.75")
    assert sheet.cached_input_per_million / sheet.input_per_million == D("0.1")  # the catalog's ratio


def test_missing_cache_prices_stay_missing(catalog: GenaiPricesCatalog) -> None:
    sheet = catalog.provider_prices(Provider.FIREWORKS, "llama-v3p1-8b-instruct")
    assert sheet is not None
    assert sheet.cached_input_per_million is None
    assert sheet.cached_input == sheet.input_per_million  # the sheet's own fallback


@pytest.mark.parametrize(
    ("provider", "model"),
    [
        (Provider.OPENAI, "gpt-does-not-exist"),
        (Provider.FIREWORKS, "accounts/me/models/my-fine-tune"),
        (FAKE_PROVIDER, "x"),
    ],
)
def test_unknown_models_have_no_price(catalog: GenaiPricesCatalog, provider: Provider, model: str) -> None:
    assert catalog.provider_prices(provider, model) is None


def test_name_candidates() -> None:
    assert model_names(Provider.FIREWORKS, "qwen3-235b-a22b") == [
        "qwen3-235b-a22b",
        "accounts/fireworks/models/qwen3-235b-a22b",
    ]
    assert model_names(Provider.GEMINI, "models/gemini-2.5-flash") == ["gemini-2.5-flash"]
