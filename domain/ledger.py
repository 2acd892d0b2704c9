"""The credit ledger: every credit movement is an entry; the balance is their replay.

An entry's ``amount`` is signed: its effect on the team's available credits
(``allocated − used − held``). Allocations, releases and refunds are positive, holds and
debits negative, adjustments either. The rules below refuse any entry that would take
available credits, held credits or used credits below zero.
"""

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, localcontext
from enum import StrEnum

import msgspec

from domain.errors import InsufficientCreditsError, InvalidValueError
from domain.ids import CallId, JobId, LedgerEntryId, TeamId
from domain.money import EXACT, ZERO


class EntryType(StrEnum):
    ALLOCATION = "allocation"
    ADJUSTMENT = "adjustment"
    HOLD = "hold"
    RELEASE = "release"
    DEBIT = "debit"
    REFUND = "refund"


_POSITIVE = {EntryType.ALLOCATION, EntryType.RELEASE, EntryType.REFUND}
_NEGATIVE = {EntryType.HOLD, EntryType.DEBIT}


class CreditBalance(msgspec.Struct, frozen=True, kw_only=True):
    """A team's cached balance: what was allocated, used, and is held for calls in flight."""

    allocated: Decimal = ZERO
    used: Decimal = ZERO
    held: Decimal = ZERO

    @property
    def available(self) -> Decimal:
        with localcontext(EXACT):
            return self.allocated - self.used - self.held

    def apply(self, kind: EntryType, amount: Decimal) -> "CreditBalance":
        """The balance after one entry, or an error if the entry breaks a rule."""
        check_sign(kind, amount)
        with localcontext(EXACT):
            match kind:
                case EntryType.ALLOCATION | EntryType.ADJUSTMENT:
                    if self.available + amount < 0:
                        raise InsufficientCreditsError("adjustment exceeds the available credits")
                    return CreditBalance(allocated=self.allocated + amount, used=self.used, held=self.held)
                case EntryType.HOLD:
                    if self.available + amount < 0:
                        raise InsufficientCreditsError(f"needs {-amount} credits, {self.available} available")
                    return CreditBalance(allocated=self.allocated, used=self.used, held=self.held - amount)
                case EntryType.RELEASE:
                    if amount > self.held:
                        raise InvalidValueError("cannot release more than is held")
                    return CreditBalance(allocated=self.allocated, used=self.used, held=self.held - amount)
                case EntryType.DEBIT:
                    if self.available + amount < 0:
                        raise InsufficientCreditsError("debit exceeds the available credits")
                    return CreditBalance(allocated=self.allocated, used=self.used - amount, held=self.held)
                case EntryType.REFUND:
                    if amount > self.used:
                        raise InvalidValueError("cannot refund more than was used")
                    return CreditBalance(allocated=self.allocated, used=self.used - amount, held=self.held)


def check_sign(kind: EntryType, amount: Decimal) -> None:
    if not amount.is_finite():
        raise InvalidValueError("credit amounts must be finite")
    if kind in _POSITIVE and amount <= 0:
        raise InvalidValueError(f"a {kind} entry must be positive")
    if kind in _NEGATIVE and amount >= 0:
        raise InvalidValueError(f"a {kind} entry must be negative")
    if kind is EntryType.ADJUSTMENT and amount == 0:
        raise InvalidValueError("an adjustment must not be zero")


# The reason written on the debit that captures the hold of a call whose outcome is unknown.
UNSETTLED_REASON = "unsettled"


def hold_key(call_id: CallId) -> str:
    """The idempotency key of a call's hold."""
    return f"hold:{call_id}"


def job_hold_key(job_id: JobId) -> str:
    """The idempotency key of a job_based job's own hold."""
    return f"hold:job:{job_id}"


def settlement_keys(job_id: JobId, call_id: CallId | None) -> tuple[str, str]:
    """The (release, debit) idempotency keys settling a call's hold, or the job's own."""
    suffix = str(call_id) if call_id is not None else f"job:{job_id}"
    return f"release:{suffix}", f"debit:{suffix}"


def initial_allocation_key(team_id: TeamId) -> str:
    """The idempotency key of the credits a team is created with."""
    return f"initial:{team_id}"


# An operator's own idempotency keys live in their own namespace, so that no operator key
# can collide with (and so silently replay) one of the system's keys above.
OPERATOR_KEY_PREFIX = "op:"


def operator_key(key: str | None) -> str | None:
    """How an operator's idempotency key is stored (None: the entry has no key)."""
    return None if key is None else OPERATOR_KEY_PREFIX + key


def operator_key_as_given(stored: str) -> str | None:
    """The operator's key as its author gave it, or None when ``stored`` is a system key."""
    return stored.removeprefix(OPERATOR_KEY_PREFIX) if stored.startswith(OPERATOR_KEY_PREFIX) else None


class NewEntry(msgspec.Struct, frozen=True):
    """One ledger entry to append (``LedgerEntry`` but for the id and sequence the ledger
    gives it): ``amount`` is signed (its effect on available credits)."""

    team_id: TeamId
    type: EntryType
    amount: Decimal
    created_at: datetime
    job_id: JobId | None = None
    call_id: CallId | None = None
    reason: str | None = None
    idempotency_key: str | None = None

    @staticmethod
    def hold(
        team_id: TeamId, held: Decimal, *, at: datetime, job_id: JobId, call_id: CallId | None = None
    ) -> "NewEntry":
        """The hold of ``held`` credits for a job's call, or for the job's own hold when
        ``call_id`` is None, under its idempotency key."""
        key = hold_key(call_id) if call_id is not None else job_hold_key(job_id)
        return NewEntry(
            team_id, EntryType.HOLD, -held, created_at=at, job_id=job_id, call_id=call_id, idempotency_key=key
        )

    def entry(self, entry_id: LedgerEntryId, sequence: int) -> "LedgerEntry":
        """The entry as stored, once the adapter has given it its id and sequence."""
        return LedgerEntry(id=entry_id, sequence=sequence, **msgspec.structs.asdict(self))


class LedgerEntry(NewEntry, frozen=True, kw_only=True):
    """An entry of the ledger: the ``NewEntry`` with the id and sequence the ledger gave it."""

    id: LedgerEntryId
    sequence: int = 0  # insertion order within the ledger, the tiebreak of pagination


def replay(entries: Iterable[LedgerEntry]) -> CreditBalance:
    """The balance that a sequence of entries produces (the cached balance must equal it)."""
    balance = CreditBalance()
    for entry in entries:
        balance = balance.apply(entry.type, entry.amount)
    return balance


class Settlement(msgspec.Struct, frozen=True, kw_only=True):
    """How a held amount turns into a charge.

    ``debit`` is what the team is charged; ``overdraft`` is what the call used beyond
    what the team could still pay (only when a provider reports more than the hold
    allowed): it is recorded on the call, never taken below zero.
    """

    release: Decimal
    debit: Decimal
    overdraft: Decimal


def settle_debit(*, actual: Decimal, available: Decimal, release: Decimal) -> Decimal:
    """What a settle may debit: ``actual``, capped at what the team can pay once the hold
    is released (``available + release``), so available credits never go below zero.

    The rule of every settle; the Postgres adapter writes it in SQL (``LEAST(actual,
    available + release)``, with ``available`` read under the team's row lock) and the
    repository contract suite checks that both adapters agree.
    """
    with localcontext(EXACT):
        return min(actual, available + release)


def settle(balance: CreditBalance, *, held: Decimal, actual: Decimal) -> Settlement:
    """Release ``held`` and debit ``actual`` (capped by ``settle_debit``); the rest of
    ``actual`` is the overdraft."""
    if held < 0 or actual < 0:
        raise InvalidValueError("held and actual credits must not be negative")
    debit = settle_debit(actual=actual, available=balance.available, release=held)
    with localcontext(EXACT):
        return Settlement(release=held, debit=debit, overdraft=actual - debit)
