"""The job-types report on random histories equals the naive definition, on both backends.

An organization's report on Postgres is computed from the bucketed rollup
(``job_type_rollups``: counts per log-spaced bucket, then one bucket's jobs sorted); a
team's from the summaries directly; the in-memory fake sorts every job. All must give
exactly the nearest-rank percentiles, totals and counts of the jobs in the window,
whatever the values (exact integers below 1000, three-digit buckets above, sub-nano
amounts), the window's edges and the calls added to a job after it finished (which move
it between buckets).
"""

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.postgres.pool import Pool, autocommit_connection
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from application.ports.repositories import CountSpread, EconomicsScope, JobTypeStats, MoneySpread
from benchmarks.db import ROLLUP_BACKFILL
from domain.economics import percentile_of
from domain.jobs import CostSummary, JobStatus
from domain.organizations import Team
from tests.contract.conftest import D, UowFactory, at, make_job, make_org, make_team
from tests.postgres import truncate_all

DAY0 = at(0).date()
STATUSES = (JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED)
TYPES = ("analyse", "Zeta", "é-type")

counts = st.one_of(st.integers(0, 3), st.integers(0, 1_200))
tokens = st.one_of(st.integers(0, 1_500), st.integers(0, 10**8))
# Nano-USD amounts, some with digits below the nano (their bucket is their whole nano-USD).
usd = st.one_of(
    st.integers(0, 2_000).map(lambda n: D(n) / 10**9),
    st.integers(0, 10**13).map(lambda n: D(n) / 10**9),
    st.integers(0, 10**9).map(lambda n: D(n) / 10**12),
    st.sampled_from([D("0.000001"), D("0.00000100"), D("0.000000999"), D("0.01"), D("0.0100001")]),
)


@st.composite
def summaries(draw: st.DrawFn) -> CostSummary:
    ok, failed = draw(counts), draw(st.integers(0, 2))
    return CostSummary(
        total_calls=ok + failed,
        successful_calls=ok,
        failed_calls=failed,
        input_tokens=draw(tokens),
        output_tokens=draw(st.integers(0, 2_000)),
        provider_cost_usd=draw(usd),
        customer_cost_usd=draw(usd),
        credits=D(0),
    )


@dataclass
class Spec:
    team: int
    job_type: str
    day: int
    status: JobStatus
    before: CostSummary
    late: CostSummary | None  # added after the job finished


specs = st.builds(
    Spec,
    team=st.integers(0, 2),
    job_type=st.sampled_from(TYPES),
    day=st.integers(0, 4),
    status=st.sampled_from(STATUSES),
    before=summaries(),
    late=st.none() | summaries(),
)
percentiles = st.sampled_from([D(95), D(50), D(10), D(100), D("99.9"), D("0.01"), D("33.33")])


def naive(rows: list[tuple[Spec, CostSummary]], percentile: Decimal) -> list[JobTypeStats]:
    """The definition: every job's final values sorted, nearest-rank (domain.economics)."""
    out = []
    for job_type in sorted({s.job_type for s, _ in rows}):
        mine = [(s, c) for s, c in rows if s.job_type == job_type]
        calls = sorted(c.total_calls for _, c in mine)
        toks = sorted(c.total_tokens for _, c in mine)

        def money(values: list[Decimal]) -> MoneySpread:
            v = sorted(values)
            return MoneySpread(
                total=sum(v, D(0)),
                p50=percentile_of(v, D(50)),  # type: ignore[arg-type]
                p95=percentile_of(v, D(95)),  # type: ignore[arg-type]
                p99=percentile_of(v, D(99)),  # type: ignore[arg-type]
                max=v[-1],
                at_percentile=percentile_of(v, percentile),  # type: ignore[arg-type]
            )

        statuses = [s.status for s, _ in mine]

        out.append(
            JobTypeStats(
                job_type=job_type,
                jobs=len(mine),
                completed=statuses.count(JobStatus.COMPLETED),
                failed=statuses.count(JobStatus.FAILED),
                cancelled=statuses.count(JobStatus.CANCELLED),
                expired=statuses.count(JobStatus.EXPIRED),
                calls=CountSpread(
                    p50=int(percentile_of(calls, D(50))), p95=int(percentile_of(calls, D(95))), max=calls[-1]
                ),
                tokens=CountSpread(
                    p50=int(percentile_of(toks, D(50))), p95=int(percentile_of(toks, D(95))), max=toks[-1]
                ),
                provider_cost_usd=money([c.provider_cost_usd for _, c in mine]),
                customer_price_usd=money([c.customer_cost_usd for _, c in mine]),
            )
        )
    return out


async def _history(uow: UowFactory, jobs: list[Spec]) -> tuple[list[Team], list[CostSummary]]:
    org = await make_org(uow)
    teams = [await make_team(uow, org=org, credits=None) for _ in range(3)]
    finals = []
    for spec in jobs:
        job = await make_job(uow, teams[spec.team], job_type=spec.job_type)
        finished_at = at(60 * 24 * spec.day + 600)
        async with uow() as u:
            await u.jobs.add_call_totals(job.id, spec.before)
            found = await u.jobs.get(job.id, for_update=True)
            assert found is not None
            await u.jobs.finish(job.id, status=spec.status, at=finished_at, credits_charged=D(0))
            await u.usage.record_job(found, status=spec.status, summary=found.totals, at=finished_at)
            await u.commit()
        final = spec.before
        if spec.late is not None:
            async with uow() as u:
                await u.jobs.add_call_totals(job.id, spec.late)
                await u.commit()
            final = final + spec.late
        finals.append(final)
    return teams, finals


@settings(max_examples=30, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(
    jobs=st.lists(specs, min_size=1, max_size=14),
    window=st.tuples(st.integers(0, 4), st.integers(0, 4)).map(sorted),
    percentile=percentiles,
    team=st.none() | st.integers(0, 2),
    price_of=st.integers(0, 13),
)
async def test_bucketed_report_equals_the_naive_definition(
    uow: UowFactory, jobs: list[Spec], window: list[int], percentile: Decimal, team: int | None, price_of: int
) -> None:
    teams, finals = await _history(uow, jobs)
    first, last = DAY0 + timedelta(days=window[0]), DAY0 + timedelta(days=window[1])
    team_id = teams[team].id if team is not None else None
    scope = EconomicsScope(organization_id=teams[0].organization_id, team_id=team_id, first_day=first, last_day=last)
    inside = [
        (s, c)
        for s, c in zip(jobs, finals, strict=True)
        if window[0] <= s.day <= window[1] and (team is None or s.team == team)
    ]
    # Prices at a job's exact cost (the edge: not "more"), just above and below it.
    cost = finals[price_of % len(finals)].provider_cost_usd
    prices = {TYPES[0]: cost, TYPES[1]: cost + D("0.000000001"), TYPES[2]: max(D(0), cost - D("0.000000000001"))}
    async with uow() as u:
        stats = await u.economics.job_type_stats(scope, percentile=percentile)
        losing = await u.economics.jobs_costing_more(scope, prices)
    assert stats == naive(inside, percentile)
    present = {s.job_type for s, _ in inside}
    assert losing == {
        t: sum(1 for s, c in inside if s.job_type == t and c.provider_cost_usd > p)
        for t, p in prices.items()
        if t in present
    }


async def test_an_empty_window_reports_nothing(uow: UowFactory) -> None:
    org = await make_org(uow)
    scope = EconomicsScope(organization_id=org.id, team_id=None, first_day=date(2026, 1, 1), last_day=DAY0)
    async with uow() as u:
        assert await u.economics.job_type_stats(scope, percentile=D(95)) == []
        assert await u.economics.jobs_costing_more(scope, {"analyse": D(1)}) == {}


ROLLUP_ROWS = "SELECT * FROM job_type_rollups WHERE jobs <> 0 ORDER BY organization_id, measure, day, job_type, bucket"


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(jobs=st.lists(specs, min_size=1, max_size=10))
async def test_the_migrations_backfill_rebuilds_the_rollup_that_completions_keep(
    clean_postgres: Pool, jobs: list[Spec]
) -> None:
    """What the benchmark's seed relies on: 0011's backfill of the summaries (read from the
    migration) gives the rollup that finishing jobs and late calls keep up to date."""
    await truncate_all(clean_postgres)
    await _history(lambda: PostgresUnitOfWork(clean_postgres), jobs)
    async with autocommit_connection(clean_postgres) as conn:
        kept = await (await conn.execute(ROLLUP_ROWS)).fetchall()
        await conn.execute("DELETE FROM job_type_rollups")
        await conn.execute(ROLLUP_BACKFILL)
        rebuilt = await (await conn.execute(ROLLUP_ROWS)).fetchall()
    assert kept
    assert rebuilt == kept
