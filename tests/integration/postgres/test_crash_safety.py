"""A process killed between hold and record leaves a lease: nothing releases its hold while
it is live, and once it expires the sweeper captures it as an unsettled debit."""

import asyncio
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import psycopg
import pytest

from adapters.postgres.call_ledger import PostgresCallLedger
from adapters.postgres.pool import Pool
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from application.errors import UnavailableError
from application.ports.repositories import CallLease
from application.principal import TeamPrincipal
from domain.budgets import BudgetMode
from domain.calls import unsettled_call
from domain.catalog import Provider
from domain.errors import CallsInFlightError
from domain.ids import CallId, TeamId
from domain.jobs import Job, JobStatus
from domain.ledger import EntryType, NewEntry
from domain.organizations import Team
from tests.integration.postgres.conftest import (
    D,
    Instance,
    OpenInstance,
    ledger_state,
    make_team,
    seed,
    team_with_job,
)
from tests.support.ledger import call_lease


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


async def reserved_call(it: Instance, ledger: PostgresCallLedger) -> tuple[Team, TeamPrincipal, Job, CallLease]:
    """A team holding 10 credits, a job of it, and a call that reserved 3 on a lease of one
    second and was never recorded (its process died)."""
    team, me, job = await team_with_job(it.services, D(10))
    now = datetime.now(UTC)
    lease = call_lease(team.id, job.id, D(3), at=now, expires_at=now + timedelta(seconds=1))
    await ledger.reserve(lease, at=now)
    return team, me, job, lease


async def assert_debited_3_of_10(postgres_url: str, team_id: TeamId) -> None:
    """Nothing held any more, the reserved 3 debited, 7 left; the cache agrees with the ledger."""
    cached, replayed, ledger_sum = await ledger_state(postgres_url, team_id)
    assert cached == replayed
    assert (cached.held, cached.used, ledger_sum) == (0, 3, D(7))


async def test_a_call_that_never_records_is_captured_as_unsettled_once_its_lease_expires(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str
) -> None:
    async with open_instance(COMPLETION_WAIT_S="0.2") as it:
        team, me, job, lease = await reserved_call(it, PostgresCallLedger(clean_postgres))  # the call's reservation...
        # ...and then its process died: no record ever comes. The live lease is untouchable.
        with pytest.raises(CallsInFlightError):
            await it.services.jobs.complete_job(me, job.id)
        assert await it.services.jobs.capture_unsettled_calls() == 0
        assert (await ledger_state(postgres_url, team.id))[0].held == 3
        await asyncio.sleep(1.1)
        assert await it.services.jobs.capture_unsettled_calls() == 1
        done = await it.services.jobs.complete_job(me, job.id)  # the retry returns the final result
        assert done.status is JobStatus.COMPLETED
        assert (done.credits_deducted, done.credits_remaining) == (3, 7)
        assert done.costs.total_calls == 1
        view = await it.services.jobs.get_job(me, job.id)
        (call,) = view.calls
        assert call.unsettled and call.credits == 3 and call.error_code == "unsettled"
        assert await it.services.jobs.capture_unsettled_calls() == 0  # captured once
    await assert_debited_3_of_10(postgres_url, team.id)
    async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
        cursor = await conn.execute(
            "SELECT type, amount, reason FROM credit_ledger WHERE call_id = %s ORDER BY sequence", (lease.call_id,)
        )
        assert await cursor.fetchall() == [
            ("hold", D(-3), None),
            ("release", D(3), None),
            ("debit", D(-3), "unsettled"),
        ]


async def test_a_record_killed_mid_transaction_leaves_the_lease_for_the_sweeper(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str
) -> None:
    async with open_instance(JOB_TTL_S="0") as it:
        ledger = PostgresCallLedger(clean_postgres)
        team, me, job, lease = await reserved_call(it, ledger)
        now = lease.created_at

        # The record statement is killed while it runs (a trigger holds it mid-way).
        async with await psycopg.AsyncConnection.connect(postgres_url, autocommit=True) as admin:
            await admin.execute(
                """
                CREATE FUNCTION slow_call() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN PERFORM pg_sleep(5); RETURN NEW; END; $$;
                CREATE TRIGGER slow_call BEFORE INSERT ON llm_calls FOR EACH ROW EXECUTE FUNCTION slow_call();
                """
            )
            call = unsettled_call(
                call_id=lease.call_id,
                job_id=job.id,
                team_id=team.id,
                alias="smart",
                provider=Provider.OPENAI,
                credits=D(1),
                started_at=now,
                at=now,
            )
            record = asyncio.create_task(ledger.record(call, actual=D(1), at=now))
            await asyncio.sleep(0.5)
            cursor = await admin.execute(
                """
                SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
                WHERE datname = current_database() AND state = 'active' AND query LIKE '%%call_leases%%'
                  AND pid <> pg_backend_pid()
                """
            )
            assert (await cursor.fetchone()) == (1,)
            with pytest.raises(UnavailableError):
                await record
            await admin.execute("DROP TRIGGER slow_call ON llm_calls; DROP FUNCTION slow_call()")

        cached, replayed, _ = await ledger_state(postgres_url, team.id)
        assert cached == replayed and (cached.held, cached.used) == (3, 0)  # the record left no trace
        assert await it.services.jobs.expire_stale_jobs() == 0  # the lease is live: the job is not idle
        await asyncio.sleep(1.1)
        assert await it.services.jobs.expire_stale_jobs() == 1  # captured, then expired
        view = await it.services.jobs.get_job(me, job.id)
        assert view.job.status is JobStatus.EXPIRED
        assert await it.services.jobs.expire_stale_jobs() == 0
    await assert_debited_3_of_10(postgres_url, team.id)


async def test_a_hold_killed_before_its_commit_never_happened(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str
) -> None:
    async with open_instance() as it:
        organization = await seed(it.services)
        team, _ = await make_team(it.services, organization, BudgetMode.CONSUMPTION_USD, credits=D(10))
    with pytest.raises(UnavailableError):
        async with PostgresUnitOfWork(clean_postgres) as uow:
            await uow.credits.apply(
                NewEntry(team.id, EntryType.HOLD, D(-3), created_at=team.created_at, call_id=CallId(uuid4()))
            )
            await terminate_backends_in_transaction(postgres_url)
            await uow.commit()
    cached, replayed, _ = await ledger_state(postgres_url, team.id)
    assert cached == replayed and cached.held == 0 and cached.available == 10
    async with PostgresUnitOfWork(clean_postgres) as uow:  # the pool replaced the dead connection
        assert (await uow.credits.balance(team.id)).available == 10
