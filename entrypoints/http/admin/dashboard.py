"""The dashboard (``/admin``): usage over a period, cost against price, who spends, who runs low."""

from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from application.ports.repositories import DayUsage, TeamTotals
from domain.admins import AdminPrincipal
from domain.alerts import credits_low
from domain.ids import OrganizationId
from domain.ledger import CreditBalance
from domain.organizations import Team
from entrypoints.bootstrap import Services
from entrypoints.http.admin.format import exact
from entrypoints.http.admin.pages import page
from entrypoints.http.schemas.reports import overview_out

DEFAULT_DAYS = 30
TOP_TEAMS = 10
# Balances are read one team at a time (no bulk read of balances exists yet): the dashboard
# looks at this many teams, oldest first, and says so on the page.
LOW_CREDITS_SCAN = 100

Req = Request[Any, Any, State]


class TeamSpend(msgspec.Struct, frozen=True, kw_only=True):
    team: Team | None  # None: a team the listing did not return (beyond its first page)
    usage: TeamTotals


class LowTeam(msgspec.Struct, frozen=True, kw_only=True):
    team: Team
    balance: CreditBalance


def period(from_: date | None, to: date | None, days: int | None) -> tuple[date, date]:
    last = to or datetime.now(UTC).date()
    if from_ is not None:
        return from_, last
    return last - timedelta(days=(days or DEFAULT_DAYS) - 1), last


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

    @get("/", name="panel:dashboard")
    async def dashboard(
        self,
        request: Req,
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: FromQuery[date | None] = None,
        days: Annotated[int | None, QueryParameter(ge=1, le=366)] = None,
        organization_id: FromQuery[UUID | None] = None,
    ) -> Response[Any]:
        first, last = period(from_, to, days)
        scope = OrganizationId(organization_id) if organization_id else None
        overview = await services.usage.overview(admin, organization_id=scope, first_day=first, last_day=last)
        summary = overview_out(scope or admin.organization_id, first, last, overview)
        organizations = await services.organizations.list_organizations(admin, limit=200)
        teams = await services.organizations.list_teams(admin, organization_id=scope, limit=500)
        names = {t.id: t for t in teams}
        spenders = sorted(overview.by_team, key=lambda t: t.totals.customer_cost_usd, reverse=True)[:TOP_TEAMS]
        low: list[LowTeam] = []
        for team in teams[:LOW_CREDITS_SCAN]:
            balance = (await services.credits.team_credits(admin, team.id)).balance
            if credits_low(balance, team.low_credit_threshold):
                low.append(LowTeam(team=team, balance=balance))
        low.sort(key=lambda t: t.balance.available)
        return page(
            "dashboard.html",
            admin,
            request,
            first=first,
            last=last,
            days=(days or DEFAULT_DAYS) if from_ is None else None,  # the preset in force, if any
            organization_id=scope,
            organizations=organizations,
            overview=overview,
            summary=summary,
            chart=chart_series(first, last, overview.by_day),
            spenders=[TeamSpend(team=names.get(t.team_id), usage=t) for t in spenders],
            low=low[:TOP_TEAMS],
            scanned=min(len(teams), LOW_CREDITS_SCAN),
            team_count=len(teams),
        )
