"""Credit use cases: allocate (or adjust) a team's credits, read balance and ledger."""

from datetime import datetime, timedelta
from decimal import Decimal

import msgspec

from application.ports.system import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.services._access import Caller, visible_team
from application.services._audit import audit
from application.services._events import credits_changed
from domain.admins import AdminPrincipal, ensure_can_write
from domain.budgets import BudgetPolicy
from domain.economics import FORECAST_WINDOW_DAYS, Forecast, forecast
from domain.errors import InvalidValueError
from domain.ids import TeamId
from domain.ledger import CreditBalance, EntryType, LedgerEntry, NewEntry, operator_key, operator_key_as_given
from domain.money import CREDIT_PLACES, ZERO, has_credit_precision


class TeamCredits(msgspec.Struct, frozen=True, kw_only=True):
    budget: BudgetPolicy
    balance: CreditBalance
    forecast: Forecast | None = None  # when asked for: the burn rate and run-out time
    low_credit_threshold: Decimal | None = None  # the team's own (None: 10 % of the allocation)


class Adjustment(msgspec.Struct, frozen=True, kw_only=True):
    """An allocation or adjustment: ``entry`` None when its idempotency key was used before."""

    entry: LedgerEntry | None
    balance: CreditBalance


class CreditService:
    """Rules:

    - a positive amount is an allocation, a negative one an adjustment; neither may take
      available credits below zero;
    - amounts have at most 6 decimals (credits are exact to 1e-6);
    - the same idempotency key applies once per team (the replay returns ``None``);
    - an operator's idempotency keys live in their own namespace (stored as ``op:`` + key,
      shown as given), so no operator key can equal, pre-empt or replay one of the
      system's own ledger keys (``hold:…``, ``release:…``, ``debit:…``, ``initial:…``);
    - admins adjust only teams they see, viewers not at all; each applied change is
      audited and checked against the low-credits threshold in its own transaction.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def allocate(
        self, team_id: TeamId, amount: Decimal, *, reason: str | None, idempotency_key: str | None
    ) -> LedgerEntry | None:
        """A system allocation (CLI, seeding); the ledger entry, or None on a replay."""
        done = await self.adjust(None, team_id, amount, reason=reason, idempotency_key=idempotency_key)
        return done.entry

    async def adjust(
        self,
        actor: AdminPrincipal | None,
        team_id: TeamId,
        amount: Decimal,
        *,
        reason: str | None,
        idempotency_key: str | None,
    ) -> Adjustment:
        if actor is not None:
            ensure_can_write(actor)
        if not amount.is_finite() or amount == 0:
            raise InvalidValueError("amount must be a non-zero decimal")
        if not has_credit_precision(amount):
            raise InvalidValueError(f"amount may have at most {CREDIT_PLACES} decimal places")
        kind = EntryType.ALLOCATION if amount > 0 else EntryType.ADJUSTMENT
        async with self._uow() as uow:
            team = await visible_team(uow, actor, team_id)
            now = self._clock.now()
            entry = await uow.credits.apply(
                NewEntry(
                    team_id, kind, amount, created_at=now, reason=reason, idempotency_key=operator_key(idempotency_key)
                )
            )
            balance = await uow.credits.balance(team_id)
            if entry is not None:
                await audit(
                    uow,
                    actor,
                    f"team.credits.{kind.value}",
                    target_type="team",
                    target_id=team_id,
                    organization_id=team.organization_id,
                    at=now,
                    after={"amount": str(amount), "reason": reason, "idempotency_key": idempotency_key},
                )
                await credits_changed(uow, team, balance, at=now, topped_up=amount > 0)
            await uow.commit()
        return Adjustment(entry=as_shown(entry) if entry is not None else None, balance=balance)

    async def team_credits(self, caller: Caller, team_id: TeamId, *, with_forecast: bool = False) -> TeamCredits:
        """The team's balance, for its key or an admin of its organization; ``with_forecast``
        adds the burn rate (debits of the last 7 days, per day) and when, at that pace, the
        available credits run out."""
        async with self._uow() as uow:
            team = await visible_team(uow, caller, team_id)
            balance = await uow.credits.balance(team.id)
            outlook = None
            if with_forecast:
                now = self._clock.now()
                debited = await uow.credits.debited_since(team.id, now - timedelta(days=FORECAST_WINDOW_DAYS))
                outlook = forecast(remaining=max(balance.available, ZERO), debited=debited, now=now)
        return TeamCredits(
            budget=team.budget, balance=balance, forecast=outlook, low_credit_threshold=team.low_credit_threshold
        )

    async def transactions(
        self, caller: Caller, team_id: TeamId, *, before: tuple[datetime, int] | None, limit: int
    ) -> list[LedgerEntry]:
        async with self._uow() as uow:
            team = await visible_team(uow, caller, team_id)
            entries = await uow.credits.entries(team.id, before=before, limit=limit)
        return [as_shown(e) for e in entries]


def as_shown(entry: LedgerEntry) -> LedgerEntry:
    """The entry with its idempotency key as its author gave it (the operator's prefix removed).

    Only allocations and adjustments come from operators; every other entry's key is the
    system's own and is shown as stored.
    """
    key = entry.idempotency_key
    given = operator_key_as_given(key) if key is not None and entry.type in _OPERATOR_TYPES else None
    return entry if given is None else msgspec.structs.replace(entry, idempotency_key=given)


_OPERATOR_TYPES = frozenset({EntryType.ALLOCATION, EntryType.ADJUSTMENT})
