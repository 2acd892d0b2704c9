"""Job economics over HTTP: job-type spreads and flat-price suggestions, the billing export
(admin token), and quotes (team key)."""

from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, TypedDict
from uuid import UUID

from litestar import Controller, get, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from application.ports.repositories import JobExportRow
from application.principal import TeamPrincipal
from domain.ids import OrganizationId, TeamId
from entrypoints.bootstrap import Services
from entrypoints.http.controllers.admin_api import AdminApiController
from entrypoints.http.dates import requested_days, thirty_days_ending
from entrypoints.http.dependencies import (
    AdminContext,
    AnyCaller,
    provide_principal,
    provide_services,
    team_key_or_admin,
)
from entrypoints.http.schemas.client import CallBody
from entrypoints.http.schemas.economics import (
    PERCENTILE,
    TARGET_MARGIN,
    CallQuoteOut,
    JobTypeQuoteOut,
    JobTypesOut,
    call_quote_out,
    csv_header,
    csv_row,
    job_type_quote_out,
    job_types_out,
    query_decimal,
)

JobType = Annotated[str, QueryParameter(min_length=1, max_length=200)]


class _Scope(TypedDict):
    """The rows both admin reports read: an organization, a team (either optional) and a window of days."""

    organization_id: OrganizationId | None
    team_id: TeamId | None
    first_day: date
    last_day: date


async def provide_reported(
    services: NamedDependency[Services],
    organization_id: FromQuery[UUID | None] = None,
    team_id: FromQuery[UUID | None] = None,
    from_: Annotated[date | None, QueryParameter(name="from")] = None,
    to: FromQuery[date | None] = None,
) -> _Scope:
    """What both admin reports read, from their common query parameters."""
    first, last = requested_days(services.usage, from_, to, default_first=thirty_days_ending)
    return {
        "organization_id": OrganizationId(organization_id) if organization_id else None,
        "team_id": TeamId(team_id) if team_id else None,
        "first_day": first,
        "last_day": last,
    }


class EconomicsReportsController(AdminApiController):
    tags = ["admin: jobs and analytics"]
    dependencies = {**AdminApiController.dependencies, "reported": Provide(provide_reported)}

    @get(
        "/analytics/job-types",
        summary="Cost distribution per job type (nearest-rank percentiles); with target_margin, "
        "the suggested flat price per job and its what-if",
    )
    async def job_types(
        self,
        ctx: NamedDependency[AdminContext],
        reported: NamedDependency[_Scope],
        target_margin: Annotated[
            str | None, QueryParameter(description="gross margin to reach, 0 <= m < 1 (0.30 is 30 %)")
        ] = None,
        percentile: Annotated[
            str | None, QueryParameter(description="share of jobs that must reach it, 0 < p <= 100 (default 95)")
        ] = None,
    ) -> JobTypesOut:
        report = await ctx.services.economics.job_types(
            ctx.admin,
            **reported,
            percentile=query_decimal(percentile, PERCENTILE, "percentile"),
            target_margin=query_decimal(target_margin, TARGET_MARGIN, "target_margin"),
        )
        return job_types_out(report)

    @get(
        "/jobs/export.csv",
        summary="Finished jobs of a window as CSV, one row per job, streamed (billing reconciliation)",
        media_type="text/csv",
    )
    async def export(self, ctx: NamedDependency[AdminContext], reported: NamedDependency[_Scope]) -> Stream:
        first, last = reported["first_day"], reported["last_day"]
        rows = await ctx.services.economics.export_jobs(ctx.admin, **reported)
        return Stream(
            _csv(rows),
            media_type="text/csv; charset=utf-8",
            headers={
                "Content-Disposition": f'attachment; filename="jobs-{first}-{last}.csv"',
                "Cache-Control": "no-store",
            },
        )


async def _csv(rows: AsyncIterator[JobExportRow]) -> AsyncIterator[bytes]:
    yield csv_header()
    async for row in rows:
        yield csv_row(row)


class QuotesController(Controller):
    path = "/api"
    tags = ["client"]
    dependencies = {"services": Provide(provide_services)}

    @post(
        "/quotes",
        status_code=200,
        summary="Quote a call before making it: its worst case (the hold it would place) and its expected cost",
        security=[{"TeamKey": []}],
        dependencies={"principal": Provide(provide_principal)},
    )
    async def quote_call(
        self, data: JSONBody[CallBody], principal: NamedDependency[TeamPrincipal], services: NamedDependency[Services]
    ) -> CallQuoteOut:
        return call_quote_out(await services.economics.quote_call(principal, data.to_request()))

    @get(
        "/teams/{team_id:uuid}/quote",
        summary="Expected credits per job of a type from the team's history (p50, p95); 404 no_history without any",
        **team_key_or_admin(),
    )
    async def quote_job_type(
        self,
        team_id: FromPath[UUID],
        job_type: JobType,
        caller: NamedDependency[AnyCaller],
        services: NamedDependency[Services],
    ) -> JobTypeQuoteOut:
        return job_type_quote_out(await services.economics.job_type_quote(caller, TeamId(team_id), job_type))
