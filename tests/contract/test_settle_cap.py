"""What a settle may debit: one rule (``domain.ledger.settle_debit``), the same on both adapters.

Each case runs through the credit repository's ``settle`` and through the call ledger's
``reserve`` + ``record`` (the hot path's own statement), on the in-memory fakes and on
Postgres, and must give exactly what the domain's ``settle`` computes.
"""

from dataclasses import dataclass
from datetime import timedelta
from uuid import uuid4

import pytest

from adapters.memory.call_ledger import MemoryCallLedger
from adapters.memory.store import MemoryStore
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.postgres.call_ledger import PostgresCallLedger
from adapters.postgres.pool import Pool
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from application.ports.repositories import CallLedger, SettleRequest
from domain.budgets import BudgetMode
from domain.ids import CallId, JobId
from domain.jobs import Job
from domain.ledger import CreditBalance, EntryType, NewEntry, Settlement, replay, settle
from domain.organizations import Team
from tests.contract.conftest import D, UowFactory, at, make_job, make_team
from tests.support.ledger import call_lease, succeeded_call


@dataclass(frozen=True)
class Case:
    name: str
    allocated: str
    held: str  # this call's (or job's) hold
    actual: str  # what it used
    debit: str  # what the team must be charged
    other_held: str = "0"  # holds of other calls still in flight
    mode: BudgetMode = BudgetMode.CONSUMPTION_USD

    @property
    def settlement(self) -> Settlement:
        return Settlement(release=D(self.held), debit=D(self.debit), overdraft=D(self.actual) - D(self.debit))

    @property
    def after(self) -> CreditBalance:
        return CreditBalance(allocated=D(self.allocated), used=D(self.debit), held=D(self.other_held))


CASES = [
    Case(name="held_above_actual", allocated="10", held="3", actual="1.25", debit="1.25"),
    Case(name="actual_above_held_but_payable", allocated="10", held="1", actual="4", debit="4"),
    Case(name="overdraft_anomaly", allocated="2", held="1.5", actual="5", debit="2"),
    Case(name="exact", allocated="3", held="3", actual="3", debit="3"),
    Case(name="zero_actual", allocated="5", held="2", actual="0", debit="0"),
    Case(name="job_based_call", allocated="5", held="0", actual="0", debit="0", mode=BudgetMode.JOB_BASED),
    Case(name="other_holds_cap_the_debit", allocated="5", held="1", actual="3", debit="1", other_held="4"),
    Case(name="sub_credit_exact", allocated="0.000003", held="0.000002", actual="0.000003", debit="0.000003"),
    Case(name="job_based_completed_job", allocated="1", held="1", actual="1", debit="1", mode=BudgetMode.JOB_BASED),
    Case(name="job_based_failed_job", allocated="1", held="1", actual="0", debit="0", mode=BudgetMode.JOB_BASED),
]
IDS = [c.name for c in CASES]


@dataclass(frozen=True)
class Backend:
    uow: UowFactory
    ledger: CallLedger


@pytest.fixture(params=["memory", "postgres"])
def backend(request: pytest.FixtureRequest) -> Backend:
    if request.param == "memory":
        store = MemoryStore()
        return Backend(uow=lambda: MemoryUnitOfWork(store), ledger=MemoryCallLedger(store))
    pool: Pool = request.getfixturevalue("clean_postgres")
    return Backend(uow=lambda: PostgresUnitOfWork(pool), ledger=PostgresCallLedger(pool))


async def arrange(backend: Backend, case: Case) -> tuple[Team, Job]:
    team = await make_team(backend.uow, credits=D(case.allocated), mode=case.mode)
    job = await make_job(backend.uow, team)
    if D(case.other_held) > 0:
        async with backend.uow() as u:
            other = CallId(uuid4())
            await u.credits.apply(
                NewEntry(team.id, EntryType.HOLD, -D(case.other_held), created_at=at(1), job_id=job.id, call_id=other)
            )
            await u.commit()
    return team, job


async def balance_replayed(uow: UowFactory, team: Team) -> CreditBalance:
    async with uow() as u:
        entries = await u.credits.entries(team.id, before=None, limit=1000)
        balance = await u.credits.balance(team.id)
    assert replay(reversed(entries)) == balance  # the ledger stays exact
    return balance


@pytest.mark.parametrize("case", CASES, ids=IDS)
def test_the_domain_rule(case: Case) -> None:
    before = CreditBalance(allocated=D(case.allocated), held=D(case.held) + D(case.other_held))
    assert settle(before, held=D(case.held), actual=D(case.actual)) == case.settlement


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_the_credit_repository_settles_by_the_domain_rule(backend: Backend, case: Case) -> None:
    team, job = await arrange(backend, case)
    call_id = CallId(uuid4())
    async with backend.uow() as u:
        if D(case.held) > 0:
            await u.credits.apply(
                NewEntry(team.id, EntryType.HOLD, -D(case.held), created_at=at(2), job_id=job.id, call_id=call_id)
            )
        outcome = await u.credits.settle(
            SettleRequest(
                team_id=team.id, held=D(case.held), actual=D(case.actual), at=at(3), job_id=job.id, call_id=call_id
            )
        )
        await u.commit()
    assert outcome == case.settlement
    assert await balance_replayed(backend.uow, team) == case.after


@pytest.mark.parametrize("case", CASES, ids=IDS)
async def test_the_call_ledger_records_by_the_domain_rule(backend: Backend, case: Case) -> None:
    team, job = await arrange(backend, case)
    lease = call_lease(team.id, JobId(job.id), D(case.held), at=at(2), expires_at=at(60))
    await backend.ledger.reserve(lease, at=at(2))
    call = succeeded_call(lease, D(case.actual), at=at(2) + timedelta(seconds=1))
    recorded = await backend.ledger.record(call, actual=D(case.actual), at=at(3))
    assert recorded is not None
    assert (recorded.credits, recorded.overdraft_credits) == (case.settlement.debit, case.settlement.overdraft)
    assert await balance_replayed(backend.uow, team) == case.after
    async with backend.uow() as u:
        totals = (await u.jobs.get(job.id)).totals  # type: ignore[union-attr]
    assert totals.credits == case.settlement.debit
