"""The dashboard (``/admin``): usage over a period, cost against price, who spends, who runs low."""

from datetime import date, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get
from litestar.di import NamedDependency, Provide
from litestar.params import FromQuery, QueryParameter

from application.ports.repositories import DayUsage, TeamTotals
from domain.alerts import credits_low
from domain.ids import OrganizationId
from domain.ledger import CreditBalance
from domain.organizations import Team
from entrypoints.http.admin.format import exact
from entrypoints.http.admin.pages import Panel
from entrypoints.http.schemas.reports import overview_out

DEFAULT_DAYS = 30
TOP_TEAMS = 10
# Balances are read one team at a time (no bulk read of balances exists yet): the dashboard
# looks at this many teams, oldest first, and says so on the page.
LOW_CREDITS_SCAN = 100


class TeamSpend(msgspec.Struct, frozen=True, kw_only=True):
    team: Team | None  # None: a team the listing did not return (beyond its first page)
    usage: TeamTotals


class LowTeam(msgspec.Struct, frozen=True, kw_only=True):
    team: Team
    balance: CreditBalance


class Period(msgspec.Struct, frozen=True, kw_only=True):
    """The days and the organization a report page shows, from its filter form."""

    first: date
    last: date
    days: int | None  # the preset in force (None: a chosen start day)
    organization_id: OrganizationId | None  # None: every organization the operator sees


async def provide_period(
    panel: NamedDependency[Panel],
    from_: Annotated[date | None, QueryParameter(name="from")] = None,
    to: FromQuery[date | None] = None,
    days: Annotated[int | None, QueryParameter(ge=1, le=366)] = None,
    organization_id: FromQuery[UUID | None] = None,
) -> Period:
    """Up to ``to`` (default: today by the runtime's clock), from ``from`` or ``days`` days back."""
    last = to or panel.today()
    preset = (days or DEFAULT_DAYS) if from_ is None else None
    first = from_ if from_ is not None else last - timedelta(days=(days or DEFAULT_DAYS) - 1)
    scope = OrganizationId(organization_id) if organization_id else None
    return Period(first=first, last=last, days=preset, organization_id=scope)


PERIOD = {"period": Provide(provide_period)}


def chart_series(first: date, last: date, by_day: list[DayUsage]) -> dict[str, list[str]]:
    """One point per day of the period (days without usage at 0), amounts as exact decimal strings."""
    found = {d.day: d for d in by_day}
    labels, cost, price, margin = [], [], [], []
    day = first
    while day <= last:
        row = found.get(day)
        labels.append(day.isoformat())
        cost.append(exact(row.provider_cost_usd) if row else "0")
        price.append(exact(row.customer_cost_usd) if row else "0")
        margin.append(exact(row.customer_cost_usd - row.provider_cost_usd) if row else "0")
        day += timedelta(days=1)
    return {"labels": labels, "provider_cost_usd": cost, "customer_price_usd": price, "margin_usd": margin}


class DashboardController(Controller):
    path = ""
    dependencies = PERIOD

    @get("/", name="panel:dashboard")
    async def dashboard(self, panel: NamedDependency[Panel], period: NamedDependency[Period]) -> Response[Any]:
        services, admin = panel.services, panel.admin
        first, last, scope = period.first, period.last, period.organization_id
        overview = await services.usage.overview(admin, organization_id=scope, first_day=first, last_day=last)
        summary = overview_out(scope or admin.organization_id, first, last, overview)
        organizations = await panel.organizations()
        teams = await services.organizations.list_teams(admin, organization_id=scope, limit=500)
        names = {t.id: t for t in teams}
        spenders = sorted(overview.by_team, key=lambda t: t.totals.customer_cost_usd, reverse=True)[:TOP_TEAMS]
        low: list[LowTeam] = []
        for team in teams[:LOW_CREDITS_SCAN]:
            balance = (await services.credits.team_credits(admin, team.id)).balance
            if credits_low(balance, team.low_credit_threshold):
                low.append(LowTeam(team=team, balance=balance))
        low.sort(key=lambda t: t.balance.available)
        return panel.page(
            "dashboard.html",
            period=period,
            organizations=organizations,
            overview=overview,
            summary=summary,
            chart=chart_series(first, last, overview.by_day),
            spenders=[TeamSpend(team=names.get(t.team_id), usage=t) for t in spenders],
            low=low[:TOP_TEAMS],
            scanned=min(len(teams), LOW_CREDITS_SCAN),
            team_count=len(teams),
        )
