"""Where an alias's calls may go: its targets, how one is chosen, which errors move on.

An alias has a primary target (its own provider, model and prices), optional further
targets of its own (equivalent deployments, each with its own prices) and optional
fallback aliases, whose targets are tried after its own. These rules are pure: the
circuit breaker's state and the clock live in the application layer.
"""

from collections.abc import Iterable, Sequence
from decimal import Decimal
from enum import StrEnum

import msgspec

from domain.catalog import ProviderName
from domain.errors import InvalidValueError
from domain.pricing import PriceSheet, exact_cost_usd
from domain.usage import TokenUsage


class RoutingStrategy(StrEnum):
    ORDERED = "ordered"  # the alias's targets in their order
    CHEAPEST = "cheapest"  # the alias's targets by provider cost for the request, cheapest first


class AliasTarget(msgspec.Struct, frozen=True, kw_only=True):
    """One provider model an alias's call may be served by, with the prices of that target:
    a call is priced at the prices of the target that served it."""

    provider: ProviderName
    provider_model: str
    customer_prices: PriceSheet
    provider_costs: PriceSheet

    def __post_init__(self) -> None:
        if not self.provider_model:
            raise InvalidValueError("a target's provider_model must not be empty")


MAX_TARGETS = 16  # of one alias, its primary included


def expected_provider_cost_usd(target: AliasTarget, *, prompt_tokens: int, max_tokens: int) -> Decimal:
    """What a request would cost at ``target`` if it used its whole ``max_tokens``: the
    measure ``cheapest`` orders by (exact, unrounded; it is never billed)."""
    return exact_cost_usd(TokenUsage(input=prompt_tokens, output=max_tokens), target.provider_costs)


def route_order(
    own: Sequence[AliasTarget],
    fallbacks: Sequence[AliasTarget],
    strategy: RoutingStrategy,
    *,
    prompt_tokens: int,
    max_tokens: int,
) -> list[AliasTarget]:
    """The order in which a call tries its targets: the alias's own (in their order, or by
    expected provider cost with ``cheapest``; ties keep their order), then its fallbacks'
    targets in their order. A target listed twice is tried once."""
    ordered = list(own)
    if strategy is RoutingStrategy.CHEAPEST:
        ordered.sort(key=lambda t: expected_provider_cost_usd(t, prompt_tokens=prompt_tokens, max_tokens=max_tokens))
    return _unique([*ordered, *fallbacks])


def _unique(targets: Iterable[AliasTarget]) -> list[AliasTarget]:
    seen: set[tuple[ProviderName, str]] = set()
    found: list[AliasTarget] = []
    for target in targets:
        key = (target.provider, target.provider_model)
        if key not in seen:
            seen.add(key)
            found.append(target)
    return found


def check_cache_settings(cache_ttl_s: int | None, factor: Decimal) -> None:
    if cache_ttl_s is not None and not 1 <= cache_ttl_s <= 30 * 86400:
        raise InvalidValueError("cache_ttl_s must be between 1 and 2592000 seconds (30 days), or null")
    if not factor.is_finite() or not 0 <= factor <= 10:
        raise InvalidValueError("cached_response_price_factor must be between 0 and 10")
