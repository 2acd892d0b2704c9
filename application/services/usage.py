"""Usage reporting: a team's, an organization's, and the operator's overview."""

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import msgspec

from application.ports.repositories import JobOutcomes, OpenJobs, UsageOverview, UsageReport
from application.ports.system import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.services._access import Caller, listing_scope, visible_organization, visible_team
from domain.admins import AdminPrincipal
from domain.budgets import BudgetPolicy
from domain.errors import InvalidValueError
from domain.ids import OrganizationId, TeamId
from domain.ledger import CreditBalance

MAX_RANGE_DAYS = 366


class TeamUsage(msgspec.Struct, frozen=True, kw_only=True):
    team_id: TeamId
    first_day: date
    last_day: date
    budget: BudgetPolicy
    report: UsageReport
    balance: CreditBalance
    in_progress: OpenJobs = msgspec.field(default_factory=OpenJobs)  # open jobs, counted apart


class UsageService:
    """Rules: a team key sees only its own team's usage, an admin its organization's (a
    scoped admin) or everyone's; ranges are inclusive and at most a year; a report ends
    today (UTC, by the clock) unless told otherwise."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    def report_window(
        self, first_day: date | None, last_day: date | None, *, default_first: Callable[[date], date]
    ) -> tuple[date, date]:
        """The inclusive days of a report: ``last_day`` defaults to today (UTC), ``first_day``
        to ``default_first(last day)`` (e.g. the first of its month)."""
        last = last_day or self._clock.now().astimezone(UTC).date()
        return first_day or default_first(last), last

    async def team_usage(self, caller: Caller, team_id: TeamId, *, first_day: date, last_day: date) -> TeamUsage:
        check_range(first_day, last_day)
        async with self._uow() as uow:
            team = await visible_team(uow, caller, team_id)
            report = await uow.usage.team_usage(team.id, first_day=first_day, last_day=last_day)
            balance = await uow.credits.balance(team.id)
            # Open jobs' calls are debited already: they count too, shown apart (those with
            # activity in the range, created before its end).
            live = await uow.usage.open_jobs(
                team.id,
                created_before=datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=UTC),
                active_since=datetime.combine(first_day, time.min, tzinfo=UTC),
            )
        return TeamUsage(
            team_id=team.id,
            first_day=first_day,
            last_day=last_day,
            budget=team.budget,
            report=report,
            balance=balance,
            in_progress=live,
        )

    async def job_outcomes(self, caller: Caller, team_id: TeamId) -> JobOutcomes:
        """How the team's finished jobs ended (its failed-job ratio), all time."""
        async with self._uow() as uow:
            team = await visible_team(uow, caller, team_id)
            return await uow.usage.job_outcomes(team.id)

    async def organization_usage(
        self, actor: AdminPrincipal, organization_id: OrganizationId, *, first_day: date, last_day: date
    ) -> UsageOverview:
        check_range(first_day, last_day)
        async with self._uow() as uow:
            await visible_organization(uow, actor, organization_id)
            return await uow.usage.overview(organization_id=organization_id, first_day=first_day, last_day=last_day)

    async def overview(
        self, actor: AdminPrincipal, *, organization_id: OrganizationId | None, first_day: date, last_day: date
    ) -> UsageOverview:
        """Every organization's usage, or one's (a scoped admin always gets its own)."""
        check_range(first_day, last_day)
        scope = listing_scope(actor, organization_id)
        async with self._uow() as uow:
            if scope is not None:
                await visible_organization(uow, actor, scope)
            return await uow.usage.overview(organization_id=scope, first_day=first_day, last_day=last_day)


def check_range(first_day: date, last_day: date) -> None:
    if last_day < first_day:
        raise InvalidValueError("'to' must not be before 'from'")
    if (last_day - first_day).days > MAX_RANGE_DAYS:
        raise InvalidValueError("a usage range covers at most 366 days")
