"""Provider list prices from the maintained ``genai-prices`` package (Decimal per 1M tokens)."""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from genai_prices import data_snapshot

from domain.catalog import Provider
from domain.pricing import PriceSheet

_PROVIDER_IDS = {
    Provider.OPENAI: "openai",
    Provider.ANTHROPIC: "anthropic",
    Provider.GEMINI: "google",
    Provider.FIREWORKS: "fireworks",
}


def _base(price: Any) -> Decimal | None:
    """The base-tier price (tiered prices start above a prompt size; the base applies below it)."""
    if price is None:
        return None
    base = getattr(price, "base", price)
    return Decimal(base)


class GenaiPricesCatalog:
    def __init__(self) -> None:
        self._snapshot = data_snapshot.get_snapshot()
        self._cache: dict[tuple[Provider, str], PriceSheet | None] = {}

    def provider_prices(self, provider: Provider, model: str) -> PriceSheet | None:
        key = (provider, model)
        if key not in self._cache:
            self._cache[key] = self._lookup(provider, model)
        return self._cache[key]

    def _lookup(self, provider: Provider, model: str) -> PriceSheet | None:
        provider_id = _PROVIDER_IDS.get(provider)
        if provider_id is None:
            return None
        try:
            _, info = self._snapshot.find_provider_model(model, None, provider_id, None)
        except LookupError:
            return None
        prices = info.get_prices(datetime.now(UTC))
        input_price, output_price = _base(prices.input_mtok), _base(prices.output_mtok)
        if input_price is None or output_price is None:
            return None
        return PriceSheet(
            input_per_million=input_price,
            output_per_million=output_price,
            cached_input_per_million=_base(prices.cache_read_mtok),
            cache_write_per_million=_base(prices.cache_write_mtok),
        )
