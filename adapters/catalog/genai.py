"""Provider list prices from the maintained ``genai-prices`` package (Decimal per 1M tokens).

- **Model names** are matched in the forms operators write them: as the provider's API
  takes them (``accounts/fireworks/models/x``, ``models/gemini-2.5-pro``, dated
  snapshots like ``claude-sonnet-4-5-20250929``), bare (``llama-v3p1-8b-instruct`` for
  Fireworks) or with a LiteLLM-style provider prefix (``openai/gpt-4o``).
- **Unknown models** return None, so an alias on them must carry explicit provider costs
  (a model never silently costs $0).
- **Tiered prices** (e.g. Claude Sonnet 4.5 and Gemini 2.5 Pro above 200k prompt tokens,
  GPT-5.x above 272k) are reduced to their **base tier**: ``PriceSheet`` has no tiers, and
  nearly every call is below the threshold. A call above it is recorded at the base price,
  so its provider cost is an underestimate (up to 2× on the input side). Credit holds are
  unaffected: they are computed from the alias's customer prices, not from these.
- **Cache prices**: ``cached_input_per_million`` / ``cache_write_per_million`` are None when
  the catalog has none (the sheet then falls back to the input price). Their ratio to the
  input price is the catalog's ratio API.md derives missing alias cache prices from.
  Anthropic's 1-hour cache writes (2× input) have no category of their own in
  ``TokenUsage``; they are priced as 5-minute writes (1.25×).
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from genai_prices import data_snapshot

from domain.catalog import Provider, ProviderName
from domain.pricing import PriceSheet

_PROVIDER_IDS: dict[ProviderName, str] = {  # a provider not listed (the demo's fake) has no prices
    Provider.OPENAI: "openai",
    Provider.ANTHROPIC: "anthropic",
    Provider.GEMINI: "google",
    Provider.FIREWORKS: "fireworks",
}
_PREFIXES: dict[ProviderName, tuple[str, ...]] = {
    Provider.OPENAI: ("openai/",),
    Provider.ANTHROPIC: ("anthropic/",),
    Provider.GEMINI: ("gemini/", "google/", "models/"),
    Provider.FIREWORKS: ("fireworks_ai/", "fireworks/"),
}
FIREWORKS_MODELS = "accounts/fireworks/models/"


def _base(price: Any) -> Decimal | None:
    """The base-tier price (tiered prices start above a prompt size; the base applies below it)."""
    if price is None:
        return None
    base = getattr(price, "base", price)
    return Decimal(base)


def model_names(provider: ProviderName, model: str) -> list[str]:
    """The spellings of ``model`` to try, most specific first."""
    name = model.strip()
    for prefix in _PREFIXES.get(provider, ()):
        name = name.removeprefix(prefix)
    if provider == Provider.GEMINI:
        name = name.removeprefix("models/")
    names = [name]
    if provider == Provider.FIREWORKS and "/" not in name:
        names.append(FIREWORKS_MODELS + name)
    return names


class GenaiPricesCatalog:
    def __init__(self) -> None:
        self._snapshot = data_snapshot.get_snapshot()
        self._cache: dict[tuple[ProviderName, str], PriceSheet | None] = {}

    def provider_prices(self, provider: ProviderName, model: str) -> PriceSheet | None:
        key = (provider, model)
        if key not in self._cache:
            self._cache[key] = self._lookup(provider, model)
        return self._cache[key]

    def _lookup(self, provider: ProviderName, model: str) -> PriceSheet | None:
        provider_id = _PROVIDER_IDS.get(provider)
        if provider_id is None:
            return None
        for name in model_names(provider, model):
            try:
                _, info = self._snapshot.find_provider_model(name, None, provider_id, None)
            except LookupError:
                continue
            return self._sheet(info)
        return None

    @staticmethod
    def _sheet(info: Any) -> PriceSheet | None:
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
