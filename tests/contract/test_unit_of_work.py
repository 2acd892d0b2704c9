"""A unit of work is one transaction: nothing survives without ``commit()``."""

from uuid import uuid4

import pytest

from domain.ids import OrganizationId
from domain.ledger import CreditBalance, EntryType, NewEntry
from domain.organizations import Organization
from tests.contract.conftest import D, UowFactory, at, make_team


async def test_uncommitted_changes_are_rolled_back(uow: UowFactory) -> None:
    team = await make_team(uow, credits=D(5))
    async with uow() as u:
        await u.credits.apply(NewEntry(team.id, EntryType.ALLOCATION, D(10), created_at=at(1)))
        assert (await u.credits.balance(team.id)).allocated == D(15)
    async with uow() as u:
        assert await u.credits.balance(team.id) == CreditBalance(allocated=D(5))


async def test_an_error_rolls_back_the_whole_unit(uow: UowFactory) -> None:
    org = Organization(id=OrganizationId(uuid4()), name="Acme", slug="acme", created_at=at(0))
    with pytest.raises(RuntimeError):
        async with uow() as u:
            await u.organizations.add(org)
            raise RuntimeError("boom")
    async with uow() as u:
        assert await u.organizations.get(org.id) is None


async def test_commit_makes_changes_durable_and_the_unit_stays_usable(uow: UowFactory) -> None:
    team = await make_team(uow, credits=None)
    async with uow() as u:
        await u.credits.apply(NewEntry(team.id, EntryType.ALLOCATION, D(1), created_at=at(1)))
        await u.commit()
        await u.credits.apply(NewEntry(team.id, EntryType.ALLOCATION, D(2), created_at=at(2)))
        await u.commit()
        await u.credits.apply(NewEntry(team.id, EntryType.ALLOCATION, D(4), created_at=at(3)))
    async with uow() as u:
        assert (await u.credits.balance(team.id)).allocated == D(3)
