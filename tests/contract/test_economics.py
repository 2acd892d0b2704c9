"""Job economics reads, held to the definitions of ``domain/economics.py`` on both backends.

The seeded history has several job types whose per-job costs are chosen so that a float
percentile fraction would pick the wrong rank (0.1 · 30 is 3.0000000000000004 in
floats): the ranks must be the exact nearest-rank ones.
"""

from datetime import date, timedelta
from decimal import Decimal
from uuid import uuid4

from application.ports.repositories import EconomicsScope
from domain.calls import CallStatus, LlmCall
from domain.catalog import Provider
from domain.economics import nearest_rank, percentile_of
from domain.ids import CallId
from domain.jobs import Job, JobStatus
from domain.organizations import Organization, Team
from domain.pricing import CallCost
from domain.usage import TokenUsage
from tests.contract.conftest import D, UowFactory, at, finish_job, make_job, make_org, make_team

DAY = at(0).date()


def _call(job: Job, *, n: int, cost: Decimal, status: CallStatus = CallStatus.SUCCEEDED) -> LlmCall:
    return LlmCall(
        id=CallId(uuid4()),
        job_id=job.id,
        team_id=job.team_id,
        alias="smart" if n % 2 else "cheap",
        provider=Provider.OPENAI,
        provider_model="gpt",
        status=status,
        usage=TokenUsage(input=100 + n, cached_input=n, cache_write=1, output=10 + n, reasoning=2),
        cost=CallCost(provider_cost_usd=cost, customer_price_usd=cost * 3),
        credits=cost * 30,
        created_at=at(n),
        latency_ms=5,
    )


async def _seed(uow: UowFactory) -> tuple[Organization, Team, dict[str, list[Decimal]]]:
    org = await make_org(uow)
    team = await make_team(uow, org=org)
    other = await make_team(uow, org=org)
    costs: dict[str, list[Decimal]] = {"analyse": [], "summarise": []}
    for i in range(30):  # 30 jobs: the rank of p10 is exactly 3
        job = await make_job(uow, team if i % 3 else other, job_type="analyse")
        cost = D("0.000000001") * (i * 7919 % 30 + 1)  # a permutation of 1..30 nano-USD
        calls = (
            [_call(job, n=i, cost=cost)] if i % 5 else [_call(job, n=i, cost=cost / 2), _call(job, n=i, cost=cost / 2)]
        )
        await finish_job(uow, job, calls, JobStatus.FAILED if i == 7 else JobStatus.COMPLETED, 60 + i, job_credits=D(1))
        costs["analyse"].append(sum((c.cost.provider_cost_usd for c in calls), D(0)))
    for i in range(3):
        job = await make_job(uow, team, job_type="summarise")
        calls = [_call(job, n=i, cost=D("0.25") * (i + 1))]
        await finish_job(uow, job, calls, JobStatus.COMPLETED, 120 + i, job_credits=D(1))
        costs["summarise"].append(calls[0].cost.provider_cost_usd)
    late = await make_job(uow, team, job_type="summarise")  # finished after the window
    await finish_job(uow, late, [_call(late, n=1, cost=D(5))], JobStatus.COMPLETED, 60 * 24 * 10, job_credits=D(1))
    await make_job(uow, team, job_type="analyse")  # still open: never in a report
    return org, team, costs


async def test_job_type_spreads_are_exact_nearest_rank(uow: UowFactory) -> None:
    org, _team, costs = await _seed(uow)
    scope = EconomicsScope(organization_id=org.id, team_id=None, first_day=DAY, last_day=DAY + timedelta(days=1))
    async with uow() as u:
        stats = await u.economics.job_type_stats(scope, percentile=D(10))
    assert [s.job_type for s in stats] == ["analyse", "summarise"]
    analyse, summarise = stats
    assert (analyse.jobs, analyse.completed, analyse.failed) == (30, 29, 1)
    ordered = sorted(costs["analyse"])
    assert analyse.provider_cost_usd.total == sum(ordered, D(0))
    assert analyse.provider_cost_usd.at_percentile == ordered[nearest_rank(30, D(10)) - 1] == ordered[2]
    assert analyse.provider_cost_usd.p50 == percentile_of(ordered, D(50))
    assert analyse.provider_cost_usd.p95 == percentile_of(ordered, D(95))
    assert analyse.provider_cost_usd.max == ordered[-1]
    assert analyse.customer_price_usd.total == 3 * sum(ordered, D(0))
    assert (analyse.calls.p50, analyse.calls.max) == (1, 2)
    assert summarise.jobs == 3 and summarise.provider_cost_usd.total == D("1.5")
    assert summarise.provider_cost_usd.p50 == D("0.5")


async def test_jobs_costing_more_counts_strictly_above_the_price(uow: UowFactory) -> None:
    org, _team, costs = await _seed(uow)
    scope = EconomicsScope(organization_id=org.id, team_id=None, first_day=DAY, last_day=DAY)
    price = sorted(costs["analyse"])[20]
    async with uow() as u:
        found = await u.economics.jobs_costing_more(scope, {"analyse": price, "unknown": D(1)})
    assert found == {"analyse": sum(1 for c in costs["analyse"] if c > price)}


async def test_a_team_scope_reads_only_that_team(uow: UowFactory) -> None:
    _org, team, _costs = await _seed(uow)
    scope = EconomicsScope(organization_id=None, team_id=team.id, first_day=DAY, last_day=date(2026, 12, 31))
    async with uow() as u:
        stats = await u.economics.job_type_stats(scope, percentile=D(95))
    assert {s.job_type: s.jobs for s in stats} == {"analyse": 20, "summarise": 4}


async def test_history_export_and_output_median(uow: UowFactory) -> None:
    org, team, costs = await _seed(uow)
    async with uow() as u:
        history = await u.economics.job_type_history(team.id, "summarise", last_jobs=3)
        none = await u.economics.job_type_history(team.id, "never", last_jobs=3)
        output = await u.economics.output_history(team.id, "smart", last_calls=1000)
    assert none is None
    assert history is not None and history.jobs == 3  # the 3 most recent: the late one and two others
    assert history.credits_p95 == D(5) * 30 + 1  # the job's calls' credits plus its own credit
    assert output is not None and output.calls > 0
    scope = EconomicsScope(organization_id=org.id, team_id=None, first_day=DAY, last_day=DAY + timedelta(days=30))
    rows, after = [], None
    while True:
        async with uow() as u:
            page = await u.economics.export_page(scope, after=after, limit=7)
        rows += page
        if len(page) < 7:
            break
        after = (page[-1].day, page[-1].job_id)
    assert len(rows) == 34 and len({r.job_id for r in rows}) == 34
    assert [(r.day, str(r.job_id)) for r in rows] == sorted((r.day, str(r.job_id)) for r in rows)
    assert sum((r.provider_cost_usd for r in rows), D(0)) == sum(costs["analyse"] + costs["summarise"], D(0)) + 5
    first = next(r for r in rows if r.job_type == "summarise" and r.provider_cost_usd == D("0.25"))
    assert (first.input_tokens, first.cached_input_tokens, first.cache_write_tokens) == (100, 0, 1)
    assert (first.output_tokens, first.reasoning_tokens, first.credits) == (10, 2, D("7.5") + 1)
