"""The Postgres unit of work: one pooled connection, one transaction, rolled back unless committed.

``pool.connection()`` would commit on a clean exit; a unit of work must not, so it
checks a connection out and returns it itself, rolling back whatever was not committed.
"""

from collections.abc import Callable
from types import TracebackType
from typing import Self

import psycopg
from psycopg.pq import TransactionStatus

from adapters.postgres.errors import translated
from adapters.postgres.pool import Pool
from adapters.postgres.repositories.admin import (
    PostgresAdminUserRepository,
    PostgresAuditLogRepository,
    PostgresWebhookRepository,
)
from adapters.postgres.repositories.credentials import PostgresCredentialRepository
from adapters.postgres.repositories.credits import PostgresCreditRepository
from adapters.postgres.repositories.economics import PostgresEconomicsRepository
from adapters.postgres.repositories.jobs import PostgresCallRepository, PostgresJobRepository
from adapters.postgres.repositories.models import PostgresAccessGroupRepository, PostgresAliasRepository
from adapters.postgres.repositories.organizations import (
    PostgresApiKeyRepository,
    PostgresOrganizationRepository,
    PostgresTeamRepository,
)
from adapters.postgres.repositories.usage import PostgresUsageRepository
from adapters.postgres.session import Session


class PostgresUnitOfWork:
    def __init__(self, pool: Pool) -> None:
        self._pool = pool
        self._session = session = Session()
        self.organizations = PostgresOrganizationRepository(session)
        self.teams = PostgresTeamRepository(session)
        self.api_keys = PostgresApiKeyRepository(session)
        self.aliases = PostgresAliasRepository(session)
        self.access_groups = PostgresAccessGroupRepository(session)
        self.credentials = PostgresCredentialRepository(session)
        self.jobs = PostgresJobRepository(session)
        self.calls = PostgresCallRepository(session)
        self.credits = PostgresCreditRepository(session)
        self.usage = PostgresUsageRepository(session)
        self.economics = PostgresEconomicsRepository(session)
        self.admin_users = PostgresAdminUserRepository(session)
        self.audit = PostgresAuditLogRepository(session)
        self.webhooks = PostgresWebhookRepository(session)

    async def __aenter__(self) -> Self:
        with translated():
            self._session.attach(await self._pool.getconn())
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        conn = self._session.detach()
        try:
            if conn.info.transaction_status != TransactionStatus.IDLE:
                await conn.rollback()
        except psycopg.Error:
            await conn.close()  # unusable: the pool replaces a closed connection
        finally:
            await self._pool.putconn(conn)

    async def commit(self) -> None:
        with translated():
            await self._session.conn.commit()


def postgres_unit_of_work(pool: Pool) -> Callable[[], PostgresUnitOfWork]:
    """The unit-of-work factory the services are built with."""
    return lambda: PostgresUnitOfWork(pool)
