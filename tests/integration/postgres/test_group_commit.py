"""Group commit: concurrent calls share commits, and one failing statement fails only itself."""

import asyncio
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from adapters.postgres.call_ledger import PostgresCallLedger
from adapters.postgres.pool import Pool
from application.errors import ConflictError
from application.ports.repositories import CallLease
from domain.calls import LlmCall
from domain.ids import CallId, JobId, TeamId
from domain.jobs import Job
from domain.organizations import Team
from tests.integration.postgres.conftest import D, OpenInstance, ledger_state, team_with_job
from tests.support.ledger import call_lease, succeeded_call


def lease(team_id: TeamId, job_id: JobId, call_id: CallId | None = None) -> CallLease:
    now = datetime.now(UTC)
    return call_lease(team_id, job_id, D("0.5"), at=now, expires_at=now + timedelta(minutes=5), call_id=call_id)


async def funded_job(open_instance: OpenInstance, credits: Decimal) -> tuple[Team, Job]:
    """A team holding ``credits`` and one job of it, seeded through a short-lived instance."""
    async with open_instance() as it:
        team, _, job = await team_with_job(it.services, credits)
    return team, job


def outcome(held: CallLease, credits: str) -> LlmCall:
    return succeeded_call(held, D(credits), at=datetime.now(UTC))


async def test_fifty_concurrent_calls_share_commits_and_stay_exact(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str
) -> None:
    team, job = await funded_job(open_instance, D(100))
    ledger = PostgresCallLedger(clean_postgres)
    leases = [lease(team.id, job.id) for _ in range(50)]
    await asyncio.gather(*(ledger.reserve(x, at=x.created_at) for x in leases))
    reserve_commits = ledger.batches
    recorded = await asyncio.gather(*(ledger.record(outcome(x, "0.1"), actual=D("0.1"), at=None) for x in leases))
    assert reserve_commits < 50 and ledger.batches - reserve_commits < 50  # commits were shared
    assert all(r is not None and r.credits == D("0.1") for r in recorded)
    cached, replayed, total = await ledger_state(postgres_url, team.id)
    assert cached == replayed
    assert (cached.held, cached.used, total) == (0, D(5), D(95))


async def test_a_failing_statement_fails_only_its_own_call(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str
) -> None:
    team, job = await funded_job(open_instance, D(100))
    ledger = PostgresCallLedger(clean_postgres)
    taken = lease(team.id, job.id)
    await ledger.reserve(taken, at=taken.created_at)
    good = [lease(team.id, job.id) for _ in range(9)]
    duplicate = lease(team.id, job.id, call_id=taken.call_id)  # its lease row exists: a unique violation
    results = await asyncio.gather(
        *(ledger.reserve(x, at=x.created_at) for x in [*good, duplicate]), return_exceptions=True
    )
    assert results[:9] == [None] * 9
    assert isinstance(results[9], ConflictError)
    cached, replayed, _ = await ledger_state(postgres_url, team.id)
    assert cached == replayed and cached.held == D(5)  # ten holds of 0.5, the duplicate's undone


@pytest.mark.parametrize("group_commit", [True, False])
async def test_records_are_exact_with_and_without_group_commit(
    open_instance: OpenInstance, clean_postgres: Pool, postgres_url: str, group_commit: bool
) -> None:
    team, job = await funded_job(open_instance, D(3))
    ledger = PostgresCallLedger(clean_postgres, group_commit=group_commit)
    leases = [lease(team.id, job.id) for _ in range(10)]
    results = await asyncio.gather(*(ledger.reserve(x, at=x.created_at) for x in leases), return_exceptions=True)
    placed = [x for x, r in zip(leases, results, strict=True) if r is None]
    assert len(placed) == 6  # 3 credits hold six calls of 0.5, never more
    await asyncio.gather(*(ledger.record(outcome(x, "0.5"), actual=D("0.5"), at=None) for x in placed))
    cached, replayed, total = await ledger_state(postgres_url, team.id)
    assert cached == replayed and (cached.held, cached.used, total) == (0, 3, 0)
