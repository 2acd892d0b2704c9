"""Job cost summaries and a team's usage report over a date range."""

from datetime import date
from uuid import uuid4

import msgspec

from domain.calls import CallStatus, LlmCall
from domain.catalog import Provider
from domain.ids import CallId
from domain.jobs import CostSummary, Job, JobStatus
from domain.pricing import CallCost
from domain.usage import TokenUsage
from tests.contract.conftest import D, UowFactory, at, finish_job, make_job, make_team

DAY = at(0).date()


def call(job: Job, alias: str, tokens: int, price: str, minute: float = 1) -> LlmCall:
    return LlmCall(
        id=CallId(uuid4()),
        job_id=job.id,
        team_id=job.team_id,
        alias=alias,
        provider=Provider.OPENAI,
        provider_model="gpt",
        status=CallStatus.SUCCEEDED,
        usage=TokenUsage(input=tokens - 1, reasoning=1),
        cost=CallCost(provider_cost_usd=D(price) / 2, customer_price_usd=D(price)),
        credits=D(price) * 10,
        created_at=at(minute),
        latency_ms=5,
    )


async def test_usage_sums_finished_jobs_by_day_and_model(uow: UowFactory) -> None:
    team = await make_team(uow)
    first, second, third = [await make_job(uow, team) for _ in range(3)]
    first_calls = [call(first, "smart", 100, "0.001"), call(first, "cheap", 10, "0.0001")]
    s1 = await finish_job(uow, first, first_calls, JobStatus.COMPLETED, 60)
    s2 = await finish_job(uow, second, [call(second, "smart", 50, "0.0005")], JobStatus.FAILED, 60 * 24 + 5)
    await finish_job(uow, third, [], JobStatus.CANCELLED, 60 * 24 * 40)  # outside the range
    await make_job(uow, team)  # still open: not in usage
    async with uow() as u:
        report = await u.usage.team_usage(team.id, first_day=DAY, last_day=date(2026, 3, 31))
    assert (report.jobs_total, report.jobs_completed, report.jobs_failed, report.jobs_cancelled) == (2, 1, 1, 0)
    assert report.totals == s1 + s2
    assert report.totals.customer_cost_usd == D("0.0016")
    assert [(m.model, m.calls, m.tokens, m.customer_cost_usd) for m in report.by_model] == [
        ("cheap", 1, 10, D("0.0001")),
        ("smart", 2, 150, D("0.0015")),
    ]
    assert [(d.day, d.calls, d.tokens, d.customer_cost_usd, d.provider_cost_usd) for d in report.by_day] == [
        (DAY, 2, 110, D("0.0011"), D("0.00055")),
        (date(2026, 3, 2), 1, 50, D("0.0005"), D("0.00025")),
    ]


async def test_an_empty_range_reports_nothing(uow: UowFactory) -> None:
    team = await make_team(uow)
    async with uow() as u:
        report = await u.usage.team_usage(team.id, first_day=date(2020, 1, 1), last_day=date(2020, 1, 31))
    assert report.totals == CostSummary()
    assert (report.jobs_total, report.by_model, report.by_day) == (0, [], [])


async def test_a_call_recorded_after_its_job_finished_still_counts(uow: UowFactory) -> None:
    team = await make_team(uow)
    job = await make_job(uow, team)
    await finish_job(uow, job, [call(job, "smart", 100, "0.001")], JobStatus.COMPLETED, 10)
    late = call(job, "smart", 40, "0.0004", minute=11)
    async with uow() as u:
        await u.calls.add(late)
        await u.jobs.add_call_totals(job.id, late.summary())
        await u.commit()
    async with uow() as u:
        found = await u.jobs.get(job.id)
        report = await u.usage.team_usage(team.id, first_day=DAY, last_day=DAY)
    assert found is not None
    assert found.credits_charged == D("0.014")
    assert found.totals.total_calls == 2
    assert report.totals == found.totals
    assert [(m.model, m.calls, m.tokens) for m in report.by_model] == [("smart", 2, 140)]
    assert [(d.calls, d.tokens) for d in report.by_day] == [(2, 140)]


async def test_recording_a_job_twice_counts_it_once(uow: UowFactory) -> None:
    team = await make_team(uow)
    job = await make_job(uow, team)
    totals = await finish_job(uow, job, [call(job, "smart", 100, "0.001")], JobStatus.COMPLETED, 10)
    async with uow() as u:
        found = await u.jobs.get(job.id)
        assert found is not None
        await u.usage.record_job(found, status=JobStatus.COMPLETED, summary=found.totals, at=at(10))
        await u.commit()
    async with uow() as u:
        report = await u.usage.team_usage(team.id, first_day=DAY, last_day=DAY)
    assert (report.jobs_total, report.totals) == (1, totals)
    assert [(m.calls, m.tokens) for m in report.by_model] == [(1, 100)]


async def test_the_overview_counts_failed_calls_per_model(uow: UowFactory) -> None:
    team = await make_team(uow)
    job = await make_job(uow, team)
    failed = msgspec.structs.replace(call(job, "smart", 20, "0"), status=CallStatus.FAILED)
    calls = [call(job, "smart", 100, "0.001"), failed, call(job, "cheap", 10, "0.0001")]
    await finish_job(uow, job, calls, JobStatus.COMPLETED, 60)
    async with uow() as u:
        overview = await u.usage.overview(organization_id=None, first_day=DAY, last_day=DAY)
    assert [(m.model, m.calls, m.failed_calls) for m in overview.by_model] == [("cheap", 1, 0), ("smart", 2, 1)]
