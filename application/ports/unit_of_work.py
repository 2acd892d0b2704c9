"""The unit of work: one transaction, rolled back unless ``commit()`` is called."""

from collections.abc import Callable
from types import TracebackType
from typing import Protocol, Self

from application.ports.admin import AdminUserRepository, AuditLogRepository, WebhookRepository
from application.ports.repositories import (
    AccessGroupRepository,
    AliasRepository,
    ApiKeyRepository,
    CallRepository,
    CredentialRepository,
    CreditRepository,
    EconomicsRepository,
    JobRepository,
    OrganizationRepository,
    TeamRepository,
    UsageRepository,
)


class UnitOfWork(Protocol):
    @property
    def organizations(self) -> OrganizationRepository: ...

    @property
    def teams(self) -> TeamRepository: ...

    @property
    def api_keys(self) -> ApiKeyRepository: ...

    @property
    def aliases(self) -> AliasRepository: ...

    @property
    def access_groups(self) -> AccessGroupRepository: ...

    @property
    def credentials(self) -> CredentialRepository: ...

    @property
    def jobs(self) -> JobRepository: ...

    @property
    def calls(self) -> CallRepository: ...

    @property
    def credits(self) -> CreditRepository: ...

    @property
    def usage(self) -> UsageRepository: ...

    @property
    def economics(self) -> EconomicsRepository: ...

    @property
    def admin_users(self) -> AdminUserRepository: ...

    @property
    def audit(self) -> AuditLogRepository: ...

    @property
    def webhooks(self) -> WebhookRepository:
        """The outbox: events are enqueued in the transaction that causes them."""
        ...

    async def __aenter__(self) -> Self:
        """Begin a transaction (acquires a connection; raises ``UnavailableError`` if none)."""
        ...

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        """Roll back whatever was not committed, and release the connection."""
        ...

    async def commit(self) -> None:
        """Make every change of this unit durable (raises ``UnavailableError`` on failure)."""
        ...


UnitOfWorkFactory = Callable[[], UnitOfWork]
