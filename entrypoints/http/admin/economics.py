"""Job economics (``/admin/economics``): per job type, the cost distribution, the suggested
flat price for a target margin and what the period would have made at that price."""

from decimal import Decimal, InvalidOperation
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery

from application.services.economics import JobTypesReport
from domain.errors import InvalidValueError
from entrypoints.http.admin.dashboard import PERIOD, Period
from entrypoints.http.admin.format import exact
from entrypoints.http.admin.pages import Panel

DEFAULT_MARGIN = Decimal("0.30")
DEFAULT_PERCENTILE = Decimal(95)


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
    dependencies = PERIOD

    @get("/", name="panel:economics")
    async def economics(
        self,
        panel: NamedDependency[Panel],
        period: NamedDependency[Period],
        target_margin: FromQuery[str | None] = None,
        percentile: FromQuery[str | None] = None,
    ) -> Response[Any]:
        margin = _decimal(target_margin, DEFAULT_MARGIN, "target margin")
        share = _decimal(percentile, DEFAULT_PERCENTILE, "percentile")
        report = await panel.services.economics.job_types(
            panel.admin,
            organization_id=period.organization_id,
            team_id=None,
            first_day=period.first,
            last_day=period.last,
            percentile=share,
            target_margin=margin,
        )
        return panel.page(
            "economics.html",
            period=period,
            organizations=await panel.organizations(),
            report=report,
            chart=chart_of(report),
            target_margin=margin,
            percentile=share,
        )
