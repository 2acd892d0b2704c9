"""The provider price catalog: what each provider charges us per model."""

from typing import Protocol

from domain.catalog import ProviderName
from domain.pricing import PriceSheet


class PriceCatalog(Protocol):
    def provider_prices(self, provider: ProviderName, model: str) -> PriceSheet | None:
        """List prices of ``model`` at ``provider`` (USD per 1M tokens), or None if unknown."""
        ...
