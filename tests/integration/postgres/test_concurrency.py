"""The hard credit limit and exactly-once charging under real concurrent transactions."""

import asyncio
from decimal import Decimal
from uuid import uuid4

import psycopg

from adapters.memory.providers import Reply
from adapters.postgres.pool import Pool, open_pool
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from application.services.calls import CallRequest
from domain.budgets import BudgetMode
from domain.errors import InsufficientCreditsError, JobNotActiveError
from domain.ids import CallId
from domain.jobs import JobStatus
from domain.ledger import EntryType, NewEntry
from domain.llm import ChatMessage, Role
from domain.usage import TokenUsage
from tests.integration.postgres.conftest import D, Instance, OpenInstance, ledger_state, make_team, seed

HELLO = [ChatMessage(Role.USER, "Hello")]


async def test_two_instances_racing_200_holds_grant_exactly_the_50_that_fit(
    clean_postgres: Pool, postgres_url: str, instance: Instance
) -> None:
    organization = await seed(instance.services)
    team, _ = await make_team(instance.services, organization, BudgetMode.CONSUMPTION_USD, credits=D("50.5"))
    lowest_available: list[Decimal] = []
    stop = asyncio.Event()

    async def watch() -> None:  # an outside reader never sees a negative balance
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            while not stop.is_set():
                cursor = await conn.execute("SELECT allocated - used - held FROM teams WHERE id = %s", (team.id,))
                row = await cursor.fetchone()
                assert row is not None
                lowest_available.append(row[0])
                await conn.rollback()
                await asyncio.sleep(0.001)

    async def hold(pool: Pool) -> bool:
        async with PostgresUnitOfWork(pool) as uow:
            try:
                await uow.credits.apply(
                    NewEntry(team.id, EntryType.HOLD, D(-1), created_at=team.created_at, call_id=CallId(uuid4()))
                )
            except InsufficientCreditsError:
                return False
            await asyncio.sleep(0.002)  # keep the transaction open: the others must wait, not overtake
            await uow.commit()
            return True

    watcher = asyncio.create_task(watch())
    async with (
        open_pool(postgres_url, max_size=10, name="api-a") as a,
        open_pool(postgres_url, max_size=10, name="api-b") as b,
    ):
        outcomes = await asyncio.gather(*(hold(a if i % 2 else b) for i in range(200)))
    stop.set()
    await watcher

    assert outcomes.count(True) == 50
    assert outcomes.count(False) == 150
    cached, replayed, ledger_sum = await ledger_state(postgres_url, team.id)
    assert cached == replayed
    assert cached.held == 50 and cached.available == D("0.5")
    assert ledger_sum == cached.available
    assert lowest_available and min(lowest_available) >= 0


async def test_100_concurrent_completions_of_one_job_charge_it_once(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str
) -> None:
    async with open_instance() as first, open_instance() as second:
        organization = await seed(first.services)
        team, me = await make_team(first.services, organization, BudgetMode.CONSUMPTION_USD, credits=D(10))
        first.provider.push(Reply(usage=TokenUsage(input=1000, output=500)), Reply(usage=TokenUsage(input=3, output=7)))
        job, _ = await first.services.jobs.create_job(me, job_type="doc")
        for _ in range(2):
            await first.services.calls.call(me, job.id, CallRequest(model="smart", messages=HELLO))

        instances = (first, second)
        results = await asyncio.gather(*(instances[i % 2].services.jobs.complete_job(me, job.id) for i in range(100)))

    assert {r.credits_deducted for r in results} == {D("0.06062")}
    assert {r.completed_at for r in results} == {results[0].completed_at}
    assert {r.status for r in results} == {JobStatus.COMPLETED}
    cached, replayed, ledger_sum = await ledger_state(postgres_url, team.id)
    assert cached == replayed
    assert (cached.used, cached.held, ledger_sum) == (D("0.06062"), 0, D("9.93938"))
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute("SELECT count(*) FROM job_cost_summaries WHERE job_id = %s", (job.id,))
        assert await cursor.fetchone() == (1,)
        cursor = await conn.execute(
            "SELECT jobs_total, total_calls FROM team_usage_summaries WHERE team_id = %s", (team.id,)
        )
        assert await cursor.fetchall() == [(1, 2)]


async def test_calls_racing_the_completion_of_their_job_are_all_counted(
    open_instance: OpenInstance, postgres_url: str
) -> None:
    """Calls settle while the job completes on another instance: no deadlock, nothing lost."""
    async with open_instance() as first, open_instance() as second:
        organization = await seed(first.services)
        team, me = await make_team(first.services, organization, BudgetMode.CONSUMPTION_TOKENS, credits=D(100))
        job, _ = await first.services.jobs.create_job(me, job_type="doc")
        for it in (first, second):
            it.provider.push(*(Reply(usage=TokenUsage(input=90, output=10), delay_s=0.001) for _ in range(20)))

        async def call(i: int) -> bool:
            try:
                await (first, second)[i % 2].services.calls.call(me, job.id, CallRequest(model="smart", messages=HELLO))
            except JobNotActiveError:
                return False
            return True

        async def complete() -> None:
            await asyncio.sleep(0.02)
            await second.services.jobs.complete_job(me, job.id)

        outcomes, _ = await asyncio.gather(asyncio.gather(*(call(i) for i in range(40))), complete())
        view = await first.services.jobs.get_job(me, job.id)
        usage = await first.services.usage.team_usage(
            me,
            team.id,
            first_day=job.created_at.date(),
            last_day=view.job.completed_at.date(),  # type: ignore[union-attr]
        )

    made = outcomes.count(True)
    assert made == len(view.calls) == view.job.totals.total_calls
    assert view.job.credits_charged == view.job.totals.credits == D("0.01") * made
    assert usage.report.totals == view.job.totals
    assert sum(m.calls for m in usage.report.by_model) == made
    cached, replayed, ledger_sum = await ledger_state(postgres_url, team.id)
    assert cached == replayed
    assert cached.held == 0 and cached.used == view.job.credits_charged and ledger_sum == cached.available
