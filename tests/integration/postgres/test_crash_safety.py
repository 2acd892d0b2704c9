"""A process killed between hold and settle leaves a hold that completion or the sweeper releases."""

from uuid import uuid4

import psycopg
import pytest

from adapters.postgres.pool import Pool
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from application.errors import UnavailableError
from domain.budgets import BudgetMode
from domain.ids import CallId
from domain.jobs import JobStatus
from domain.ledger import EntryType
from tests.integration.postgres.conftest import D, OpenInstance, ledger_state, make_team, seed


async def terminate_backends_in_transaction(postgres_url: str) -> int:
    """Kill every backend of the test database that sits inside an open transaction."""
    async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
        cursor = await admin.execute(
            """
            SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
            WHERE datname = current_database() AND state = 'idle in transaction' AND pid <> pg_backend_pid()
            """
        )
        row = await cursor.fetchone()
    return int(row[0]) if row else 0


async def test_a_hold_whose_call_never_settles_is_released_at_completion(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str
) -> None:
    async with open_instance() as it:
        organization = await seed(it.services)
        team, me = await make_team(it.services, organization, BudgetMode.CONSUMPTION_USD, credits=D(10))
        job, _ = await it.services.jobs.create_job(me, job_type="doc")
        call_id = CallId(uuid4())
        async with PostgresUnitOfWork(clean_postgres) as uow:  # the call's first transaction...
            await uow.credits.apply(team.id, EntryType.HOLD, D(-3), at=job.created_at, job_id=job.id, call_id=call_id)
            await uow.commit()
        # ...and then its process died: no settle ever comes.
        assert (await ledger_state(postgres_url, team.id))[0].held == 3
        done = await it.services.jobs.complete_job(me, job.id)
        assert (done.credits_deducted, done.credits_remaining) == (0, 10)

        # Had the process only been slow, its settle now releases nothing a second time.
        async with PostgresUnitOfWork(clean_postgres) as uow:
            late = await uow.credits.settle(
                team.id, held=D(3), actual=D("0.5"), at=job.created_at, job_id=job.id, call_id=call_id
            )
            await uow.commit()
    assert (late.release, late.debit) == (0, D("0.5"))
    cached, replayed, ledger_sum = await ledger_state(postgres_url, team.id)
    assert cached == replayed
    assert (cached.held, cached.used, ledger_sum) == (0, D("0.5"), D("9.5"))


async def test_a_settle_killed_mid_transaction_leaves_the_hold_for_the_sweeper(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str
) -> None:
    async with open_instance(JOB_TTL_S="0") as it:
        organization = await seed(it.services)
        team, me = await make_team(it.services, organization, BudgetMode.CONSUMPTION_USD, credits=D(10))
        job, _ = await it.services.jobs.create_job(me, job_type="doc")
        call_id = CallId(uuid4())
        async with PostgresUnitOfWork(clean_postgres) as uow:
            await uow.credits.apply(team.id, EntryType.HOLD, D(-3), at=job.created_at, job_id=job.id, call_id=call_id)
            await uow.commit()

        with pytest.raises(UnavailableError):
            async with PostgresUnitOfWork(clean_postgres) as uow:
                await uow.credits.settle(
                    team.id, held=D(3), actual=D(1), at=job.created_at, job_id=job.id, call_id=call_id
                )
                assert await terminate_backends_in_transaction(postgres_url) == 1  # killed before its commit
                await uow.commit()

        cached, replayed, _ = await ledger_state(postgres_url, team.id)
        assert cached == replayed and (cached.held, cached.used) == (3, 0)  # the settle left no trace
        assert await it.services.jobs.expire_stale_jobs() == 1
        view = await it.services.jobs.get_job(me, job.id)
        assert view.job.status is JobStatus.EXPIRED
        assert await it.services.jobs.expire_stale_jobs() == 0
    cached, replayed, ledger_sum = await ledger_state(postgres_url, team.id)
    assert cached == replayed
    assert (cached.held, cached.used, ledger_sum) == (0, 0, D(10))
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute(
            "SELECT type, amount FROM credit_ledger WHERE call_id = %s ORDER BY sequence", (call_id,)
        )
        assert await cursor.fetchall() == [("hold", D(-3)), ("release", D(3))]


async def test_a_hold_killed_before_its_commit_never_happened(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str
) -> None:
    async with open_instance() as it:
        organization = await seed(it.services)
        team, _ = await make_team(it.services, organization, BudgetMode.CONSUMPTION_USD, credits=D(10))
    with pytest.raises(UnavailableError):
        async with PostgresUnitOfWork(clean_postgres) as uow:
            await uow.credits.apply(team.id, EntryType.HOLD, D(-3), at=team.created_at, call_id=CallId(uuid4()))
            await terminate_backends_in_transaction(postgres_url)
            await uow.commit()
    cached, replayed, _ = await ledger_state(postgres_url, team.id)
    assert cached == replayed and cached.held == 0 and cached.available == 10
    async with PostgresUnitOfWork(clean_postgres) as uow:  # the pool replaced the dead connection
        assert (await uow.credits.balance(team.id)).available == 10
