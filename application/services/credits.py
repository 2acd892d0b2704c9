"""Credit use cases: allocate (or adjust) a team's credits, read balance and ledger."""

from datetime import datetime
from decimal import Decimal

import msgspec

from application.errors import NotFoundError
from application.ports.system import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.principal import TeamPrincipal
from application.services._access import own_team
from domain.budgets import BudgetPolicy
from domain.errors import InvalidValueError
from domain.ids import TeamId
from domain.ledger import CreditBalance, EntryType, LedgerEntry
from domain.money import CREDIT_QUANTUM


class TeamCredits(msgspec.Struct, frozen=True, kw_only=True):
    budget: BudgetPolicy
    balance: CreditBalance


class CreditService:
    """Rules:

    - a positive amount is an allocation, a negative one an adjustment; neither may take
      available credits below zero;
    - amounts have at most 6 decimals (credits are exact to 1e-6);
    - the same idempotency key applies once per team (the replay returns ``None``).
    """

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def allocate(
        self, team_id: TeamId, amount: Decimal, *, reason: str | None, idempotency_key: str | None
    ) -> LedgerEntry | None:
        if not amount.is_finite() or amount == 0:
            raise InvalidValueError("amount must be a non-zero decimal")
        if has_more_decimals_than_credits(amount):
            raise InvalidValueError("amount may have at most 6 decimal places")
        kind = EntryType.ALLOCATION if amount > 0 else EntryType.ADJUSTMENT
        async with self._uow() as uow:
            if await uow.teams.get(team_id) is None:
                raise NotFoundError("team not found")
            entry = await uow.credits.apply(
                team_id, kind, amount, at=self._clock.now(), reason=reason, idempotency_key=idempotency_key
            )
            await uow.commit()
        return entry

    async def team_credits(self, principal: TeamPrincipal, team_id: TeamId) -> TeamCredits:
        async with self._uow() as uow:
            team = await own_team(uow, principal, team_id)
            balance = await uow.credits.balance(team.id)
        return TeamCredits(budget=team.budget, balance=balance)

    async def transactions(
        self, principal: TeamPrincipal, team_id: TeamId, *, before: tuple[datetime, int] | None, limit: int
    ) -> list[LedgerEntry]:
        async with self._uow() as uow:
            team = await own_team(uow, principal, team_id)
            return await uow.credits.entries(team.id, before=before, limit=limit)


def has_more_decimals_than_credits(amount: Decimal) -> bool:
    exponent = amount.normalize().as_tuple().exponent
    return isinstance(exponent, int) and exponent < CREDIT_QUANTUM.as_tuple().exponent  # type: ignore[operator]
