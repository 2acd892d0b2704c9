"""Job economics use cases on the in-memory fakes: the per-team low-credit threshold, the
run-out forecast, live usage of open jobs, quotes, and the job-types report's scope."""

from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.memory.providers import Reply
from application.errors import NoHistoryError, NotFoundError
from application.services.organizations import TeamChanges
from domain.admins import AdminRole
from domain.budgets import BudgetMode
from domain.economics import reaches_margin
from domain.errors import InvalidValueError, ModelNotAllowedError
from domain.usage import TokenUsage
from tests.unit.application.conftest import World
from tests.unit.application.test_admin_services import OWNER, events, principal, subscribe
from tests.unit.application.test_client_flow import ask

D = Decimal


async def test_a_team_threshold_replaces_ten_percent_and_fires_once_per_crossing(world: World) -> None:
    await subscribe(world, world.organization, "team.credits_low")
    s = world.services
    team, me = await world.team(BudgetMode.JOB_BASED, credits=D(10))
    await s.organizations.update_team(OWNER, team.id, TeamChanges(low_credit_threshold=D(5)))
    for _ in range(5):  # 10 → 5 available: not below 5
        job, _ = await s.jobs.create_job(me, job_type="doc")
        await s.jobs.complete_job(me, job.id)
    assert events(world) == []  # 10 % (1 credit) would not fire yet either way
    job, _ = await s.jobs.create_job(me, job_type="doc")
    await s.jobs.complete_job(me, job.id)  # 4 left: below 5
    [(event, payload)] = events(world)
    assert event == "team.credits_low" and (payload["remaining"], payload["threshold"]) == ("4", "5")
    job, _ = await s.jobs.create_job(me, job_type="doc")
    await s.jobs.complete_job(me, job.id)  # 3 left: still the same crossing
    assert len(events(world)) == 1
    # Lowering the threshold below what is left re-arms it; the next fall below fires again.
    await s.organizations.update_team(OWNER, team.id, TeamChanges(low_credit_threshold=D(2)))
    assert len(events(world)) == 1
    for _ in range(2):
        job, _ = await s.jobs.create_job(me, job_type="doc")
        await s.jobs.complete_job(me, job.id)  # 2 (not below), then 1 (below 2)
    assert [e for e, _ in events(world)] == ["team.credits_low", "team.credits_low"]
    # Raising it above what is left is a crossing of its own, notified at once (and once).
    await s.credits.adjust(OWNER, team.id, D(5), reason=None, idempotency_key=None)  # 6 left: lifted
    await s.organizations.update_team(OWNER, team.id, TeamChanges(low_credit_threshold=D(7)))
    await s.organizations.update_team(OWNER, team.id, TeamChanges(low_credit_threshold=D(8)))
    assert [e for e, _ in events(world)] == ["team.credits_low"] * 3
    assert (await s.organizations.get_team(OWNER, team.id)).low_credit_threshold == D(8)


async def test_a_negative_threshold_is_refused(world: World) -> None:
    team, _ = await world.team(BudgetMode.JOB_BASED, credits=D(10))
    with pytest.raises(InvalidValueError):
        await world.services.organizations.update_team(OWNER, team.id, TeamChanges(low_credit_threshold=D(-1)))


async def test_forecast_from_the_last_seven_days_of_debits(world: World) -> None:
    s = world.services
    team, me = await world.team(BudgetMode.JOB_BASED, credits=D(100))
    quiet = await s.credits.team_credits(me, team.id, with_forecast=True)
    assert quiet.forecast is not None and quiet.forecast.runs_out_at is None
    for _ in range(7):  # 7 credits in the window: 1 a day
        job, _ = await s.jobs.create_job(me, job_type="doc")
        await s.jobs.complete_job(me, job.id)
    outlook = (await s.credits.team_credits(me, team.id, with_forecast=True)).forecast
    assert outlook is not None and outlook.burn_rate_per_day == D(1)
    assert outlook.runs_out_at == world.clock.now() + timedelta(days=93)  # 93 left at 1 a day
    world.clock.advance(8 * 86_400)  # a week later those debits are out of the window
    later = (await s.credits.team_credits(me, team.id, with_forecast=True)).forecast
    assert later is not None and later.burn_rate_per_day == 0 and later.runs_out_at is None


async def test_usage_counts_open_jobs_apart(world: World) -> None:
    s = world.services
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(Reply(usage=TokenUsage(input=1000, output=500)))
    job, _ = await s.jobs.create_job(me, job_type="doc")
    await s.calls.call(me, job.id, ask())
    today = world.clock.now().date()
    usage = await s.usage.team_usage(me, team.id, first_day=today, last_day=today)
    assert usage.report.jobs_total == 0  # nothing finished yet
    assert (usage.in_progress.jobs, usage.in_progress.totals.total_calls) == (1, 1)
    assert usage.in_progress.totals.customer_cost_usd == D("0.006")
    await s.jobs.complete_job(me, job.id)
    after = await s.usage.team_usage(me, team.id, first_day=today, last_day=today)
    assert after.in_progress.jobs == 0 and after.report.totals.total_calls == 1


async def test_quotes_worst_case_is_the_hold_and_expected_follows_history(world: World) -> None:
    s = world.services
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    first = await s.economics.quote_call(me, ask(max_tokens=50))
    assert first.output_basis == "max_tokens" and first.expected_output_tokens == 50
    world.provider.push(Reply(usage=TokenUsage(input=10, output=20)))
    job, _ = await s.jobs.create_job(me, job_type="doc")
    await s.calls.call(me, job.id, ask(max_tokens=50))
    [hold] = [e for e in world.store.ledger[team.id] if e.type == "hold"]
    assert -hold.amount == first.worst_case.credits
    second = await s.economics.quote_call(me, ask(max_tokens=50))
    assert (second.output_basis, second.expected_output_tokens, second.history_calls) == ("recent_median", 20, 1)
    assert second.expected.credits <= second.worst_case.credits
    with pytest.raises(ModelNotAllowedError):
        await s.economics.quote_call(me, ask(model="premium"))


async def test_job_type_quote_and_report(world: World) -> None:
    s = world.services
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    with pytest.raises(NoHistoryError):
        await s.economics.job_type_quote(me, team.id, "doc")
    for tokens in (100, 200, 300):
        world.provider.push(Reply(usage=TokenUsage(input=tokens * 10, output=tokens)))
        job, _ = await s.jobs.create_job(me, job_type="doc")
        await s.calls.call(me, job.id, ask())
        await s.jobs.complete_job(me, job.id)
    quote = await s.economics.job_type_quote(me, team.id, "doc")
    assert quote.jobs == 3 and quote.credits_p50 < quote.credits_p95
    today = world.clock.now().date()
    report = await s.economics.job_types(
        OWNER,
        organization_id=world.organization.id,
        team_id=None,
        first_day=today,
        last_day=today,
        target_margin=D("0.4"),
        percentile=D(50),
    )
    [doc] = report.items
    assert doc.suggestion is not None
    price = doc.suggestion.price_usd
    assert reaches_margin(price, doc.stats.provider_cost_usd.p50, D("0.4"))
    assert doc.suggestion.what_if.jobs_losing_money <= 1
    assert doc.margin_total_usd == doc.stats.customer_price_usd.total - doc.stats.provider_cost_usd.total
    other = await s.organizations.create_organization(name="Other", actor=OWNER)
    scoped = principal(AdminRole.VIEWER, other)
    with pytest.raises(NotFoundError):
        await s.economics.job_types(
            scoped, organization_id=world.organization.id, team_id=None, first_day=today, last_day=today
        )
    with pytest.raises(NotFoundError):
        await s.economics.job_types(scoped, organization_id=None, team_id=team.id, first_day=today, last_day=today)
