"""Reference data: what every call reads before it can start, and how it learns of changes.

Virtual keys, teams, aliases and provider credentials change rarely and are read on every
call, so the call path reads them through ``ReferenceReader`` (each lookup one read of
its own, outside any unit of work) and caches them in process. ``ReferenceChanges`` says
when any instance changed them, so a revoked key or a suspended team stops working
everywhere within a second, whatever instance served the change.
"""

import enum
from collections.abc import Callable
from typing import Protocol

from application.ports.repositories import ApiKey, StoredCredential
from domain.access import ModelAlias
from domain.catalog import ProviderName
from domain.ids import OrganizationId, TeamId
from domain.organizations import Team


class ReferenceKind(enum.StrEnum):
    KEYS = "keys"
    TEAMS = "teams"
    ALIASES = "aliases"
    CREDENTIALS = "credentials"


class ReferenceReader(Protocol):
    async def active_key(self, digest: str) -> ApiKey | None:
        """The unrevoked key with this SHA-256 digest."""
        ...

    async def team(self, team_id: TeamId) -> Team | None: ...

    async def alias(self, name: str) -> ModelAlias | None: ...

    async def active_credential(
        self, organization_id: OrganizationId, provider: ProviderName
    ) -> StoredCredential | None:
        """The organization's newest active credential for the provider."""
        ...


ChangeListener = Callable[[frozenset[ReferenceKind]], None]


class ReferenceChanges(Protocol):
    """A feed of changes to reference data, made by this instance or any other.

    ``listen`` registers a callback that receives the kinds that changed. While the feed
    is not ``connected`` changes may be missed: readers must not trust what they cached
    for long. When it reconnects it reports every kind as changed.
    """

    @property
    def connected(self) -> bool: ...

    def listen(self, on_change: ChangeListener) -> None: ...
