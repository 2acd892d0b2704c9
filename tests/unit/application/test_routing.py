"""Route order, when a call may fall back, and the circuit breaker's states."""

from decimal import Decimal

from adapters.memory.system import FakeClock
from application.errors import (
    ProviderBadRequestError,
    ProviderError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from application.ports.observability import BreakerState, TargetKey
from application.services.routing import CircuitBreakers, healthy_first, may_fall_back
from domain.catalog import Provider
from domain.pricing import PriceSheet
from domain.routing import AliasTarget, RoutingStrategy, route_order
from domain.usage import TokenUsage

D = Decimal
KEY = TargetKey(provider=Provider.OPENAI, provider_model="gpt-a", credential="c1")
OTHER = TargetKey(provider=Provider.OPENAI, provider_model="gpt-b", credential="c1")


def target(model: str, input_cost: str, output_cost: str) -> AliasTarget:
    sheet = PriceSheet(input_per_million=D(input_cost), output_per_million=D(output_cost))
    return AliasTarget(provider=Provider.OPENAI, provider_model=model, customer_prices=sheet, provider_costs=sheet)


class Observed:
    def __init__(self) -> None:
        self.changes: list[tuple[str, BreakerState]] = []

    def breaker_state(self, key: TargetKey, state: BreakerState) -> None:
        self.changes.append((key.provider_model, state))


def test_cheapest_orders_own_targets_by_cost_for_the_request_then_fallbacks_in_order() -> None:
    dear, cheap, fallback = target("dear", "5", "20"), target("cheap", "1", "4"), target("fb", "0.1", "0.1")
    ordered = route_order([dear, cheap], [fallback], RoutingStrategy.ORDERED, prompt_tokens=10, max_tokens=100)
    cheapest = route_order([dear, cheap], [fallback], RoutingStrategy.CHEAPEST, prompt_tokens=10, max_tokens=100)
    assert [t.provider_model for t in ordered] == ["dear", "cheap", "fb"]
    # The fallback is cheaper still, but fallbacks come after the alias's own targets.
    assert [t.provider_model for t in cheapest] == ["cheap", "dear", "fb"]
    # Input-heavy requests can flip the order: cost is for this request, not per token.
    in_heavy, out_heavy = target("in-heavy", "10", "1"), target("out-heavy", "1", "10")
    long_prompt = route_order([in_heavy, out_heavy], [], RoutingStrategy.CHEAPEST, prompt_tokens=10_000, max_tokens=10)
    assert [t.provider_model for t in long_prompt] == ["out-heavy", "in-heavy"]
    # A target listed twice is tried once.
    assert len(route_order([dear], [dear], RoutingStrategy.ORDERED, prompt_tokens=1, max_tokens=1)) == 1


def test_only_provider_side_failures_without_usage_fall_back() -> None:
    assert may_fall_back(ProviderUnavailableError("529"))
    assert may_fall_back(ProviderTimeoutError("slow"))
    assert may_fall_back(ProviderRateLimitedError("429"))  # no retry-after at all
    assert may_fall_back(ProviderRateLimitedError("429", retry_after_s=30))
    assert not may_fall_back(ProviderRateLimitedError("429", retry_after_s=0.5))  # near: the client may retry
    assert not may_fall_back(ProviderBadRequestError("context too long"))
    assert not may_fall_back(ProviderError("endpoint not allowed"))
    assert not may_fall_back(ProviderUnavailableError("cut", usage=TokenUsage(input=3, output=2)))


def test_a_breaker_opens_after_consecutive_failures_half_opens_after_its_cool_down_and_closes_on_success() -> None:
    clock, seen = FakeClock(), Observed()
    breakers = CircuitBreakers(clock, seen, failure_threshold=2, cool_down_s=10)
    breakers.failed(KEY)
    assert breakers.state(KEY) is BreakerState.CLOSED
    breakers.succeeded(KEY)  # a success resets the count: failures must be consecutive
    breakers.failed(KEY)
    assert breakers.allows(KEY)
    breakers.failed(KEY)
    assert breakers.state(KEY) is BreakerState.OPEN and not breakers.allows(KEY)
    assert healthy_first([KEY, OTHER], breakers) == [1]
    clock.advance(10)
    assert breakers.state(KEY) is BreakerState.HALF_OPEN and breakers.allows(KEY)
    breakers.failed(KEY)  # the trial failed: open again for another cool-down
    assert breakers.state(KEY) is BreakerState.OPEN
    clock.advance(10)
    breakers.succeeded(KEY)  # a call that went through (every target was open, say) closes it
    assert breakers.state(KEY) is BreakerState.CLOSED
    assert seen.changes == [
        ("gpt-a", BreakerState.OPEN),
        ("gpt-a", BreakerState.HALF_OPEN),
        ("gpt-a", BreakerState.OPEN),
        ("gpt-a", BreakerState.CLOSED),
    ]


def test_when_every_target_is_open_all_are_tried_in_order() -> None:
    breakers = CircuitBreakers(FakeClock(), failure_threshold=1, cool_down_s=10)
    breakers.failed(KEY)
    breakers.failed(OTHER)
    assert healthy_first([KEY, OTHER], breakers) == [0, 1]


def test_a_half_open_target_takes_one_trial_at_a_time() -> None:
    clock = FakeClock()
    breakers = CircuitBreakers(clock, failure_threshold=1, cool_down_s=10, trial_timeout_s=60)
    breakers.failed(KEY)
    clock.advance(10)
    assert breakers.state(KEY) is BreakerState.HALF_OPEN
    assert breakers.allows(KEY, "call-1")  # takes the trial
    assert not breakers.allows(KEY, "call-2")  # the trial runs: treated as open
    assert breakers.allows(KEY, "call-1")  # the holder keeps it
    assert healthy_first([KEY, OTHER], breakers, "call-2") == [1]
    assert healthy_first([KEY], breakers, "call-2") == [0]  # nothing else: tried anyway, as when all are open
    breakers.release([KEY, OTHER], "call-2")  # not its trial: nothing changes
    assert not breakers.allows(KEY, "call-3")
    breakers.release([KEY], "call-1")  # ended without deciding (served elsewhere, say)
    assert breakers.allows(KEY, "call-3") and not breakers.allows(KEY, "call-1")
    clock.advance(60)  # call-3 never ended: its trial is taken to be lost
    assert breakers.allows(KEY, "call-4") and not breakers.allows(KEY, "call-3")
    breakers.failed(KEY)  # the trial decided: open for another cool-down, no trial held
    assert not breakers.allows(KEY, "call-5")
    clock.advance(10)
    assert breakers.allows(KEY, "call-5")
    breakers.succeeded(KEY)
    assert breakers.state(KEY) is BreakerState.CLOSED
    assert all(breakers.allows(KEY, f"call-{n}") for n in range(6, 9))  # closed: everyone
    assert breakers.allows(KEY)  # asking without a call takes nothing
