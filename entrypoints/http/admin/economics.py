"""Job economics (``/admin/economics``): per job type, the cost distribution, the suggested
flat price for a target margin and what the period would have made at that price."""

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from application.services.economics import JobTypesReport
from domain.admins import AdminPrincipal
from domain.errors import InvalidValueError
from domain.ids import OrganizationId
from entrypoints.bootstrap import Services
from entrypoints.http.admin.dashboard import period
from entrypoints.http.admin.format import exact
from entrypoints.http.admin.pages import page

DEFAULT_MARGIN = Decimal("0.30")
DEFAULT_PERCENTILE = Decimal(95)

Req = Request[Any, Any, State]


def _decimal(text: str | None, default: Decimal, name: str) -> Decimal:
    if text is None or not text.strip():
        return default
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise InvalidValueError(f"{name} must be a decimal number") from None
    if not value.is_finite():
        raise InvalidValueError(f"{name} must be a decimal number")
    return value


def chart_of(report: JobTypesReport) -> dict[str, list[str]]:
    """Per job type: provider cost at p50/p95/p99/max and the suggested price, exact decimal strings."""
    items = report.items
    return {
        "labels": [i.stats.job_type for i in items],
        "p50": [exact(i.stats.provider_cost_usd.p50) for i in items],
        "p95": [exact(i.stats.provider_cost_usd.p95) for i in items],
        "p99": [exact(i.stats.provider_cost_usd.p99) for i in items],
        "max": [exact(i.stats.provider_cost_usd.max) for i in items],
        "price": [exact(i.suggestion.price_usd) if i.suggestion else "0" for i in items],
    }


class EconomicsController(Controller):
    path = "/economics"

    @get("/", name="panel:economics")
    async def economics(
        self,
        request: Req,
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: FromQuery[date | None] = None,
        days: Annotated[int | None, QueryParameter(ge=1, le=366)] = None,
        organization_id: FromQuery[UUID | None] = None,
        target_margin: FromQuery[str | None] = None,
        percentile: FromQuery[str | None] = None,
    ) -> Response[Any]:
        first, last = period(from_, to, days)
        scope = OrganizationId(organization_id) if organization_id else None
        margin = _decimal(target_margin, DEFAULT_MARGIN, "target margin")
        share = _decimal(percentile, DEFAULT_PERCENTILE, "percentile")
        report = await services.economics.job_types(
            admin,
            organization_id=scope,
            team_id=None,
            first_day=first,
            last_day=last,
            percentile=share,
            target_margin=margin,
        )
        organizations = await services.organizations.list_organizations(admin, limit=200)
        return page(
            "economics.html",
            admin,
            request,
            first=first,
            last=last,
            days=(days or 30) if from_ is None else None,
            organization_id=scope,
            organizations=organizations,
            report=report,
            chart=chart_of(report),
            target_margin=margin,
            percentile=share,
        )
