"""The operator side: the audit log, admin users (owners only) and webhooks."""

from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from application.errors import ConflictError, NotFoundError
from application.ports.admin import Webhook
from application.services.webhooks import EVENTS, WebhookChanges
from domain.admins import AdminPrincipal, AdminRole
from domain.errors import DomainError
from domain.ids import AdminUserId, OrganizationId
from entrypoints.bootstrap import Services
from entrypoints.http.admin.credentials import chosen_organization
from entrypoints.http.admin.forms import Form
from entrypoints.http.admin.pages import is_htmx, page, see_other
from entrypoints.http.admin.session import PANEL

AUDIT_PAGE = 50
ROLES = tuple(r.value for r in AdminRole)
Req = Request[Any, Any, State]


class AuditController(Controller):
    path = "/audit"

    @get("/", name="panel:audit")
    async def audit(
        self,
        request: Req,
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        before = int(cursor) if cursor and cursor.isdigit() else None
        entries = await services.admin_users.audit_log(admin, before_id=before, limit=AUDIT_PAGE + 1)
        shown = entries[:AUDIT_PAGE]
        return page(
            "audit.html",
            admin,
            request,
            entries=shown,
            next_cursor=str(shown[-1].id) if len(entries) > AUDIT_PAGE and shown else None,
            first_page=before is None,
        )


class UsersController(Controller):
    path = "/users"

    @get("/", name="panel:users")
    async def list_(
        self, request: Req, admin: NamedDependency[AdminPrincipal], services: NamedDependency[Services]
    ) -> Response[Any]:
        return await self._list(request, admin, services, Form())

    async def _list(
        self, request: Req, admin: AdminPrincipal, services: Services, form: Form, status: int = 200
    ) -> Response[Any]:
        users = await services.admin_users.list_users(admin)  # owners only: 403 for anyone else
        organizations = await services.organizations.list_organizations(admin, limit=200)
        return page(
            "users.html",
            admin,
            request,
            status=status,
            users=users,
            roles=ROLES,
            organizations=organizations,
            organization_names={o.id: o.name for o in organizations},
            form=form,
        )

    @post("/", status_code=200)
    async def create(
        self, request: Req, admin: NamedDependency[AdminPrincipal], services: NamedDependency[Services]
    ) -> Response[Any]:
        form = Form(await request.form(), secret_fields=frozenset({"password"}))
        email = form.text("email", max_length=254)
        password = form.text("password", max_length=1024, keep_spaces=True)
        role = form.choice("role", ROLES)
        organization_id = form.uuid("organization_id", required=False)
        if form.ok and email and password and role:
            try:
                await services.admin_auth.create_user(
                    email=email,
                    password=password,
                    role=AdminRole(role),
                    organization_id=OrganizationId(organization_id) if organization_id else None,
                    actor=admin,
                )
            except DomainError as exc:
                form.refused(exc, {"admin user": "email", "not found": "organization_id"})
            else:
                return see_other(f"{PANEL}/users", "created")
        return await self._list(request, admin, services, form, status=422)

    @post("/{user_id:uuid}", status_code=200)
    async def update(
        self,
        request: Req,
        user_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        form = Form(await request.form(), secret_fields=frozenset({"password"}))
        role = form.choice("role", ROLES)
        password = form.text("password", required=False, max_length=1024, keep_spaces=True)
        organization_id = form.uuid("organization_id", required=False)
        if form.ok and role:
            try:
                await services.admin_users.update_user(
                    admin,
                    AdminUserId(user_id),
                    role=AdminRole(role),
                    password=password,
                    organization_id=OrganizationId(organization_id) if organization_id else None,
                )
            except DomainError as exc:
                form.refused(exc)
            else:
                return see_other(f"{PANEL}/users", "saved")
        return await self._list(request, admin, services, form, status=422)

    @post("/{user_id:uuid}/delete", status_code=200)
    async def delete_(
        self,
        request: Req,
        user_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        try:
            await services.admin_users.delete_user(admin, AdminUserId(user_id))
        except ConflictError as exc:  # the last owner stays
            form = Form()
            form.problem = exc.detail
            return await self._list(request, admin, services, form, status=409)
        return see_other(f"{PANEL}/users", "deleted")


class WebhooksController(Controller):
    path = "/webhooks"

    @get("/", name="panel:webhooks")
    async def list_(
        self,
        request: Req,
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        organization_id: FromQuery[UUID | None] = None,
    ) -> Response[Any]:
        return await self._list(request, admin, services, organization_id, Form())

    async def _list(
        self,
        request: Req,
        admin: AdminPrincipal,
        services: Services,
        organization_id: UUID | None,
        form: Form,
        *,
        status: int = 200,
        issued: Any = None,
    ) -> Response[Any]:
        organizations, organization = await chosen_organization(services, admin, organization_id)
        webhooks = await services.webhooks.list_webhooks(admin, organization.id) if organization is not None else []
        return page(
            "webhooks.html",
            admin,
            request,
            status=status,
            organizations=organizations,
            organization=organization,
            webhooks=webhooks,
            events=sorted(EVENTS),
            form=form,
            issued=issued,
        )

    @post("/", status_code=200)
    async def create(
        self, request: Req, admin: NamedDependency[AdminPrincipal], services: NamedDependency[Services]
    ) -> Response[Any]:
        form = Form(await request.form())
        organization_id = form.uuid("organization_id")
        url = form.text("url", max_length=2000)
        events = form.values("events")
        if not events:
            form.add_error("events", "choose at least one event")
        if form.ok and organization_id and url:
            try:
                issued = await services.webhooks.create(
                    admin, organization_id=OrganizationId(organization_id), url=url, events=events
                )
            except DomainError as exc:
                form.refused(exc)
            else:
                # The signing secret exists in clear only in this response.
                return await self._list(request, admin, services, organization_id, Form(), status=201, issued=issued)
        return await self._list(request, admin, services, organization_id, form, status=422)

    async def _webhook(self, services: Services, admin: AdminPrincipal, webhook_id: UUID) -> Webhook:
        for webhook in await services.webhooks.list_webhooks(admin, None):
            if webhook.id == webhook_id:
                return webhook
        raise NotFoundError("webhook not found")

    @post("/{webhook_id:uuid}/rotate-secret", status_code=200)
    async def rotate(
        self,
        request: Req,
        webhook_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        issued = await services.webhooks.rotate_secret(admin, webhook_id)
        organization_id = issued.webhook.organization_id
        return await self._list(request, admin, services, organization_id, Form(), issued=issued)

    @post("/{webhook_id:uuid}/toggle", status_code=200)
    async def toggle(
        self,
        webhook_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        webhook = await self._webhook(services, admin, webhook_id)
        changes = WebhookChanges(is_active=not webhook.is_active, url=msgspec.UNSET)
        await services.webhooks.update(admin, webhook_id, changes)
        notice = "deactivated" if webhook.is_active else "activated"
        return see_other(f"{PANEL}/webhooks?organization_id={webhook.organization_id}", notice)

    @post("/{webhook_id:uuid}/delete", status_code=200)
    async def delete_(
        self,
        webhook_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        webhook = await self._webhook(services, admin, webhook_id)
        await services.webhooks.delete(admin, webhook_id)
        return see_other(f"{PANEL}/webhooks?organization_id={webhook.organization_id}", "deleted")

    @get("/{webhook_id:uuid}/deliveries", name="panel:deliveries")
    async def deliveries(
        self,
        request: Req,
        webhook_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        webhook = await self._webhook(services, admin, webhook_id)
        found = await services.webhooks.list_deliveries(admin, webhook)
        name = "webhook/_deliveries.html" if is_htmx(request) else "webhook_deliveries.html"
        return page(name, admin, request, webhook=webhook, deliveries=found)
