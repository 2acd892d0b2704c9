"""One repository suite, run against the in-memory fakes and against Postgres.

Every test here gets ``uow``, a unit-of-work factory of one backend; the fakes stay
honest because the same assertions hold on the real database.
"""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from adapters.memory.store import MemoryStore
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.postgres.pool import Pool
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from application.ports.repositories import SettleRequest
from application.ports.unit_of_work import UnitOfWorkFactory
from domain.budgets import BudgetMode
from domain.calls import LlmCall
from domain.ids import CallId, JobId, OrganizationId
from domain.jobs import CostSummary, Job, JobStatus
from domain.ledger import EntryType, NewEntry, initial_allocation_key
from domain.organizations import Organization, Team
from tests.support.entities import new_team

D = Decimal
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
HUNDRED = D(100)

UowFactory = UnitOfWorkFactory


@pytest.fixture(params=["memory", "postgres"])
def uow(request: pytest.FixtureRequest) -> UowFactory:
    if request.param == "memory":
        store = MemoryStore()
        return lambda: MemoryUnitOfWork(store)
    pool: Pool = request.getfixturevalue("clean_postgres")
    return lambda: PostgresUnitOfWork(pool)


def at(minutes: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes)


async def make_org(uow: UowFactory, slug: str | None = None) -> Organization:
    org = Organization(id=OrganizationId(uuid4()), name="Acme", slug=slug or f"acme-{uuid4().hex[:8]}", created_at=T0)
    async with uow() as u:
        await u.organizations.add(org)
        await u.commit()
    return org


async def make_team(
    uow: UowFactory,
    *,
    credits: Decimal | None = HUNDRED,
    mode: BudgetMode = BudgetMode.CONSUMPTION_USD,
    groups: tuple[str, ...] = (),
    org: Organization | None = None,
) -> Team:
    org = org or await make_org(uow)
    team = new_team(org.id, mode=mode, name="Team", created_at=T0, access_groups=groups)
    async with uow() as u:
        await u.teams.add(team)
        if credits:
            await u.credits.apply(
                NewEntry(
                    team.id,
                    EntryType.ALLOCATION,
                    credits,
                    created_at=T0,
                    idempotency_key=initial_allocation_key(team.id),
                )
            )
        await u.commit()
    return team


async def make_job(uow: UowFactory, team: Team, **changes: Any) -> Job:
    fields: dict[str, Any] = {
        "id": JobId(uuid4()),
        "team_id": team.id,
        "job_type": "doc",
        "status": JobStatus.PENDING,
        "created_at": T0,
    }
    fields.update(changes)
    fields.setdefault("last_activity_at", fields["created_at"])
    job = Job(**fields)
    async with uow() as u:
        await u.jobs.add(job)
        await u.commit()
    return job


@dataclass(frozen=True)
class JobCall:
    """One call of a job of a team: the ledger entries and settlements the credit tests write for it."""

    team: Team
    job: Job
    call_id: CallId

    def hold(self, amount: Decimal, *, minutes: float = 1, **extra: Any) -> NewEntry:
        """The HOLD entry reserving ``amount`` for this call."""
        return NewEntry(
            self.team.id,
            EntryType.HOLD,
            -amount,
            created_at=at(minutes),
            job_id=self.job.id,
            call_id=self.call_id,
            **extra,
        )

    def settle(self, *, held: Decimal, actual: Decimal, minutes: float) -> SettleRequest:
        """Settling this call: ``held`` released, ``actual`` debited."""
        return SettleRequest(
            team_id=self.team.id, held=held, actual=actual, at=at(minutes), job_id=self.job.id, call_id=self.call_id
        )


async def make_job_call(uow: UowFactory, *, credits: Decimal) -> JobCall:
    """A team with ``credits``, a pending job of it and a fresh call id."""
    team = await make_team(uow, credits=credits)
    return JobCall(team, await make_job(uow, team), CallId(uuid4()))


async def finish_job(
    uow: UowFactory,
    job: Job,
    calls: list[LlmCall],
    status: JobStatus,
    minute: float,
    *,
    job_credits: Decimal | None = None,
) -> CostSummary:
    """Record ``calls`` on ``job``, finish it at ``minute`` and write its usage row; its totals.

    The job is charged its calls' credits plus ``job_credits`` (a job-based fee), if any."""
    fee = job_credits or D(0)
    async with uow() as u:
        for c in calls:
            await u.calls.add(c)
            await u.jobs.add_call_totals(job.id, c.summary())
        found = await u.jobs.get(job.id, for_update=True)
        assert found is not None
        charged = found.totals.credits + fee
        await u.jobs.finish(job.id, status=status, at=at(minute), credits_charged=charged)
        await u.usage.record_job(found, status=status, summary=found.totals, at=at(minute), job_credits=fee)
        await u.commit()
    return found.totals
