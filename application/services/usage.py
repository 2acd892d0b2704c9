"""Usage reporting for a team over a date range."""

from datetime import date

import msgspec

from application.ports.repositories import UsageReport
from application.ports.unit_of_work import UnitOfWorkFactory
from application.principal import TeamPrincipal
from application.services._access import own_team
from domain.budgets import BudgetPolicy
from domain.errors import InvalidValueError
from domain.ids import TeamId
from domain.ledger import CreditBalance

MAX_RANGE_DAYS = 366


class TeamUsage(msgspec.Struct, frozen=True, kw_only=True):
    team_id: TeamId
    first_day: date
    last_day: date
    budget: BudgetPolicy
    report: UsageReport
    balance: CreditBalance


class UsageService:
    """Rules: a team sees only its own usage; ranges are inclusive and at most a year."""

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def team_usage(
        self, principal: TeamPrincipal, team_id: TeamId, *, first_day: date, last_day: date
    ) -> TeamUsage:
        if last_day < first_day:
            raise InvalidValueError("'to' must not be before 'from'")
        if (last_day - first_day).days > MAX_RANGE_DAYS:
            raise InvalidValueError("a usage range covers at most 366 days")
        async with self._uow() as uow:
            team = await own_team(uow, principal, team_id)
            report = await uow.usage.team_usage(team.id, first_day=first_day, last_day=last_day)
            balance = await uow.credits.balance(team.id)
        return TeamUsage(
            team_id=team.id, first_day=first_day, last_day=last_day, budget=team.budget, report=report, balance=balance
        )
