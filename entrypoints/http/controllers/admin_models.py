"""Admin API: model aliases, access groups, the price list, jobs across teams, the dashboard.

Aliases and access groups are platform-wide: every admin reads them, only unscoped
admins change them (403 otherwise). Alias and group names may contain slashes
(``openai/gpt-4o``), so they are matched as paths.
"""

from datetime import date
from functools import partial
from pathlib import PurePosixPath
from typing import Annotated
from uuid import UUID

from litestar import Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from application.errors import NotFoundError
from application.services.models import AliasChanges
from domain.ids import OrganizationId, TeamId
from domain.jobs import JobStatus
from domain.pricing import PriceSheet
from domain.routing import RoutingStrategy
from entrypoints.http import cursors
from entrypoints.http.controllers.admin_api import AdminApiController
from entrypoints.http.controllers.job_pages import job_page
from entrypoints.http.dates import requested_days, thirty_days_ending
from entrypoints.http.dependencies import AdminContext
from entrypoints.http.preconditions import tagged
from entrypoints.http.schemas.admin import Page
from entrypoints.http.schemas.changes import changes_of
from entrypoints.http.schemas.client import JobPage
from entrypoints.http.schemas.models import (
    AliasOut,
    CreateAliasBody,
    CreateGroupBody,
    GroupOut,
    PricingOut,
    UpdateAliasBody,
    UpdateGroupBody,
    alias_out,
    cost_overrides,
    group_out,
    pricing_out,
    target_spec,
)
from entrypoints.http.schemas.reports import OverviewOut, overview_out


def _name(path: PurePosixPath) -> str:
    return str(path).lstrip("/")


class AdminModelsController(AdminApiController):
    tags = ["admin: models"]

    @post("/models/create", status_code=201, summary="Create a model alias (unscoped admins)")
    async def create_alias(self, data: JSONBody[CreateAliasBody], ctx: NamedDependency[AdminContext]) -> AliasOut:
        alias = await ctx.services.models.create_alias(
            alias=data.alias,
            provider=data.provider,
            provider_model=data.provider_model,
            customer_prices=PriceSheet(
                input_per_million=data.input_price_per_million,
                output_per_million=data.output_price_per_million,
                cached_input_per_million=data.cached_input_price_per_million,
                cache_write_per_million=data.cache_write_price_per_million,
            ),
            cost_overrides=cost_overrides(data),
            default_max_tokens=data.default_max_tokens,
            access_groups=tuple(data.access_groups),
            fallbacks=tuple(data.fallbacks),
            actor=ctx.admin,
            targets=tuple(target_spec(t) for t in data.targets),
            routing=RoutingStrategy(data.routing),
            cache_ttl_s=data.cache_ttl_s,
            cached_response_price_factor=data.cached_response_price_factor,
        )
        return alias_out(alias)

    @get("/models", summary="Model aliases")
    async def list_aliases(self, ctx: NamedDependency[AdminContext]) -> Page[AliasOut]:
        return Page(items=[alias_out(a) for a in await ctx.services.models.list_aliases(actor=ctx.admin)])

    @get("/models/{alias:path}", summary="A model alias (its version is the ETag)")
    async def get_alias(self, alias: FromPath[PurePosixPath], ctx: NamedDependency[AdminContext]) -> Response[AliasOut]:
        found = await ctx.services.models.get_alias(_name(alias), actor=ctx.admin)
        if found is None:
            raise NotFoundError("model alias not found")
        return tagged(alias_out(found), found.version)

    @put(
        "/models/{alias:path}",
        summary="Change a model alias (fields not given keep their value; If-Match: 412 when it changed since)",
    )
    async def update_alias(
        self,
        alias: FromPath[PurePosixPath],
        data: JSONBody[UpdateAliasBody],
        ctx: NamedDependency[AdminContext],
    ) -> Response[AliasOut]:
        changes = changes_of(
            data,
            AliasChanges,
            routing=RoutingStrategy,
            access_groups=tuple,
            fallbacks=tuple,
            targets=lambda targets: tuple(target_spec(t) for t in targets),
        )
        updated = await ctx.services.models.update_alias(
            ctx.admin, _name(alias), changes, expected_version=ctx.expected_version()
        )
        return tagged(alias_out(updated), updated.version)

    @delete("/models/{alias:path}", status_code=204, summary="Delete a model alias")
    async def delete_alias(self, alias: FromPath[PurePosixPath], ctx: NamedDependency[AdminContext]) -> None:
        await ctx.services.models.delete_alias(ctx.admin, _name(alias))

    @post("/model-access-groups/create", status_code=201, summary="Create an access group of aliases")
    async def create_group(self, data: JSONBody[CreateGroupBody], ctx: NamedDependency[AdminContext]) -> GroupOut:
        group = await ctx.services.models.create_access_group(
            name=data.name, models=tuple(data.models), actor=ctx.admin
        )
        return group_out(group)

    @get("/model-access-groups", summary="Access groups with their aliases")
    async def list_groups(self, ctx: NamedDependency[AdminContext]) -> Page[GroupOut]:
        return Page(items=[group_out(g) for g in await ctx.services.models.list_access_groups(ctx.admin)])

    @put("/model-access-groups/{name:path}", summary="Replace an access group's aliases (If-Match: 412)")
    async def update_group(
        self,
        name: FromPath[PurePosixPath],
        data: JSONBody[UpdateGroupBody],
        ctx: NamedDependency[AdminContext],
    ) -> Response[GroupOut]:
        group = await ctx.services.models.update_access_group(
            ctx.admin, _name(name), tuple(data.models), expected_version=ctx.expected_version()
        )
        return tagged(group_out(group), group.version)

    @delete("/model-access-groups/{name:path}", status_code=204, summary="Delete an access group")
    async def delete_group(self, name: FromPath[PurePosixPath], ctx: NamedDependency[AdminContext]) -> None:
        await ctx.services.models.delete_access_group(ctx.admin, _name(name))

    @get("/pricing", summary="Every alias's prices, provider costs and margin per 1M tokens, with the catalog")
    async def pricing(self, ctx: NamedDependency[AdminContext]) -> PricingOut:
        return pricing_out(await ctx.services.models.pricing(ctx.admin))


class AdminReportsController(AdminApiController):
    tags = ["admin: jobs and analytics"]

    @get("/jobs", summary="Jobs across the teams the admin sees, newest first")
    async def jobs(
        self,
        ctx: NamedDependency[AdminContext],
        team_id: FromQuery[UUID | None] = None,
        status: FromQuery[JobStatus | None] = None,
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: FromQuery[date | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: cursors.Limit = 50,
    ) -> JobPage:
        return await job_page(
            partial(ctx.services.jobs.search_jobs, ctx.admin, team_id=TeamId(team_id) if team_id else None),
            status=status,
            from_=from_,
            to=to,
            cursor=cursor,
            limit=limit,
        )

    @get("/analytics/overview", summary="Totals, per-provider costs, margins and error rates over a date range")
    async def overview(
        self,
        ctx: NamedDependency[AdminContext],
        organization_id: FromQuery[UUID | None] = None,
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: FromQuery[date | None] = None,
    ) -> OverviewOut:
        first, last = requested_days(ctx.services.usage, from_, to, default_first=thirty_days_ending)
        scope = OrganizationId(organization_id) if organization_id else None
        result = await ctx.services.usage.overview(ctx.admin, organization_id=scope, first_day=first, last_day=last)
        return overview_out(scope or ctx.admin.organization_id, first, last, result)
