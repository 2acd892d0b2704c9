"""Operator idempotency keys live in their own namespace (fakes and Postgres alike).

An operator key that happens to equal one of the system's ledger keys must neither be
swallowed by it nor pre-empt it: ``release:<call>`` given as an operator key must not stop
that call's hold from being released.
"""

from uuid import uuid4

from adapters.memory.system import FakeClock
from application.ports.repositories import SettleRequest
from application.services.credits import CreditService
from domain.admins import AdminPrincipal, AdminRole
from domain.ids import AdminUserId, CallId
from domain.ledger import CreditBalance, EntryType, NewEntry
from tests.contract.conftest import D, UowFactory, at, make_job, make_team

OWNER = AdminPrincipal(user_id=AdminUserId(uuid4()), email="owner@example.com", role=AdminRole.OWNER)


async def test_an_operator_key_equal_to_a_system_key_forges_nothing(uow: UowFactory) -> None:
    team = await make_team(uow, credits=D(10))
    job = await make_job(uow, team)
    call_id = CallId(uuid4())
    async with uow() as u:
        await u.credits.apply(
            NewEntry(
                team.id,
                EntryType.HOLD,
                D(-4),
                created_at=at(1),
                job_id=job.id,
                call_id=call_id,
                idempotency_key=f"hold:{call_id}",
            )
        )
        await u.commit()
    credits = CreditService(uow=uow, clock=FakeClock(at(2)))

    forged = await credits.adjust(OWNER, team.id, D(1), reason="top-up", idempotency_key=f"release:{call_id}")
    assert forged.entry is not None and forged.entry.idempotency_key == f"release:{call_id}"  # shown as given

    # The call settles: its hold is released under the system's own key, as if nothing happened.
    async with uow() as u:
        await u.credits.settle(
            SettleRequest(team_id=team.id, held=D(4), actual=D(1), at=at(3), job_id=job.id, call_id=call_id)
        )
        await u.commit()
        balance = await u.credits.balance(team.id)
    assert balance == CreditBalance(allocated=D(11), used=D(1), held=D(0))

    # The system's initial allocation key is no operator's either.
    initial = await credits.adjust(OWNER, team.id, D(2), reason=None, idempotency_key=f"initial:{team.id}")
    assert initial.entry is not None and initial.balance.allocated == D(13)


async def test_an_operator_key_still_applies_exactly_once_and_is_listed_as_given(uow: UowFactory) -> None:
    team = await make_team(uow, credits=None)
    credits = CreditService(uow=uow, clock=FakeClock(at(1)))
    first = await credits.adjust(OWNER, team.id, D(5), reason="invoice 7", idempotency_key="invoice-7")
    again = await credits.adjust(OWNER, team.id, D(5), reason="invoice 7", idempotency_key="invoice-7")
    assert first.entry is not None and again.entry is None
    assert again.balance == CreditBalance(allocated=D(5))
    listed = await credits.transactions(OWNER, team.id, before=None, limit=10)
    assert [(e.type, e.idempotency_key) for e in listed] == [(EntryType.ALLOCATION, "invoice-7")]
    # Stored in the operator namespace, never bare.
    async with uow() as u:
        stored = await u.credits.entries(team.id, before=None, limit=10)
    assert [e.idempotency_key for e in stored] == ["op:invoice-7"]
