"""The credit ledger: available credits never go below zero; replay equals the balance."""

from decimal import Decimal
from uuid import UUID

import pytest
from hypothesis.stateful import Bundle, RuleBasedStateMachine, consumes, invariant, rule

from domain.errors import InsufficientCreditsError, InvalidValueError
from domain.ids import LedgerEntryId, TeamId
from domain.ledger import CreditBalance, EntryType, LedgerEntry, replay, settle
from tests.strategies import credit_amounts

D = Decimal
TEAM = TeamId(UUID(int=1))
EPOCH = __import__("datetime").datetime(2026, 1, 1, tzinfo=__import__("datetime").UTC)


def test_hold_beyond_available_is_refused() -> None:
    balance = CreditBalance(allocated=D(5))
    with pytest.raises(InsufficientCreditsError):
        balance.apply(EntryType.HOLD, D("-5.000001"))
    assert balance.apply(EntryType.HOLD, D(-5)).available == 0


def test_entry_signs_are_enforced() -> None:
    with pytest.raises(InvalidValueError):
        CreditBalance().apply(EntryType.ALLOCATION, D(-1))
    with pytest.raises(InvalidValueError):
        CreditBalance(allocated=D(1)).apply(EntryType.HOLD, D(1))


def test_settle_caps_the_debit_at_what_the_team_can_pay() -> None:
    balance = CreditBalance(allocated=D(10), used=D(9), held=D(1))
    outcome = settle(balance, held=D(1), actual=D("1.5"))
    assert outcome.debit == D(1)
    assert outcome.overdraft == D("0.5")


class LedgerMachine(RuleBasedStateMachine):
    """Random interleavings of allocations, holds, settles, releases and refunds."""

    holds = Bundle("holds")

    def __init__(self) -> None:
        super().__init__()
        self.balance = CreditBalance()
        self.entries: list[LedgerEntry] = []

    def _record(self, kind: EntryType, amount: Decimal) -> None:
        self.balance = self.balance.apply(kind, amount)
        self.entries.append(
            LedgerEntry(
                id=LedgerEntryId(UUID(int=len(self.entries) + 1)),
                team_id=TEAM,
                type=kind,
                amount=amount,
                created_at=EPOCH,
                sequence=len(self.entries) + 1,
            )
        )

    @rule(amount=credit_amounts)
    def allocate(self, amount: Decimal) -> None:
        self._record(EntryType.ALLOCATION, amount)

    @rule(amount=credit_amounts)
    def adjust_down(self, amount: Decimal) -> None:
        try:
            self._record(EntryType.ADJUSTMENT, -amount)
        except InsufficientCreditsError:
            assert amount > self.balance.available

    @rule(target=holds, amount=credit_amounts)
    def hold(self, amount: Decimal) -> Decimal:
        try:
            self._record(EntryType.HOLD, -amount)
        except InsufficientCreditsError:
            assert amount > self.balance.available
            return D(0)
        return amount

    @rule(held=consumes(holds), actual=credit_amounts)
    def settle_hold(self, held: Decimal, actual: Decimal) -> None:
        if held == 0:
            return
        outcome = settle(self.balance, held=held, actual=actual)
        self._record(EntryType.RELEASE, outcome.release)
        if outcome.debit > 0:
            self._record(EntryType.DEBIT, -outcome.debit)
        assert outcome.debit + outcome.overdraft == actual

    @rule(held=consumes(holds))
    def release(self, held: Decimal) -> None:
        if held > 0:
            self._record(EntryType.RELEASE, held)

    @rule(amount=credit_amounts)
    def refund(self, amount: Decimal) -> None:
        if amount <= self.balance.used:
            self._record(EntryType.REFUND, amount)

    @invariant()
    def never_negative(self) -> None:
        assert self.balance.available >= 0
        assert self.balance.held >= 0
        assert self.balance.used >= 0

    @invariant()
    def replay_equals_cached_balance(self) -> None:
        assert replay(self.entries) == self.balance
        assert sum((e.amount for e in self.entries), D(0)) == self.balance.available


TestLedgerMachine = LedgerMachine.TestCase
