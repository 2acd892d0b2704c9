"""The in-memory unit of work: the store snapshotted on entry, restored unless committed."""

import copy
from types import TracebackType
from typing import Self

from adapters.memory import admin as a
from adapters.memory import economics as e
from adapters.memory import repositories as r
from adapters.memory.store import MemoryStore


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._snapshot: MemoryStore | None = None
        self.organizations = r.MemoryOrganizationRepository(store)
        self.teams = r.MemoryTeamRepository(store)
        self.api_keys = r.MemoryApiKeyRepository(store)
        self.aliases = r.MemoryAliasRepository(store)
        self.access_groups = r.MemoryAccessGroupRepository(store)
        self.credentials = r.MemoryCredentialRepository(store)
        self.jobs = r.MemoryJobRepository(store)
        self.calls = r.MemoryCallRepository(store)
        self.credits = r.MemoryCreditRepository(store)
        self.usage = r.MemoryUsageRepository(store)
        self.economics = e.MemoryEconomicsRepository(store)
        self.admin_users = a.MemoryAdminUserRepository(store)
        self.audit = a.MemoryAuditLogRepository(store)
        self.webhooks = a.MemoryWebhookRepository(store)

    async def __aenter__(self) -> Self:
        self._snapshot = copy.deepcopy(self._store)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Whatever happened after the last commit is undone, like a transaction rollback.
        if self._snapshot is not None:
            self._store.__dict__.update(self._snapshot.__dict__)
        self._snapshot = None

    async def commit(self) -> None:
        self._store.commits += 1
        self._snapshot = copy.deepcopy(self._store)
