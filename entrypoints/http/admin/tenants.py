"""Organizations and teams: lists, creation, a team's credits, suspension, keys and ledger.

Each handler reads the form, calls one use case and renders; roles and organization
scope are the use cases' (a viewer's forged POST gets their 403, another organization's
team their 404). Fragments answer htmx requests; the same forms work without scripts.
"""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import FormMultiDict, State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from application.services.organizations import TeamChanges
from domain.admins import AdminPrincipal
from domain.alerts import low_credit_threshold
from domain.budgets import (
    DEFAULT_CREDITS_PER_USD,
    DEFAULT_MAX_CALLS_PER_JOB,
    DEFAULT_TOKENS_PER_CREDIT,
    MAX_CALLS_PER_JOB_LIMIT,
    BudgetMode,
    BudgetPolicy,
)
from domain.errors import DomainError
from domain.ids import ApiKeyId, OrganizationId, TeamId
from domain.organizations import Organization, Team, TeamStatus, check_low_credit_threshold
from entrypoints.bootstrap import Services
from entrypoints.http import cursors
from entrypoints.http.admin.format import exact
from entrypoints.http.admin.forms import Form
from entrypoints.http.admin.pages import is_htmx, page, see_other
from entrypoints.http.admin.session import PANEL

PAGE_SIZE = 25
LEDGER_PAGE = 20
BUDGET_MODES = tuple(m.value for m in BudgetMode)
Req = Request[Any, Any, State]


def prefilled(values: dict[str, str | list[str]]) -> Form:
    pairs: list[tuple[str, str]] = []
    for key, value in values.items():
        pairs.extend((key, v) for v in (value if isinstance(value, list) else [value]))
    return Form(FormMultiDict(pairs))


def after_cursor(cursor: str | None) -> tuple[datetime, UUID] | None:
    return cursors.decode_uuid(cursor) if cursor else None


def organization_form(organization: Organization) -> Form:
    return prefilled({"name": organization.name, "slug": organization.slug, "version": str(organization.version)})


def team_form(team: Team) -> Form:
    budget = team.budget
    return prefilled(
        {
            "name": team.name,
            "budget_mode": budget.mode.value,
            "credits_per_usd": exact(budget.credits_per_usd),
            "tokens_per_credit": str(budget.tokens_per_credit),
            "max_calls_per_job": str(budget.max_calls_per_job),
            "low_credit_threshold": exact(team.low_credit_threshold) if team.low_credit_threshold is not None else "",
            "charge_failed_jobs": "on" if budget.charge_failed_jobs else "",
            "access_groups": list(team.access_groups),
            "version": str(team.version),
        }
    )


class OrganizationsController(Controller):
    path = "/organizations"

    @get("/", name="panel:organizations")
    async def list_(
        self,
        request: Req,
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        return await self._list(request, admin, services, cursor, Form())

    async def _list(
        self, request: Req, admin: AdminPrincipal, services: Services, cursor: str | None, form: Form, status: int = 200
    ) -> Response[Any]:
        after = after_cursor(cursor)
        found = await services.organizations.list_organizations(
            admin, after=(after[0], OrganizationId(after[1])) if after else None, limit=PAGE_SIZE + 1
        )
        shown = found[:PAGE_SIZE]
        more = len(found) > PAGE_SIZE and shown
        return page(
            "organizations.html",
            admin,
            request,
            status=status,
            organizations=shown,
            next_cursor=cursors.encode(shown[-1].created_at, shown[-1].id) if more else None,
            first_page=cursor is None,
            form=form,
        )

    @post("/", status_code=200)
    async def create(
        self, request: Req, admin: NamedDependency[AdminPrincipal], services: NamedDependency[Services]
    ) -> Response[Any]:
        form = Form(await request.form())
        name = form.text("name")
        slug = form.text("slug", required=False, max_length=60)
        if form.ok and name is not None:
            try:
                organization = await services.organizations.create_organization(name=name, slug=slug, actor=admin)
            except DomainError as exc:
                form.refused(exc, {"slug is": "slug", "organization": "slug"})
            else:
                return see_other(f"{PANEL}/organizations/{organization.id}", "created")
        return await self._list(request, admin, services, None, form, status=422)

    @get("/{organization_id:uuid}", name="panel:organization")
    async def detail(
        self,
        request: Req,
        organization_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        days: Annotated[int, QueryParameter(ge=1, le=366)] = 30,
    ) -> Response[Any]:
        organization = await services.organizations.get_organization(admin, OrganizationId(organization_id))
        return await self._detail(request, admin, services, organization, organization_form(organization), days)

    async def _detail(
        self,
        request: Req,
        admin: AdminPrincipal,
        services: Services,
        organization: Organization,
        form: Form,
        days: int = 30,
        status: int = 200,
    ) -> Response[Any]:
        last = datetime.now(UTC).date()
        first = last - timedelta(days=days - 1)
        usage = await services.usage.organization_usage(admin, organization.id, first_day=first, last_day=last)
        teams = await services.organizations.list_teams(admin, organization_id=organization.id, limit=200)
        return page(
            "organization.html",
            admin,
            request,
            status=status,
            organization=organization,
            usage=usage,
            teams=teams,
            team_names={t.id: t.name for t in teams},
            first=first,
            last=last,
            days=days,
            form=form,
        )

    @post("/{organization_id:uuid}", status_code=200)
    async def update(
        self,
        request: Req,
        organization_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        form = Form(await request.form())
        name = form.text("name")
        slug = form.text("slug", max_length=60)
        version = form.integer("version", minimum=1)
        if form.ok:
            try:
                await services.organizations.update_organization(
                    admin, OrganizationId(organization_id), name=name, slug=slug, expected_version=version
                )
            except DomainError as exc:
                form.refused(exc, {"slug is": "slug"})
            else:
                return see_other(f"{PANEL}/organizations/{organization_id}", "saved")
        organization = await services.organizations.get_organization(admin, OrganizationId(organization_id))
        return await self._detail(request, admin, services, organization, form, status=422)

    @post("/{organization_id:uuid}/delete", status_code=200)
    async def delete_(
        self,
        organization_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        await services.organizations.delete_organization(admin, OrganizationId(organization_id))
        return see_other(f"{PANEL}/organizations", "deleted")


class TeamsController(Controller):
    path = "/teams"

    @get("/", name="panel:teams")
    async def list_(
        self,
        request: Req,
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        organization_id: FromQuery[UUID | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        after = after_cursor(cursor)
        scope = OrganizationId(organization_id) if organization_id else None
        found = await services.organizations.list_teams(
            admin,
            organization_id=scope,
            after=(after[0], TeamId(after[1])) if after else None,
            limit=PAGE_SIZE + 1,
        )
        shown = found[:PAGE_SIZE]
        more = len(found) > PAGE_SIZE and shown
        organizations = await services.organizations.list_organizations(admin, limit=200)
        return page(
            "teams.html",
            admin,
            request,
            teams=shown,
            organizations=organizations,
            organization_names={o.id: o.name for o in organizations},
            organization_id=scope,
            next_cursor=cursors.encode(shown[-1].created_at, shown[-1].id) if more else None,
            first_page=cursor is None,
        )

    @get("/new", name="panel:new-team")
    async def new(
        self,
        request: Req,
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        organization_id: FromQuery[UUID | None] = None,
    ) -> Response[Any]:
        form = prefilled(
            {
                "organization_id": str(organization_id or admin.organization_id or ""),
                "budget_mode": BudgetMode.CONSUMPTION_USD.value,
                "credits_per_usd": exact(DEFAULT_CREDITS_PER_USD),
                "tokens_per_credit": str(DEFAULT_TOKENS_PER_CREDIT),
                "max_calls_per_job": str(DEFAULT_MAX_CALLS_PER_JOB),
            }
        )
        return await self._new(request, admin, services, form)

    async def _new(
        self, request: Req, admin: AdminPrincipal, services: Services, form: Form, status: int = 200
    ) -> Response[Any]:
        return page(
            "team_new.html",
            admin,
            request,
            status=status,
            form=form,
            organizations=await services.organizations.list_organizations(admin, limit=200),
            groups=await services.models.list_access_groups(admin),
            budget_modes=BUDGET_MODES,
        )

    @post("/", status_code=200)
    async def create(
        self, request: Req, admin: NamedDependency[AdminPrincipal], services: NamedDependency[Services]
    ) -> Response[Any]:
        form = Form(await request.form())
        organization_id = form.uuid("organization_id")
        name = form.text("name")
        mode = form.choice("budget_mode", BUDGET_MODES)
        credits = form.decimal("credits")
        credits_per_usd = form.decimal("credits_per_usd")
        tokens_per_credit = form.integer("tokens_per_credit", minimum=1, maximum=1_000_000_000)
        max_calls = form.integer("max_calls_per_job", minimum=1, maximum=MAX_CALLS_PER_JOB_LIMIT)
        if form.ok and organization_id is not None and name is not None and mode is not None:
            try:
                team, key = await services.organizations.create_team(
                    organization_id=OrganizationId(organization_id),
                    name=name,
                    budget=BudgetPolicy(
                        mode=BudgetMode(mode),
                        credits_per_usd=credits_per_usd or DEFAULT_CREDITS_PER_USD,
                        tokens_per_credit=tokens_per_credit or DEFAULT_TOKENS_PER_CREDIT,
                        max_calls_per_job=max_calls or DEFAULT_MAX_CALLS_PER_JOB,
                        charge_failed_jobs=form.flag("charge_failed_jobs"),
                    ),
                    credits=credits,
                    access_groups=tuple(form.values("access_groups")),
                    actor=admin,
                )
            except DomainError as exc:
                form.refused(exc, {"access group": "access_groups", "organization": "organization_id"})
            else:
                # The key exists only in this response: shown once, never stored, never cached.
                return page("team_created.html", admin, request, status=201, team=team, key=key)
        return await self._new(request, admin, services, form, status=422)

    # ---- one team -----------------------------------------------------------------------

    @get("/{team_id:uuid}", name="panel:team")
    async def detail(
        self,
        request: Req,
        team_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        return await self._detail(request, admin, services, TeamId(team_id))

    async def _detail(
        self,
        request: Req,
        admin: AdminPrincipal,
        services: Services,
        team_id: TeamId,
        *,
        settings_form: Form | None = None,
        credits_form: Form | None = None,
        new_key: Any = None,
        status: int = 200,
    ) -> Response[Any]:
        team = await services.organizations.get_team(admin, team_id)
        context = await self._team_context(admin, services, team)
        return page(
            "team.html",
            admin,
            request,
            status=status,
            settings_form=settings_form or team_form(team),
            credits_form=credits_form or Form(),
            new_key=new_key,
            budget_modes=BUDGET_MODES,
            groups=await services.models.list_access_groups(admin),
            organization=await services.organizations.get_organization(admin, team.organization_id),
            outcomes=await services.usage.job_outcomes(admin, team.id),
            **context,
        )

    async def _team_context(self, admin: AdminPrincipal, services: Services, team: Team) -> dict[str, Any]:
        """What the team page's fragments show: the balance, the keys, the ledger's first page."""
        credits = await services.credits.team_credits(admin, team.id, with_forecast=True)
        entries = await services.credits.transactions(admin, team.id, before=None, limit=LEDGER_PAGE + 1)
        shown = entries[:LEDGER_PAGE]
        return {
            "team": team,
            "balance": credits.balance,
            "forecast": credits.forecast,
            "low_threshold": low_credit_threshold(credits.balance, team.low_credit_threshold),
            "keys": await services.organizations.list_keys(admin, team.id),
            "entries": shown,
            "ledger_cursor": cursors.encode(shown[-1].created_at, shown[-1].sequence)
            if len(entries) > LEDGER_PAGE
            else None,
            "idempotency_key": uuid.uuid4().hex,
        }

    async def _fragment(
        self, request: Req, admin: AdminPrincipal, services: Services, team_id: TeamId, name: str, **extra: Any
    ) -> Response[Any]:
        team = await services.organizations.get_team(admin, team_id)
        context = await self._team_context(admin, services, team)
        response = page(f"team/_{name}.html", admin, request, **{**context, **extra})
        response.headers["HX-Trigger"] = "team-changed"  # the ledger and the status reload themselves
        return response

    @post("/{team_id:uuid}/settings", status_code=200)
    async def update(
        self,
        request: Req,
        team_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        form = Form(await request.form())
        name = form.text("name")
        mode = form.choice("budget_mode", BUDGET_MODES)
        credits_per_usd = form.decimal("credits_per_usd", required=True)
        tokens_per_credit = form.integer("tokens_per_credit", required=True, minimum=1, maximum=1_000_000_000)
        max_calls = form.integer("max_calls_per_job", required=True, minimum=1, maximum=MAX_CALLS_PER_JOB_LIMIT)
        # Empty: back to 10 % of the allocation.
        threshold = form.decimal("low_credit_threshold")
        try:
            check_low_credit_threshold(threshold)
        except DomainError as exc:
            form.add_error("low_credit_threshold", exc.detail)
        version = form.integer("version", minimum=1)
        if form.ok and name is not None and mode is not None:
            changes = TeamChanges(
                name=name,
                budget_mode=BudgetMode(mode),
                credits_per_usd=credits_per_usd if credits_per_usd is not None else msgspec.UNSET,
                tokens_per_credit=tokens_per_credit if tokens_per_credit is not None else msgspec.UNSET,
                max_calls_per_job=max_calls if max_calls is not None else msgspec.UNSET,
                charge_failed_jobs=form.flag("charge_failed_jobs"),
                access_groups=tuple(form.values("access_groups")),
                low_credit_threshold=threshold,
            )
            try:
                await services.organizations.update_team(admin, TeamId(team_id), changes, expected_version=version)
            except DomainError as exc:
                form.refused(exc, {"access group": "access_groups"})
            else:
                return see_other(f"{PANEL}/teams/{team_id}", "saved")
        return await self._detail(request, admin, services, TeamId(team_id), settings_form=form, status=422)

    @post("/{team_id:uuid}/suspend", status_code=200)
    async def suspend(
        self,
        request: Req,
        team_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        await services.organizations.set_status(TeamId(team_id), TeamStatus.SUSPENDED, actor=admin)
        if is_htmx(request):
            return await self._fragment(request, admin, services, TeamId(team_id), "status", changed="suspended")
        return see_other(f"{PANEL}/teams/{team_id}", "suspended")

    @post("/{team_id:uuid}/resume", status_code=200)
    async def resume(
        self,
        request: Req,
        team_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        await services.organizations.set_status(TeamId(team_id), TeamStatus.ACTIVE, actor=admin)
        if is_htmx(request):
            return await self._fragment(request, admin, services, TeamId(team_id), "status", changed="resumed")
        return see_other(f"{PANEL}/teams/{team_id}", "resumed")

    @post("/{team_id:uuid}/credits", status_code=200)
    async def credits(
        self,
        request: Req,
        team_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        form = Form(await request.form())
        amount = form.decimal("amount", required=True)
        reason = form.text("reason", required=False, max_length=500)
        key = form.text("idempotency_key", max_length=200)
        applied: bool | None = None
        if form.ok and amount is not None:
            try:
                done = await services.credits.adjust(admin, TeamId(team_id), amount, reason=reason, idempotency_key=key)
            except DomainError as exc:
                form.refused(exc, {"adjustment": "amount", "debit": "amount"})
            else:
                applied = done.entry is not None
                if not is_htmx(request):
                    return see_other(f"{PANEL}/teams/{team_id}", "credits" if applied else "credits_repeat")
                form = Form()
        if is_htmx(request):
            response = await self._fragment(
                request, admin, services, TeamId(team_id), "credits", credits_form=form, applied=applied
            )
            if not form.ok:
                response.status_code = 422
            return response
        return await self._detail(request, admin, services, TeamId(team_id), credits_form=form, status=422)

    @get("/{team_id:uuid}/ledger", name="panel:ledger")
    async def ledger(
        self,
        request: Req,
        team_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        team = await services.organizations.get_team(admin, TeamId(team_id))
        before = cursors.decode_int(cursor) if cursor else None
        entries = await services.credits.transactions(admin, team.id, before=before, limit=LEDGER_PAGE + 1)
        shown = entries[:LEDGER_PAGE]
        next_cursor = cursors.encode(shown[-1].created_at, shown[-1].sequence) if len(entries) > LEDGER_PAGE else None
        if not is_htmx(request):
            name = "ledger.html"  # the ledger as a page of its own
        elif cursor:
            name = "team/_ledger_rows.html"  # older entries, appended below the shown ones
        else:
            name = "team/_ledger.html"  # the first page again, after credits moved
        return page(name, admin, request, team=team, entries=shown, ledger_cursor=next_cursor)

    @post("/{team_id:uuid}/keys", status_code=200)
    async def issue_key(
        self,
        request: Req,
        team_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        key = await services.organizations.issue_key(TeamId(team_id), actor=admin)
        if is_htmx(request):
            response = await self._fragment(request, admin, services, TeamId(team_id), "keys", new_key=key)
            response.status_code = 201
            return response
        return await self._detail(request, admin, services, TeamId(team_id), new_key=key, status=201)

    @post("/{team_id:uuid}/keys/{key_id:uuid}/revoke", status_code=200)
    async def revoke_key(
        self,
        request: Req,
        team_id: FromPath[UUID],
        key_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        await services.organizations.revoke_key(admin, TeamId(team_id), ApiKeyId(key_id))
        if is_htmx(request):
            return await self._fragment(request, admin, services, TeamId(team_id), "keys", new_key=None)
        return see_other(f"{PANEL}/teams/{team_id}", "revoked")
