"""Reference data read from the in-memory store, one unit of work per lookup."""

from adapters.memory.store import MemoryStore
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application.ports.repositories import ApiKey, StoredCredential
from domain.access import ModelAlias
from domain.catalog import ProviderName
from domain.ids import OrganizationId, TeamId
from domain.organizations import Team


class MemoryReferenceReader:
    def __init__(self, store: MemoryStore) -> None:
        self._store = store

    async def active_key(self, digest: str) -> ApiKey | None:
        async with MemoryUnitOfWork(self._store) as uow:
            return await uow.api_keys.find_active(digest)

    async def team(self, team_id: TeamId) -> Team | None:
        async with MemoryUnitOfWork(self._store) as uow:
            return await uow.teams.get(team_id)

    async def alias(self, name: str) -> ModelAlias | None:
        async with MemoryUnitOfWork(self._store) as uow:
            return await uow.aliases.get(name)

    async def active_credential(
        self, organization_id: OrganizationId, provider: ProviderName
    ) -> StoredCredential | None:
        async with MemoryUnitOfWork(self._store) as uow:
            return await uow.credentials.active_for(organization_id, provider)
