"""Admin users (owner only), the audit log and webhooks."""

from typing import Annotated
from uuid import UUID

import msgspec
from litestar import delete, get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from application.services.webhooks import WebhookChanges
from domain.admins import AdminRole
from domain.ids import AdminUserId, OrganizationId
from entrypoints.http import cursors
from entrypoints.http.controllers.admin_api import AdminApiController
from entrypoints.http.dependencies import AdminContext
from entrypoints.http.schemas.admin import (
    AuditOut,
    CreateUserBody,
    CreateWebhookBody,
    Page,
    UpdateUserBody,
    UpdateWebhookBody,
    UserOut,
    WebhookOut,
    audit_out,
    user_out,
    webhook_out,
)
from entrypoints.http.schemas.changes import changes_of


class AdminUsersController(AdminApiController):
    tags = ["admin: users, audit, webhooks"]

    @post("/users/create", status_code=201, summary="Create an admin user (owner only)")
    async def create_user(self, data: JSONBody[CreateUserBody], ctx: NamedDependency[AdminContext]) -> UserOut:
        user = await ctx.services.admin_auth.create_user(  # owners only, within their scope: the use case's rules
            email=data.email,
            password=data.password,
            role=AdminRole(data.role),
            organization_id=OrganizationId(data.organization_id) if data.organization_id else None,
            actor=ctx.admin,
        )
        return user_out(user)

    @get("/users", summary="Admin users (owner only)")
    async def list_users(self, ctx: NamedDependency[AdminContext]) -> Page[UserOut]:
        return Page(items=[user_out(u) for u in await ctx.services.admin_users.list_users(ctx.admin)])

    @put("/users/{user_id:uuid}", summary="Change an admin user's role, password or organization (owner only)")
    async def update_user(
        self,
        user_id: FromPath[UUID],
        data: JSONBody[UpdateUserBody],
        ctx: NamedDependency[AdminContext],
    ) -> UserOut:
        organization: OrganizationId | msgspec.UnsetType | None = (
            msgspec.UNSET
            if isinstance(data.organization_id, msgspec.UnsetType)
            else (OrganizationId(data.organization_id) if data.organization_id else None)
        )
        user = await ctx.services.admin_users.update_user(
            ctx.admin,
            AdminUserId(user_id),
            role=AdminRole(data.role) if data.role else None,
            password=data.password,
            organization_id=organization,
        )
        return user_out(user)

    @delete("/users/{user_id:uuid}", status_code=204, summary="Delete an admin user (owner only)")
    async def delete_user(self, user_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> None:
        await ctx.services.admin_users.delete_user(ctx.admin, AdminUserId(user_id))

    @get("/audit-log", summary="Who changed what, newest first")
    async def audit_log(
        self,
        ctx: NamedDependency[AdminContext],
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
    ) -> Page[AuditOut]:
        before = cursors.decode_id(cursor) if cursor else None
        return await cursors.page(
            Page,
            lambda n: ctx.services.admin_users.audit_log(ctx.admin, before_id=before, limit=n),
            limit,
            shown=audit_out,
            cursor=lambda entry: str(entry.id),
        )

    @post(
        "/webhooks/create",
        status_code=201,
        summary="Subscribe a URL to job.completed / team.credits_low (the signing secret is shown once)",
    )
    async def create_webhook(self, data: JSONBody[CreateWebhookBody], ctx: NamedDependency[AdminContext]) -> WebhookOut:
        issued = await ctx.services.webhooks.create(
            ctx.admin, organization_id=OrganizationId(data.organization_id), url=data.url, events=list(data.events)
        )
        return webhook_out(issued.webhook, secret=issued.secret)

    @get("/webhooks", summary="Webhooks the admin sees (optionally of one organization), never their secrets")
    async def list_webhooks(
        self,
        ctx: NamedDependency[AdminContext],
        organization_id: FromQuery[UUID | None] = None,
    ) -> Page[WebhookOut]:
        scope = OrganizationId(organization_id) if organization_id else None
        return Page(items=[webhook_out(w) for w in await ctx.services.webhooks.list_webhooks(ctx.admin, scope)])

    @put("/webhooks/{webhook_id:uuid}", summary="Change a webhook's URL or events, or (de)activate it")
    async def update_webhook(
        self,
        webhook_id: FromPath[UUID],
        data: JSONBody[UpdateWebhookBody],
        ctx: NamedDependency[AdminContext],
    ) -> WebhookOut:
        changes = changes_of(data, WebhookChanges, events=list)
        return webhook_out(await ctx.services.webhooks.update(ctx.admin, webhook_id, changes))

    @delete("/webhooks/{webhook_id:uuid}", status_code=204, summary="Delete a webhook and its undelivered events")
    async def delete_webhook(self, webhook_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> None:
        await ctx.services.webhooks.delete(ctx.admin, webhook_id)

    @post(
        "/webhooks/{webhook_id:uuid}/rotate-secret",
        status_code=200,
        summary="Replace a webhook's signing secret (the new one is shown once)",
    )
    async def rotate_webhook_secret(self, webhook_id: FromPath[UUID], ctx: NamedDependency[AdminContext]) -> WebhookOut:
        issued = await ctx.services.webhooks.rotate_secret(ctx.admin, webhook_id)
        return webhook_out(issued.webhook, secret=issued.secret)
