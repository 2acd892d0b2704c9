"""Idempotency keys hold across instances, also when the duplicates arrive at once."""

import asyncio

from adapters.postgres.pool import Pool, open_pool
from adapters.postgres.unit_of_work import PostgresUnitOfWork
from domain.budgets import BudgetMode
from domain.ledger import EntryType, NewEntry
from tests.integration.postgres.conftest import D, Instance, OpenInstance, ledger_state, make_team, seed


async def test_the_same_allocation_sent_twice_applies_once(instance: Instance, postgres_url: str) -> None:
    organization = await seed(instance.services)
    team, _ = await make_team(instance.services, organization, BudgetMode.CONSUMPTION_USD, credits=None)
    credits = instance.services.credits
    first = await credits.allocate(team.id, D("12.5"), reason="invoice 7", idempotency_key="inv-7")
    second = await credits.allocate(team.id, D("12.5"), reason="invoice 7", idempotency_key="inv-7")
    assert first is not None and second is None
    cached, replayed, _ = await ledger_state(postgres_url, team.id)
    assert cached == replayed and cached.allocated == D("12.5")


async def test_a_burst_of_the_same_allocation_from_two_instances_applies_once(
    instance: Instance, clean_postgres: Pool, postgres_url: str
) -> None:
    organization = await seed(instance.services)
    team, _ = await make_team(instance.services, organization, BudgetMode.CONSUMPTION_USD, credits=None)

    async def allocate(pool: Pool) -> bool:
        async with PostgresUnitOfWork(pool) as uow:
            entry = await uow.credits.apply(
                NewEntry(team.id, EntryType.ALLOCATION, D(5), created_at=team.created_at, idempotency_key="burst")
            )
            await asyncio.sleep(0.005)  # hold the team row while the others queue behind it
            await uow.commit()
            return entry is not None

    async with open_pool(postgres_url, max_size=8) as a, open_pool(postgres_url, max_size=8) as b:
        applied = await asyncio.gather(*(allocate(a if i % 2 else b) for i in range(40)))
    assert applied.count(True) == 1
    cached, replayed, ledger_sum = await ledger_state(postgres_url, team.id)
    assert cached == replayed and cached.allocated == D(5) and ledger_sum == D(5)


async def test_the_same_external_id_from_two_instances_makes_one_job(open_instance: OpenInstance) -> None:
    async with open_instance() as first, open_instance() as second:
        organization = await seed(first.services)
        _, me = await make_team(first.services, organization, BudgetMode.JOB_BASED, credits=D(5))
        results = await asyncio.gather(
            *(
                (first, second)[i % 2].services.jobs.create_job(me, job_type="doc", external_id="order-1")
                for i in range(20)
            )
        )
        created = [job for job, new in results if new]
        assert len(created) == 1
        assert {job.id for job, _ in results} == {created[0].id}
        credits = await first.services.credits.team_credits(me, me.team_id)
    assert credits.balance.held == 1  # one job, one hold
