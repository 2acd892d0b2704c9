"""What the report read models carry, so schemas only map: margins, rates, the provider
grouping, price margins; and report windows that end today by the use cases' clock."""

from datetime import UTC, date, datetime
from decimal import Decimal

from adapters.memory.system import FakeClock
from application.ports.repositories import JobOutcomes, ModelTotals, UsageOverview
from application.services.models import AliasPricing, listed_models
from application.services.usage import UsageService
from domain.access import ModelAlias
from domain.catalog import Provider
from domain.economics import ratio, what_if
from domain.jobs import CostSummary
from domain.pricing import PriceSheet
from entrypoints.http.dates import month_start, thirty_days_ending
from tests.unit.application.conftest import World

D = Decimal


def model(name: str, provider: Provider | None, cost: str, price: str, calls: int = 2, failed: int = 0) -> ModelTotals:
    return ModelTotals(
        model=name,
        provider=provider,
        calls=calls,
        tokens=10 * calls,
        provider_cost_usd=D(cost),
        customer_cost_usd=D(price),
        failed_calls=failed,
    )


def overview(*models: ModelTotals) -> UsageOverview:
    return UsageOverview(
        jobs_total=8,
        jobs_completed=5,
        jobs_failed=2,
        jobs_cancelled=0,
        jobs_expired=1,
        totals=CostSummary(total_calls=3, failed_calls=1, provider_cost_usd=D("0.5"), customer_cost_usd=D("2")),
        by_team=[],
        by_model=list(models),
        by_day=[],
    )


def test_a_ratio_has_four_places_rounded_half_even_and_none_without_a_whole() -> None:
    assert ratio(1, 40) == D("0.0250") and str(ratio(1, 40)) == "0.0250"
    assert ratio(1, 3) == D("0.3333")
    assert ratio(D("0.00005"), 1) == D("0.0000") and ratio(D("0.00015"), 1) == D("0.0002")  # half-even
    assert ratio(5, 0) is None and ratio(D(0), D(0)) is None


def test_the_overview_groups_models_by_provider_with_their_margins_and_rates() -> None:
    o = overview(
        model("b", Provider.OPENAI, "0.1", "0.3", calls=4, failed=1),
        model("a", Provider.ANTHROPIC, "1", "0.75"),
        model("c", Provider.OPENAI, "0.2", "0.5", calls=6),
        model("gone", None, "0", "0", calls=1, failed=1),
    )
    assert [m.margin_usd for m in o.by_model] == [D("0.2"), D("-0.25"), D("0.3"), D(0)]
    rows = {p.provider: p for p in o.by_provider}
    assert [p.provider for p in o.by_provider] == ["anthropic", "openai", "unknown"]  # by name
    openai = rows["openai"]
    assert (openai.calls, openai.failed_calls, openai.tokens) == (10, 1, 100)
    assert (openai.provider_cost_usd, openai.customer_cost_usd, openai.margin_usd) == (D("0.3"), D("0.8"), D("0.5"))
    assert openai.error_rate == D("0.1000") and openai.margin_rate == D("0.6250")
    assert rows["anthropic"].margin_rate == D("-0.3333")
    assert rows["unknown"].margin_rate is None and rows["unknown"].error_rate == D(1)
    assert o.margin_rate == D("0.7500")  # (2 - 0.5) / 2
    assert o.call_error_rate == D("0.3333")
    assert o.job_error_rate == D("0.3750")  # failed and expired jobs / jobs


def test_the_failed_job_ratio_is_zero_without_finished_jobs() -> None:
    assert JobOutcomes().failed_ratio == D(0)
    assert JobOutcomes(finished=3, failed=1, cancelled=1).failed_ratio == D("0.6667")


def test_the_what_if_carries_its_margin_rate() -> None:
    w = what_if(price_usd=D("0.10"), jobs=4, provider_cost_usd=D("0.30"), jobs_costing_more=1)
    assert (w.revenue_usd, w.margin_usd, w.margin_rate) == (D("0.40"), D("0.10"), D("0.2500"))
    assert what_if(price_usd=D(0), jobs=0, provider_cost_usd=D(0), jobs_costing_more=0).margin_rate is None


def test_an_aliases_price_margins_and_the_listed_catalog_models() -> None:
    def alias(name: str, provider: Provider, provider_model: str) -> ModelAlias:
        return ModelAlias(
            alias=name,
            provider=provider,
            provider_model=provider_model,
            customer_prices=PriceSheet(input_per_million=D("2"), output_per_million=D("8")),
            provider_costs=PriceSheet(input_per_million=D("2.5"), output_per_million=D("4")),
        )

    listed = PriceSheet(input_per_million=D(1), output_per_million=D(1))
    pricing = [
        AliasPricing(alias=alias("x", Provider.OPENAI, "gpt-b"), catalog=listed),
        AliasPricing(alias=alias("y", Provider.ANTHROPIC, "claude"), catalog=listed),
        AliasPricing(alias=alias("z", Provider.OPENAI, "gpt-b"), catalog=listed),
        AliasPricing(alias=alias("w", Provider.OPENAI, "gpt-unknown"), catalog=None),
    ]
    margins = pricing[0].margin_per_million
    assert (margins.input, margins.output) == (D("-0.5"), D("4"))
    assert margins.cached_input == D("-0.5")  # cache prices default to the input price on both sides
    assert listed_models(pricing) == [(Provider.ANTHROPIC, "claude", listed), (Provider.OPENAI, "gpt-b", listed)]


def test_a_report_window_ends_today_by_the_clock_unless_given() -> None:
    clock = FakeClock(datetime(2026, 3, 17, 23, 30, tzinfo=UTC))
    usage = UsageService(uow=lambda: None, clock=clock)  # type: ignore[arg-type,return-value]
    assert usage.report_window(None, None, default_first=month_start) == (date(2026, 3, 1), date(2026, 3, 17))
    assert usage.report_window(None, None, default_first=thirty_days_ending) == (date(2026, 2, 16), date(2026, 3, 17))
    assert usage.report_window(None, date(2026, 1, 9), default_first=month_start) == (
        date(2026, 1, 1),
        date(2026, 1, 9),
    )
    assert usage.report_window(date(2025, 12, 1), None, default_first=month_start) == (
        date(2025, 12, 1),
        date(2026, 3, 17),
    )
    clock.advance(3600)  # past midnight UTC: the next day
    assert usage.report_window(None, None, default_first=month_start)[1] == date(2026, 3, 18)


async def test_the_services_report_window_is_the_wired_clocks(world: World) -> None:
    today = world.clock.now().date()
    assert world.services.usage.report_window(None, None, default_first=month_start) == (today.replace(day=1), today)
