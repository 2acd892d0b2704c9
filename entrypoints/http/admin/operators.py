"""The operator side: the audit log, admin users (owners only) and webhooks."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import msgspec
from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from application.errors import ConflictError, NotFoundError
from application.ports.admin import Webhook
from application.services.webhooks import EVENTS, WebhookChanges
from domain.admins import AdminRole
from domain.ids import AdminUserId, OrganizationId
from domain.organizations import Organization
from entrypoints.http.admin.credentials import organization_page
from entrypoints.http.admin.forms import Form
from entrypoints.http.admin.pages import Panel, one_page, see_other
from entrypoints.http.admin.session import PANEL

AUDIT_PAGE = 50
ROLES = tuple(r.value for r in AdminRole)
PASSWORD = frozenset({"password"})


class AuditController(Controller):
    path = "/audit"

    @get("/", name="panel:audit")
    async def audit(self, panel: NamedDependency[Panel], cursor: FromQuery[str | None] = None) -> Response[Any]:
        before = int(cursor) if cursor and cursor.isdigit() else None
        entries = await panel.services.admin_users.audit_log(panel.admin, before_id=before, limit=AUDIT_PAGE + 1)
        shown, next_cursor = one_page(entries, AUDIT_PAGE, lambda entry: str(entry.id))
        return panel.page("audit.html", entries=shown, next_cursor=next_cursor, first_page=before is None)


class UsersController(Controller):
    path = "/users"

    @get("/", name="panel:users")
    async def list_(self, panel: NamedDependency[Panel]) -> Response[Any]:
        return await self._list(panel, Form())

    async def _list(self, panel: Panel, form: Form, status: int = 200) -> Response[Any]:
        users = await panel.services.admin_users.list_users(panel.admin)  # owners only: 403 for anyone else
        organizations = await panel.organizations()
        return panel.page(
            "users.html",
            status=status,
            users=users,
            roles=ROLES,
            organizations=organizations,
            organization_names={o.id: o.name for o in organizations},
            form=form,
        )

    @post("/", status_code=200)
    async def create(self, panel: NamedDependency[Panel]) -> Response[Any]:
        form = await panel.form(secret_fields=PASSWORD)
        email = form.text("email", max_length=254)
        password = form.text("password", max_length=1024, keep_spaces=True)
        role = form.choice("role", ROLES)
        organization_id = form.uuid("organization_id", required=False)
        if form.ok and email and password and role:
            created = await form.attempt(
                panel.services.admin_auth.create_user(
                    email=email,
                    password=password,
                    role=AdminRole(role),
                    organization_id=OrganizationId(organization_id) if organization_id else None,
                    actor=panel.admin,
                ),
                {"admin user": "email", "not found": "organization_id"},
            )
            if created is not None:
                return see_other(f"{PANEL}/users", "created")
        return await self._list(panel, form, status=422)

    @post("/{user_id:uuid}", status_code=200)
    async def update(self, panel: NamedDependency[Panel], user_id: FromPath[UUID]) -> Response[Any]:
        form = await panel.form(secret_fields=PASSWORD)
        role = form.choice("role", ROLES)
        password = form.text("password", required=False, max_length=1024, keep_spaces=True)
        organization_id = form.uuid("organization_id", required=False)
        if form.ok and role:
            updated = await form.attempt(
                panel.services.admin_users.update_user(
                    panel.admin,
                    AdminUserId(user_id),
                    role=AdminRole(role),
                    password=password,
                    organization_id=OrganizationId(organization_id) if organization_id else None,
                )
            )
            if updated is not None:
                return see_other(f"{PANEL}/users", "saved")
        return await self._list(panel, form, status=422)

    @post("/{user_id:uuid}/delete", status_code=200)
    async def delete_(self, panel: NamedDependency[Panel], user_id: FromPath[UUID]) -> Response[Any]:
        try:
            await panel.services.admin_users.delete_user(panel.admin, AdminUserId(user_id))
        except ConflictError as exc:  # the last owner stays
            form = Form()
            form.problem = exc.detail
            return await self._list(panel, form, status=409)
        return see_other(f"{PANEL}/users", "deleted")


def webhooks_url(organization_id: UUID) -> str:
    return f"{PANEL}/webhooks?organization_id={organization_id}"


class WebhooksController(Controller):
    path = "/webhooks"

    @get("/", name="panel:webhooks")
    async def list_(
        self, panel: NamedDependency[Panel], organization_id: FromQuery[UUID | None] = None
    ) -> Response[Any]:
        return await self._list(panel, organization_id, Form())

    async def _list(
        self, panel: Panel, organization_id: UUID | None, form: Form, *, status: int = 200, issued: Any = None
    ) -> Response[Any]:
        async def webhooks(organization: Organization) -> Sequence[Any]:
            return await panel.services.webhooks.list_webhooks(panel.admin, organization.id)

        return await organization_page(
            panel,
            "webhooks.html",
            organization_id,
            "webhooks",
            webhooks,
            status=status,
            events=sorted(EVENTS),
            form=form,
            issued=issued,
        )

    @post("/", status_code=200)
    async def create(self, panel: NamedDependency[Panel]) -> Response[Any]:
        form = await panel.form()
        organization_id = form.uuid("organization_id")
        url = form.text("url", max_length=2000)
        events = form.values("events")
        if not events:
            form.add_error("events", "choose at least one event")
        if form.ok and organization_id and url:
            issued = await form.attempt(
                panel.services.webhooks.create(
                    panel.admin, organization_id=OrganizationId(organization_id), url=url, events=events
                )
            )
            if issued is not None:
                # The signing secret exists in clear only in this response.
                return await self._list(panel, organization_id, Form(), status=201, issued=issued)
        return await self._list(panel, organization_id, form, status=422)

    async def _webhook(self, panel: Panel, webhook_id: UUID) -> Webhook:
        for webhook in await panel.services.webhooks.list_webhooks(panel.admin, None):
            if webhook.id == webhook_id:
                return webhook
        raise NotFoundError("webhook not found")

    @post("/{webhook_id:uuid}/rotate-secret", status_code=200)
    async def rotate(self, panel: NamedDependency[Panel], webhook_id: FromPath[UUID]) -> Response[Any]:
        issued = await panel.services.webhooks.rotate_secret(panel.admin, webhook_id)
        return await self._list(panel, issued.webhook.organization_id, Form(), issued=issued)

    @post("/{webhook_id:uuid}/toggle", status_code=200)
    async def toggle(self, panel: NamedDependency[Panel], webhook_id: FromPath[UUID]) -> Response[Any]:
        webhook = await self._webhook(panel, webhook_id)
        changes = WebhookChanges(is_active=not webhook.is_active, url=msgspec.UNSET)
        await panel.services.webhooks.update(panel.admin, webhook_id, changes)
        return see_other(webhooks_url(webhook.organization_id), "deactivated" if webhook.is_active else "activated")

    @post("/{webhook_id:uuid}/delete", status_code=200)
    async def delete_(self, panel: NamedDependency[Panel], webhook_id: FromPath[UUID]) -> Response[Any]:
        webhook = await self._webhook(panel, webhook_id)
        await panel.services.webhooks.delete(panel.admin, webhook_id)
        return see_other(webhooks_url(webhook.organization_id), "deleted")

    @get("/{webhook_id:uuid}/deliveries", name="panel:deliveries")
    async def deliveries(self, panel: NamedDependency[Panel], webhook_id: FromPath[UUID]) -> Response[Any]:
        webhook = await self._webhook(panel, webhook_id)
        found = await panel.services.webhooks.list_deliveries(panel.admin, webhook)
        name = "webhook/_deliveries.html" if panel.htmx else "webhook_deliveries.html"
        return panel.page(name, webhook=webhook, deliveries=found)
