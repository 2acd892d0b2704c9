"""Request and response bodies of the admin API (API.md "Admin API")."""

from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar
from uuid import UUID

import msgspec

from application.ports.admin import Webhook
from domain.admins import AdminUser, AuditEntry
from entrypoints.http.schemas.copying import from_attributes

T = TypeVar("T")

Email = Annotated[str, msgspec.Meta(min_length=3, max_length=254)]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=1024)]
Role = Literal["owner", "admin", "viewer"]


class Page(msgspec.Struct, Generic[T], frozen=True):
    items: list[T]
    next_cursor: str | None = None


class LoginBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    email: Email
    password: Password


class TokenOut(msgspec.Struct, frozen=True):
    access_token: str
    expires_in: int
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret


class SetupStatusOut(msgspec.Struct, frozen=True):
    needs_setup: bool


class CreateUserBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    email: Email
    password: Password
    role: Role
    organization_id: UUID | None = None


class UpdateUserBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    role: Role | None = None
    password: Password | None = None
    organization_id: UUID | msgspec.UnsetType | None = msgspec.UNSET


class UserOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    email: str
    role: str
    organization_id: UUID | None
    created_at: datetime


def user_out(user: AdminUser) -> UserOut:
    return from_attributes(UserOut, user, role=user.role.value)


class AuditOut(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    at: datetime
    actor_id: UUID | None
    actor_email: str
    action: str
    target_type: str
    target_id: str
    organization_id: UUID | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


def audit_out(entry: AuditEntry) -> AuditOut:
    return from_attributes(AuditOut, entry)


WebhookUrl = Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]
WebhookEvents = Annotated[list[Literal["job.completed", "team.credits_low"]], msgspec.Meta(min_length=1)]


class CreateWebhookBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    organization_id: UUID
    url: WebhookUrl
    events: WebhookEvents


class UpdateWebhookBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    url: WebhookUrl | msgspec.UnsetType = msgspec.UNSET
    events: WebhookEvents | msgspec.UnsetType = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET


class WebhookOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: UUID
    organization_id: UUID
    url: str
    events: list[str]
    created_at: datetime
    is_active: bool
    secret: str | None = None  # only when created or rotated: shown once, absent elsewhere

    def __repr__(self) -> str:
        return f"WebhookOut(id={self.id}, url={self.url!r})"


def webhook_out(webhook: Webhook, *, secret: str | None = None) -> WebhookOut:
    """``secret``: the clear secret just issued (``IssuedWebhook.secret``), never the stored one."""
    return from_attributes(WebhookOut, webhook, events=list(webhook.events), secret=secret)
