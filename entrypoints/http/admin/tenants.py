"""Organizations and teams: lists, creation, a team's credits, suspension, keys and ledger.

Each handler reads the form, calls one use case and renders; roles and organization
scope are the use cases' (a viewer's forged POST gets their 403, another organization's
team their 404). Fragments answer htmx requests; the same forms work without scripts.
"""

import uuid
from datetime import timedelta
from typing import Annotated, Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from application.services.organizations import TeamChanges
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
from domain.ledger import LedgerEntry
from domain.organizations import Organization, Team, TeamStatus, check_low_credit_threshold
from entrypoints.http import cursors
from entrypoints.http.admin.format import exact
from entrypoints.http.admin.forms import Form, prefilled
from entrypoints.http.admin.pages import Panel, one_page, see_other
from entrypoints.http.admin.session import PANEL

PAGE_SIZE = 25
LEDGER_PAGE = 20
BUDGET_MODES = tuple(m.value for m in BudgetMode)


def ledger_cursor(entry: LedgerEntry) -> str:
    return cursors.encode(entry.created_at, entry.sequence)


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
    async def list_(self, panel: NamedDependency[Panel], cursor: FromQuery[str | None] = None) -> Response[Any]:
        return await self._list(panel, cursor, Form())

    async def _list(self, panel: Panel, cursor: str | None, form: Form, status: int = 200) -> Response[Any]:
        found = await panel.services.organizations.list_organizations(
            panel.admin, after=cursors.keyset(cursor, OrganizationId), limit=PAGE_SIZE + 1
        )
        shown, next_cursor = one_page(found, PAGE_SIZE, cursors.created)
        return panel.page(
            "organizations.html",
            status=status,
            organizations=shown,
            next_cursor=next_cursor,
            first_page=cursor is None,
            form=form,
        )

    @post("/", status_code=200)
    async def create(self, panel: NamedDependency[Panel]) -> Response[Any]:
        form = await panel.form()
        name = form.text("name")
        slug = form.text("slug", required=False, max_length=60)
        if form.ok and name is not None:
            created = await form.attempt(
                panel.services.organizations.create_organization(name=name, slug=slug, actor=panel.admin),
                {"slug is": "slug", "organization": "slug"},
            )
            if created is not None:
                return see_other(f"{PANEL}/organizations/{created.id}", "created")
        return await self._list(panel, None, form, status=422)

    @get("/{organization_id:uuid}", name="panel:organization")
    async def detail(
        self,
        panel: NamedDependency[Panel],
        organization_id: FromPath[UUID],
        days: Annotated[int, QueryParameter(ge=1, le=366)] = 30,
    ) -> Response[Any]:
        organization = await panel.services.organizations.get_organization(panel.admin, OrganizationId(organization_id))
        return await self._detail(panel, organization, organization_form(organization), days)

    async def _detail(
        self, panel: Panel, organization: Organization, form: Form, days: int = 30, status: int = 200
    ) -> Response[Any]:
        last = panel.today()
        first = last - timedelta(days=days - 1)
        services, admin = panel.services, panel.admin
        usage = await services.usage.organization_usage(admin, organization.id, first_day=first, last_day=last)
        teams = await services.organizations.list_teams(admin, organization_id=organization.id, limit=200)
        return panel.page(
            "organization.html",
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
    async def update(self, panel: NamedDependency[Panel], organization_id: FromPath[UUID]) -> Response[Any]:
        form = await panel.form()
        name = form.text("name")
        slug = form.text("slug", max_length=60)
        version = form.integer("version", minimum=1)
        organizations = panel.services.organizations
        if form.ok:
            await form.attempt(
                organizations.update_organization(
                    panel.admin, OrganizationId(organization_id), name=name, slug=slug, expected_version=version
                ),
                {"slug is": "slug"},
            )
        if form.ok:
            return see_other(f"{PANEL}/organizations/{organization_id}", "saved")
        organization = await organizations.get_organization(panel.admin, OrganizationId(organization_id))
        return await self._detail(panel, organization, form, status=422)

    @post("/{organization_id:uuid}/delete", status_code=200)
    async def delete_(self, panel: NamedDependency[Panel], organization_id: FromPath[UUID]) -> Response[Any]:
        await panel.services.organizations.delete_organization(panel.admin, OrganizationId(organization_id))
        return see_other(f"{PANEL}/organizations", "deleted")


class TeamsController(Controller):
    path = "/teams"

    @get("/", name="panel:teams")
    async def list_(
        self,
        panel: NamedDependency[Panel],
        organization_id: FromQuery[UUID | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        scope = OrganizationId(organization_id) if organization_id else None
        services, admin = panel.services, panel.admin
        found = await services.organizations.list_teams(
            admin,
            organization_id=scope,
            after=cursors.keyset(cursor, TeamId),
            limit=PAGE_SIZE + 1,
        )
        shown, next_cursor = one_page(found, PAGE_SIZE, cursors.created)
        organizations = await panel.organizations()
        return panel.page(
            "teams.html",
            teams=shown,
            organizations=organizations,
            organization_names={o.id: o.name for o in organizations},
            organization_id=scope,
            next_cursor=next_cursor,
            first_page=cursor is None,
        )

    @get("/new", name="panel:new-team")
    async def new(self, panel: NamedDependency[Panel], organization_id: FromQuery[UUID | None] = None) -> Response[Any]:
        form = prefilled(
            {
                "organization_id": str(organization_id or panel.admin.organization_id or ""),
                "budget_mode": BudgetMode.CONSUMPTION_USD.value,
                "credits_per_usd": exact(DEFAULT_CREDITS_PER_USD),
                "tokens_per_credit": str(DEFAULT_TOKENS_PER_CREDIT),
                "max_calls_per_job": str(DEFAULT_MAX_CALLS_PER_JOB),
            }
        )
        return await self._new(panel, form)

    async def _new(self, panel: Panel, form: Form, status: int = 200) -> Response[Any]:
        return panel.page(
            "team_new.html",
            status=status,
            form=form,
            organizations=await panel.organizations(),
            groups=await panel.services.models.list_access_groups(panel.admin),
            budget_modes=BUDGET_MODES,
        )

    @post("/", status_code=200)
    async def create(self, panel: NamedDependency[Panel]) -> Response[Any]:
        form = await panel.form()
        organization_id = form.uuid("organization_id")
        name = form.text("name")
        mode = form.choice("budget_mode", BUDGET_MODES)
        credits = form.decimal("credits")
        credits_per_usd = form.decimal("credits_per_usd")
        tokens_per_credit = form.integer("tokens_per_credit", minimum=1, maximum=1_000_000_000)
        max_calls = form.integer("max_calls_per_job", minimum=1, maximum=MAX_CALLS_PER_JOB_LIMIT)
        if form.ok and organization_id is not None and name is not None and mode is not None:
            budget = BudgetPolicy(
                mode=BudgetMode(mode),
                credits_per_usd=credits_per_usd or DEFAULT_CREDITS_PER_USD,
                tokens_per_credit=tokens_per_credit or DEFAULT_TOKENS_PER_CREDIT,
                max_calls_per_job=max_calls or DEFAULT_MAX_CALLS_PER_JOB,
                charge_failed_jobs=form.flag("charge_failed_jobs"),
            )
            created = await form.attempt(
                panel.services.organizations.create_team(
                    organization_id=OrganizationId(organization_id),
                    name=name,
                    budget=budget,
                    credits=credits,
                    access_groups=tuple(form.values("access_groups")),
                    actor=panel.admin,
                ),
                {"access group": "access_groups", "organization": "organization_id"},
            )
            if created is not None:
                team, key = created
                # The key exists only in this response: shown once, never stored, never cached.
                return panel.page("team_created.html", status=201, team=team, key=key)
        return await self._new(panel, form, status=422)

    # ---- one team -----------------------------------------------------------------------

    @get("/{team_id:uuid}", name="panel:team")
    async def detail(self, panel: NamedDependency[Panel], team_id: FromPath[UUID]) -> Response[Any]:
        return await self._detail(panel, TeamId(team_id))

    async def _detail(
        self,
        panel: Panel,
        team_id: TeamId,
        *,
        settings_form: Form | None = None,
        credits_form: Form | None = None,
        new_key: Any = None,
        status: int = 200,
    ) -> Response[Any]:
        services, admin = panel.services, panel.admin
        team = await services.organizations.get_team(admin, team_id)
        context = await self._team_context(panel, team)
        return panel.page(
            "team.html",
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

    async def _team_context(self, panel: Panel, team: Team) -> dict[str, Any]:
        """What the team page's fragments show: the balance, the keys, the ledger's first page."""
        services, admin = panel.services, panel.admin
        credits = await services.credits.team_credits(admin, team.id, with_forecast=True)
        entries = await services.credits.transactions(admin, team.id, before=None, limit=LEDGER_PAGE + 1)
        shown, next_cursor = one_page(entries, LEDGER_PAGE, ledger_cursor)
        return {
            "team": team,
            "balance": credits.balance,
            "forecast": credits.forecast,
            "low_threshold": low_credit_threshold(credits.balance, team.low_credit_threshold),
            "keys": await services.organizations.list_keys(admin, team.id),
            "entries": shown,
            "ledger_cursor": next_cursor,
            "idempotency_key": uuid.uuid4().hex,
        }

    async def _fragment(
        self, panel: Panel, team_id: TeamId, name: str, *, status: int = 200, **extra: Any
    ) -> Response[Any]:
        team = await panel.services.organizations.get_team(panel.admin, team_id)
        context = await self._team_context(panel, team)
        response = panel.page(f"team/_{name}.html", status=status, **{**context, **extra})
        response.headers["HX-Trigger"] = "team-changed"  # the ledger and the status reload themselves
        return response

    async def _changed(self, panel: Panel, team_id: TeamId, fragment: str, notice: str, **extra: Any) -> Response[Any]:
        """After a change on the team page: its fragment again (htmx), else the page with a notice."""
        if panel.htmx:
            return await self._fragment(panel, team_id, fragment, **extra)
        return see_other(f"{PANEL}/teams/{team_id}", notice)

    @post("/{team_id:uuid}/settings", status_code=200)
    async def update(self, panel: NamedDependency[Panel], team_id: FromPath[UUID]) -> Response[Any]:
        form = await panel.form()
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
            await form.attempt(
                panel.services.organizations.update_team(
                    panel.admin, TeamId(team_id), changes, expected_version=version
                ),
                {"access group": "access_groups"},
            )
        if form.ok:
            return see_other(f"{PANEL}/teams/{team_id}", "saved")
        return await self._detail(panel, TeamId(team_id), settings_form=form, status=422)

    @post("/{team_id:uuid}/suspend", status_code=200)
    async def suspend(self, panel: NamedDependency[Panel], team_id: FromPath[UUID]) -> Response[Any]:
        await panel.services.organizations.set_status(TeamId(team_id), TeamStatus.SUSPENDED, actor=panel.admin)
        return await self._changed(panel, TeamId(team_id), "status", "suspended", changed="suspended")

    @post("/{team_id:uuid}/resume", status_code=200)
    async def resume(self, panel: NamedDependency[Panel], team_id: FromPath[UUID]) -> Response[Any]:
        await panel.services.organizations.set_status(TeamId(team_id), TeamStatus.ACTIVE, actor=panel.admin)
        return await self._changed(panel, TeamId(team_id), "status", "resumed", changed="resumed")

    @post("/{team_id:uuid}/credits", status_code=200)
    async def credits(self, panel: NamedDependency[Panel], team_id: FromPath[UUID]) -> Response[Any]:
        form = await panel.form()
        amount = form.decimal("amount", required=True)
        reason = form.text("reason", required=False, max_length=500)
        key = form.text("idempotency_key", max_length=200)
        applied: bool | None = None
        if form.ok and amount is not None:
            done = await form.attempt(
                panel.services.credits.adjust(panel.admin, TeamId(team_id), amount, reason=reason, idempotency_key=key),
                {"adjustment": "amount", "debit": "amount"},
            )
            if done is not None:
                applied = done.entry is not None
                if not panel.htmx:
                    return see_other(f"{PANEL}/teams/{team_id}", "credits" if applied else "credits_repeat")
                form = Form()
        if panel.htmx:
            status = 200 if form.ok else 422
            return await self._fragment(
                panel, TeamId(team_id), "credits", status=status, credits_form=form, applied=applied
            )
        return await self._detail(panel, TeamId(team_id), credits_form=form, status=422)

    @get("/{team_id:uuid}/ledger", name="panel:ledger")
    async def ledger(
        self, panel: NamedDependency[Panel], team_id: FromPath[UUID], cursor: FromQuery[str | None] = None
    ) -> Response[Any]:
        team = await panel.services.organizations.get_team(panel.admin, TeamId(team_id))
        before = cursors.decode_int(cursor) if cursor else None
        entries = await panel.services.credits.transactions(panel.admin, team.id, before=before, limit=LEDGER_PAGE + 1)
        shown, next_cursor = one_page(entries, LEDGER_PAGE, ledger_cursor)
        if not panel.htmx:
            name = "ledger.html"  # the ledger as a page of its own
        elif cursor:
            name = "team/_ledger_rows.html"  # older entries, appended below the shown ones
        else:
            name = "team/_ledger.html"  # the first page again, after credits moved
        return panel.page(name, team=team, entries=shown, ledger_cursor=next_cursor)

    @post("/{team_id:uuid}/keys", status_code=200)
    async def issue_key(self, panel: NamedDependency[Panel], team_id: FromPath[UUID]) -> Response[Any]:
        key = await panel.services.organizations.issue_key(TeamId(team_id), actor=panel.admin)
        if panel.htmx:
            return await self._fragment(panel, TeamId(team_id), "keys", status=201, new_key=key)
        return await self._detail(panel, TeamId(team_id), new_key=key, status=201)

    @post("/{team_id:uuid}/keys/{key_id:uuid}/revoke", status_code=200)
    async def revoke_key(
        self, panel: NamedDependency[Panel], team_id: FromPath[UUID], key_id: FromPath[UUID]
    ) -> Response[Any]:
        await panel.services.organizations.revoke_key(panel.admin, TeamId(team_id), ApiKeyId(key_id))
        return await self._changed(panel, TeamId(team_id), "keys", "revoked", new_key=None)
