"""Admin API: organizations, teams (keys, credits, suspension) and provider credentials.

Every handler authenticates the admin token first (401); roles and organization scope
are checked by the use cases (viewer writes → 403, other organizations → 404).
"""

from collections.abc import Awaitable, Callable
from datetime import date
from functools import partial
from typing import Annotated, TypeVar
from uuid import UUID

from litestar import Response, delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from application.services.credentials import CredentialChanges
from application.services.organizations import TeamChanges
from domain.budgets import (
    DEFAULT_CREDITS_PER_USD,
    DEFAULT_MAX_CALLS_PER_JOB,
    DEFAULT_TOKENS_PER_CREDIT,
    BudgetMode,
    BudgetPolicy,
)
from domain.ids import ApiKeyId, CredentialId, OrganizationId, TeamId
from domain.organizations import TeamStatus
from domain.rate_limits import RateLimits
from entrypoints.bootstrap import Services
from entrypoints.http import cursors
from entrypoints.http.controllers.admin_api import AdminApiController
from entrypoints.http.dates import month_start, requested_days
from entrypoints.http.dependencies import AdminContext, AnyCaller, team_key_or_admin
from entrypoints.http.preconditions import tagged
from entrypoints.http.schemas.admin import Page
from entrypoints.http.schemas.changes import changes_of
from entrypoints.http.schemas.client import CreditsOut, credits_out
from entrypoints.http.schemas.reports import OrganizationUsageOut, organization_usage_out
from entrypoints.http.schemas.tenants import (
    CreateCredentialBody,
    CreatedTeamOut,
    CreateOrganizationBody,
    CreateTeamBody,
    CredentialOut,
    CreditsBody,
    CreditsChangeOut,
    KeyCreatedOut,
    KeyOut,
    OrganizationOut,
    TeamOut,
    UpdateCredentialBody,
    UpdateOrganizationBody,
    UpdateTeamBody,
    credential_out,
    credits_change_out,
    key_out,
    organization_out,
    team_out,
)

Row = TypeVar("Row", bound=cursors.Created)
Out = TypeVar("Out")


class AdminOrganizationsController(AdminApiController):
    tags = ["admin: organizations"]

    @post("/organizations/create", status_code=201, summary="Create an organization (unscoped admins)")
    async def create(
        self,
        data: JSONBody[CreateOrganizationBody],
        ctx: NamedDependency[AdminContext],
    ) -> OrganizationOut:
        org = await ctx.services.organizations.create_organization(name=data.name, slug=data.slug, actor=ctx.admin)
        return organization_out(org)

    @get("/organizations", summary="Organizations the admin sees, oldest first")
    async def list_(
        self,
        ctx: NamedDependency[AdminContext],
        cursor: FromQuery[str | None] = None,
        limit: cursors.Limit = 50,
    ) -> Page[OrganizationOut]:
        listing = partial(ctx.services.organizations.list_organizations, ctx.admin)
        return await _oldest_first(listing, cursor, OrganizationId, limit, shown=organization_out)

    @get("/organizations/{org_id:uuid}", summary="An organization (its version is the ETag)")
    async def get_(self, org_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> Response[OrganizationOut]:
        org = await ctx.services.organizations.get_organization(ctx.admin, OrganizationId(org_id))
        return tagged(organization_out(org), org.version)

    @put(
        "/organizations/{org_id:uuid}",
        summary="Rename an organization or change its slug (If-Match: 412 when it changed since)",
    )
    async def update(
        self,
        org_id: FromPath[UUID],
        data: JSONBody[UpdateOrganizationBody],
        ctx: NamedDependency[AdminContext],
    ) -> Response[OrganizationOut]:
        org = await ctx.services.organizations.update_organization(
            ctx.admin,
            OrganizationId(org_id),
            name=data.name,
            slug=data.slug,
            expected_version=ctx.expected_version(),
        )
        return tagged(organization_out(org), org.version)

    @delete(
        "/organizations/{org_id:uuid}",
        status_code=204,
        summary="Delete an organization without teams, with its credentials, webhooks and scoped admins",
    )
    async def delete_(self, org_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> None:
        await ctx.services.organizations.delete_organization(ctx.admin, OrganizationId(org_id))

    @get("/organizations/{org_id:uuid}/usage", summary="An organization's usage by team, model and day")
    async def usage(
        self,
        org_id: FromPath[UUID],
        ctx: NamedDependency[AdminContext],
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: FromQuery[date | None] = None,
    ) -> OrganizationUsageOut:
        first, last = requested_days(ctx.services.usage, from_, to, default_first=month_start)
        overview = await ctx.services.usage.organization_usage(
            ctx.admin, OrganizationId(org_id), first_day=first, last_day=last
        )
        return organization_usage_out(org_id, first, last, overview)


class AdminTeamsController(AdminApiController):
    tags = ["admin: teams"]

    @post("/teams/create", status_code=201, summary="Create a team with a first virtual key (shown once)")
    async def create(self, data: JSONBody[CreateTeamBody], ctx: NamedDependency[AdminContext]) -> CreatedTeamOut:
        budget = BudgetPolicy(
            mode=BudgetMode(data.budget_mode),
            credits_per_usd=data.credits_per_usd if data.credits_per_usd is not None else DEFAULT_CREDITS_PER_USD,
            tokens_per_credit=data.tokens_per_credit or DEFAULT_TOKENS_PER_CREDIT,
            max_calls_per_job=data.max_calls_per_job or DEFAULT_MAX_CALLS_PER_JOB,
            charge_failed_jobs=bool(data.charge_failed_jobs),
        )
        opened = await ctx.services.organizations.open_team(
            organization_id=OrganizationId(data.organization_id),
            name=data.name,
            budget=budget,
            credits=data.credits,
            access_groups=tuple(data.access_groups),
            rate_limits=RateLimits(requests_per_minute=data.rpm_limit, tokens_per_minute=data.tpm_limit),
            actor=ctx.admin,
            low_credit_threshold=data.low_credit_threshold,
        )
        return CreatedTeamOut(
            team=team_out(opened.team, opened.balance), api_key=opened.key.api_key, key_id=opened.key.key_id
        )

    @get("/teams", summary="Teams the admin sees (optionally of one organization), oldest first")
    async def list_(
        self,
        ctx: NamedDependency[AdminContext],
        organization_id: FromQuery[UUID | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: cursors.Limit = 50,
    ) -> Page[TeamOut]:
        scope = OrganizationId(organization_id) if organization_id else None
        listing = partial(ctx.services.organizations.list_teams, ctx.admin, organization_id=scope)
        return await _oldest_first(listing, cursor, TeamId, limit, shown=team_out)

    @get("/teams/{team_id:uuid}", summary="A team with its credit balance and how its jobs ended (failed ratio)")
    async def get_(self, team_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> Response[TeamOut]:
        details = await ctx.services.organizations.team_details(ctx.admin, TeamId(team_id))
        return tagged(team_out(details.team, details.balance, details.outcomes), details.team.version)

    @put(
        "/teams/{team_id:uuid}",
        summary="Change a team's name, budget mode, rates, rate limits or groups (only fields given; If-Match: 412)",
    )
    async def update(
        self,
        team_id: FromPath[UUID],
        data: JSONBody[UpdateTeamBody],
        ctx: NamedDependency[AdminContext],
    ) -> Response[TeamOut]:
        changes = changes_of(data, TeamChanges, budget_mode=BudgetMode, access_groups=tuple)
        team = await ctx.services.organizations.update_team(
            ctx.admin, TeamId(team_id), changes, expected_version=ctx.expected_version()
        )
        return tagged(team_out(team), team.version)

    @get(
        "/teams/{team_id:uuid}/credits",
        summary="The team's credit balance (team key, or admin token of its organization)",
        **team_key_or_admin(),
    )
    async def credits(
        self, team_id: FromPath[UUID], caller: NamedDependency[AnyCaller], services: NamedDependency[Services]
    ) -> CreditsOut:
        return credits_out(team_id, await services.credits.team_credits(caller, TeamId(team_id), with_forecast=True))

    @post(
        "/teams/{team_id:uuid}/credits",
        status_code=200,
        summary="Allocate (positive) or adjust (negative) credits; an idempotency key applies once",
    )
    async def add_credits(
        self,
        team_id: FromPath[UUID],
        data: JSONBody[CreditsBody],
        ctx: NamedDependency[AdminContext],
    ) -> CreditsChangeOut:
        done = await ctx.services.credits.adjust(
            ctx.admin, TeamId(team_id), data.amount, reason=data.reason, idempotency_key=data.idempotency_key
        )
        return credits_change_out(team_id, done.entry, done.balance)

    @put("/teams/{team_id:uuid}/suspend", summary="Suspend a team (its calls answer 403); writes only its status")
    async def suspend(self, team_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> Response[TeamOut]:
        return await _set_status(ctx, TeamId(team_id), TeamStatus.SUSPENDED)

    @put("/teams/{team_id:uuid}/resume", summary="Resume a suspended team; writes only its status")
    async def resume(self, team_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> Response[TeamOut]:
        return await _set_status(ctx, TeamId(team_id), TeamStatus.ACTIVE)

    @post("/teams/{team_id:uuid}/keys", status_code=201, summary="Issue another virtual key (shown once)")
    async def issue_key(self, team_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> KeyCreatedOut:
        key = await ctx.services.organizations.issue_key(TeamId(team_id), actor=ctx.admin)
        return KeyCreatedOut(key_id=key.key_id, api_key=key.api_key, prefix=key.prefix)

    @get("/teams/{team_id:uuid}/keys", summary="The team's keys: prefixes only")
    async def list_keys(self, team_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> Page[KeyOut]:
        return Page(items=[key_out(k) for k in await ctx.services.organizations.list_keys(ctx.admin, TeamId(team_id))])

    @delete("/teams/{team_id:uuid}/keys/{key_id:uuid}", status_code=204, summary="Revoke a virtual key")
    async def revoke_key(
        self,
        team_id: FromPath[UUID],
        key_id: FromPath[UUID],
        ctx: NamedDependency[AdminContext],
    ) -> None:
        await ctx.services.organizations.revoke_key(ctx.admin, TeamId(team_id), ApiKeyId(key_id))


class AdminCredentialsController(AdminApiController):
    path = "/api/provider-credentials"
    tags = ["admin: provider credentials"]

    @post("/create", status_code=201, summary="Store a provider key (encrypted; only its hint is ever shown)")
    async def create(self, data: JSONBody[CreateCredentialBody], ctx: NamedDependency[AdminContext]) -> CredentialOut:
        credential = await ctx.services.credentials.add_credential(
            organization_id=OrganizationId(data.organization_id),
            provider=data.provider,
            name=data.name,
            api_key=data.api_key,
            api_base=data.api_base,
            actor=ctx.admin,
        )
        return credential_out(credential)

    @get("/organization/{org_id:uuid}", summary="An organization's credentials (key hints, never keys)")
    async def list_(self, org_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> Page[CredentialOut]:
        found = await ctx.services.credentials.list_credentials(ctx.admin, OrganizationId(org_id))
        return Page(items=[credential_out(c) for c in found])

    @put(
        "/{credential_id:uuid}",
        summary="Rename, replace the key, change provider or api_base (needs the key) or the active flag (If-Match)",
    )
    async def update(
        self,
        credential_id: FromPath[UUID],
        data: JSONBody[UpdateCredentialBody],
        ctx: NamedDependency[AdminContext],
    ) -> Response[CredentialOut]:
        changes = changes_of(data, CredentialChanges)
        credential = await ctx.services.credentials.update_credential(
            ctx.admin, CredentialId(credential_id), changes, expected_version=ctx.expected_version()
        )
        return tagged(credential_out(credential), credential.version)

    @delete("/{credential_id:uuid}", status_code=204, summary="Delete a credential")
    async def delete_(self, credential_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> None:
        await ctx.services.credentials.delete_credential(ctx.admin, CredentialId(credential_id))

    @put("/{credential_id:uuid}/activate", summary="Use this credential again")
    async def activate(
        self,
        credential_id: FromPath[UUID],
        ctx: NamedDependency[AdminContext],
    ) -> Response[CredentialOut]:
        return await _set_active(ctx, CredentialId(credential_id), True)

    @put("/{credential_id:uuid}/deactivate", summary="Stop using this credential (calls fall to another one)")
    async def deactivate(
        self,
        credential_id: FromPath[UUID],
        ctx: NamedDependency[AdminContext],
    ) -> Response[CredentialOut]:
        return await _set_active(ctx, CredentialId(credential_id), False)


async def _oldest_first(
    listing: Callable[..., Awaitable[list[Row]]],
    cursor: str | None,
    as_id: Callable[[UUID], object],
    limit: int,
    *,
    shown: Callable[[Row], Out],
) -> Page[Out]:
    """A page of a listing ordered by creation (organizations, teams), oldest first: ``listing``
    takes ``after`` (where ``cursor`` points, its id typed by ``as_id``) and ``limit``."""
    after = cursors.keyset(cursor, as_id)
    return await cursors.page(Page, lambda n: listing(after=after, limit=n), limit, shown=shown, cursor=cursors.created)


async def _set_status(
    ctx: AdminContext,
    team_id: TeamId,
    status: TeamStatus,
) -> Response[TeamOut]:
    team = await ctx.services.organizations.set_status(
        team_id, status, actor=ctx.admin, expected_version=ctx.expected_version()
    )
    return tagged(team_out(team), team.version)


async def _set_active(
    ctx: AdminContext,
    credential_id: CredentialId,
    active: bool,
) -> Response[CredentialOut]:
    credential = await ctx.services.credentials.set_active(
        ctx.admin, credential_id, active, expected_version=ctx.expected_version()
    )
    return tagged(credential_out(credential), credential.version)
