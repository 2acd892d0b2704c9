"""What a credential or an alias may name, and what the panel's forms list: one set."""

import pytest

from adapters.providers.registry import offered_providers
from application.errors import ProviderNotOfferedError
from application.services._providers import EVERY_PROVIDER, OfferedProviders

REAL = ("openai", "anthropic", "gemini", "fireworks")


def test_production_offers_the_four_providers_in_the_domains_order() -> None:
    offered = OfferedProviders(offered_providers(demo_provider=False))
    assert offered.names() == REAL
    with pytest.raises(ProviderNotOfferedError, match="fake"):
        offered.require("fake")


def test_the_demo_provider_comes_after_the_real_ones_where_offered() -> None:
    offered = OfferedProviders(offered_providers(demo_provider=True))
    assert offered.names() == (*REAL, "fake")
    assert offered.require("fake") == "fake"


def test_use_cases_built_without_a_set_list_the_real_providers_and_accept_any() -> None:
    assert EVERY_PROVIDER.names() == REAL
    assert EVERY_PROVIDER.require("fake") == "fake"
