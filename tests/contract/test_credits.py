"""The credit ledger and the cached balance it must always replay to."""

from uuid import uuid4

import pytest

from application.ports.repositories import OutstandingHold, SettleRequest
from domain.errors import InsufficientCreditsError, InvalidValueError
from domain.ids import CallId, TeamId
from domain.ledger import CreditBalance, EntryType, NewEntry, Settlement, replay
from domain.organizations import Team
from tests.contract.conftest import D, UowFactory, at, make_job, make_job_call, make_team


async def ledger_replays_to_balance(uow: UowFactory, team: Team) -> CreditBalance:
    async with uow() as u:
        entries = await u.credits.entries(team.id, before=None, limit=10_000)
        balance = await u.credits.balance(team.id)
    assert replay(reversed(entries)) == balance
    assert sum((e.amount for e in entries), D(0)) == balance.available
    return balance


async def test_allocation_with_a_key_applies_once(uow: UowFactory) -> None:
    team = await make_team(uow, credits=None)
    async with uow() as u:
        entry = await u.credits.apply(
            NewEntry(team.id, EntryType.ALLOCATION, D("25.5"), created_at=at(1), reason="top-up", idempotency_key="k1")
        )
        assert entry is not None
        assert (entry.type, entry.amount, entry.reason, entry.idempotency_key) == (
            EntryType.ALLOCATION,
            D("25.5"),
            "top-up",
            "k1",
        )
        assert (
            await u.credits.apply(
                NewEntry(team.id, EntryType.ALLOCATION, D("25.5"), created_at=at(2), idempotency_key="k1")
            )
            is None
        )
        await u.commit()
    async with uow() as u:
        assert (
            await u.credits.apply(
                NewEntry(team.id, EntryType.ALLOCATION, D(99), created_at=at(3), idempotency_key="k1")
            )
            is None
        )
        assert await u.credits.balance(team.id) == CreditBalance(allocated=D("25.5"))
    # Keys are per team: another team may use the same one.
    other = await make_team(uow, credits=None)
    async with uow() as u:
        assert (
            await u.credits.apply(
                NewEntry(other.id, EntryType.ALLOCATION, D(1), created_at=at(4), idempotency_key="k1")
            )
            is not None
        )


async def test_a_hold_beyond_available_is_refused_and_changes_nothing(uow: UowFactory) -> None:
    team = await make_team(uow, credits=D(10))
    async with uow() as u:
        assert (
            await u.credits.apply(NewEntry(team.id, EntryType.HOLD, D(-6), created_at=at(1), call_id=CallId(uuid4())))
            is not None
        )
        with pytest.raises(InsufficientCreditsError):
            await u.credits.apply(
                NewEntry(team.id, EntryType.HOLD, D("-4.000001"), created_at=at(2), call_id=CallId(uuid4()))
            )
        # The refusal leaves the unit usable: the exact remainder can still be held.
        assert (
            await u.credits.apply(NewEntry(team.id, EntryType.HOLD, D(-4), created_at=at(3), call_id=CallId(uuid4())))
            is not None
        )
        assert (await u.credits.balance(team.id)).available == 0
        await u.commit()
    balance = await ledger_replays_to_balance(uow, team)
    assert balance == CreditBalance(allocated=D(10), held=D(10))


async def test_entries_breaking_the_rules_are_refused(uow: UowFactory) -> None:
    team = await make_team(uow, credits=D(5))
    async with uow() as u:
        with pytest.raises(InvalidValueError):
            await u.credits.apply(NewEntry(team.id, EntryType.HOLD, D(1), created_at=at(1)))  # a hold is negative
        with pytest.raises(InvalidValueError):
            await u.credits.apply(NewEntry(team.id, EntryType.RELEASE, D(1), created_at=at(1)))  # nothing is held
        with pytest.raises(InvalidValueError):
            await u.credits.apply(NewEntry(team.id, EntryType.REFUND, D(1), created_at=at(1)))  # nothing was used
        with pytest.raises(InsufficientCreditsError):
            await u.credits.apply(NewEntry(team.id, EntryType.ADJUSTMENT, D(-6), created_at=at(1)))
        assert await u.credits.apply(NewEntry(team.id, EntryType.ADJUSTMENT, D(-5), created_at=at(1))) is not None
        assert await u.credits.balance(team.id) == CreditBalance()


async def test_settle_releases_the_hold_and_debits_the_actual_once(uow: UowFactory) -> None:
    call = await make_job_call(uow, credits=D(10))
    team, job, call_id = call.team, call.job, call.call_id
    async with uow() as u:
        await u.credits.apply(call.hold(D(3)))
        assert await u.credits.outstanding_holds(job.id) == [OutstandingHold(call_id=call_id, amount=D(3))]
        first = await u.credits.settle(call.settle(held=D(3), actual=D("1.25"), minutes=2))
        assert first == Settlement(release=D(3), debit=D("1.25"), overdraft=D(0))
        again = await u.credits.settle(call.settle(held=D(3), actual=D("1.25"), minutes=3))
        assert again == Settlement(release=D(0), debit=D("1.25"), overdraft=D(0))
        assert await u.credits.outstanding_holds(job.id) == []
        await u.commit()
    balance = await ledger_replays_to_balance(uow, team)
    assert balance == CreditBalance(allocated=D(10), used=D("1.25"))
    async with uow() as u:
        keys = [e.idempotency_key for e in await u.credits.entries(team.id, before=None, limit=10)]
    assert keys[:2] == [f"debit:{call_id}", f"release:{call_id}"]


async def test_a_debit_beyond_what_the_team_can_pay_is_capped_as_overdraft(uow: UowFactory) -> None:
    call = await make_job_call(uow, credits=D(2))
    async with uow() as u:
        await u.credits.apply(call.hold(D("1.5")))
        outcome = await u.credits.settle(call.settle(held=D("1.5"), actual=D(5), minutes=2))
        await u.commit()
    assert outcome == Settlement(release=D("1.5"), debit=D(2), overdraft=D(3))
    assert await ledger_replays_to_balance(uow, call.team) == CreditBalance(allocated=D(2), used=D(2))


async def test_a_hold_released_at_job_end_is_not_released_again_by_a_late_settle(uow: UowFactory) -> None:
    call = await make_job_call(uow, credits=D(10))
    team, job = call.team, call.job
    async with uow() as u:
        await u.credits.apply(call.hold(D(4)))
        await u.commit()
    async with uow() as u:  # what completion does for a call still in flight
        for hold in await u.credits.outstanding_holds(job.id):
            await u.credits.apply(
                NewEntry(
                    team.id,
                    EntryType.RELEASE,
                    hold.amount,
                    created_at=at(2),
                    job_id=job.id,
                    call_id=hold.call_id,
                    idempotency_key=f"release:{hold.call_id}",
                )
            )
        await u.commit()
    async with uow() as u:
        late = await u.credits.settle(call.settle(held=D(4), actual=D(1), minutes=3))
        await u.commit()
    assert late == Settlement(release=D(0), debit=D(1), overdraft=D(0))
    assert await ledger_replays_to_balance(uow, team) == CreditBalance(allocated=D(10), used=D(1))


async def test_the_job_hold_settles_under_the_job_key(uow: UowFactory) -> None:
    team = await make_team(uow, credits=D(3))
    job = await make_job(uow, team, held_credits=D(1))
    async with uow() as u:
        await u.credits.apply(
            NewEntry(
                team.id, EntryType.HOLD, D(-1), created_at=at(0), job_id=job.id, idempotency_key=f"hold:job:{job.id}"
            )
        )
        holds = await u.credits.outstanding_holds(job.id)
        assert holds == [OutstandingHold(call_id=None, amount=D(1))]
        settled = await u.credits.settle(
            SettleRequest(team_id=team.id, held=D(1), actual=D(1), at=at(1), job_id=job.id, call_id=None)
        )
        assert settled == Settlement(release=D(1), debit=D(1), overdraft=D(0))
        await u.commit()
    async with uow() as u:
        keys = {e.idempotency_key for e in await u.credits.entries(team.id, before=None, limit=10)}
    assert {f"release:job:{job.id}", f"debit:job:{job.id}"} <= keys


async def test_entries_are_newest_first_with_a_keyset_cursor(uow: UowFactory) -> None:
    team = await make_team(uow, credits=None)
    async with uow() as u:
        for i in range(5):
            await u.credits.apply(NewEntry(team.id, EntryType.ALLOCATION, D(i + 1), created_at=at(i // 2)))
        await u.commit()
    async with uow() as u:
        page = await u.credits.entries(team.id, before=None, limit=3)
        assert [e.amount for e in page] == [D(5), D(4), D(3)]
        rest = await u.credits.entries(team.id, before=(page[-1].created_at, page[-1].sequence), limit=3)
        assert [e.amount for e in rest] == [D(2), D(1)]
        assert await u.credits.entries(TeamId(uuid4()), before=None, limit=3) == []
        assert await u.credits.balance(TeamId(uuid4())) == CreditBalance()
