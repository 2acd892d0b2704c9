"""In-process caches of reference data, invalidated across instances by a change feed.

``CachedReferenceReader`` decorates a ``ReferenceReader``: what it returns comes from
memory when it can. A change anywhere (this instance or another) reaches it through
``ReferenceChanges`` and drops the kinds that changed, so a revoked key or a suspended
team stops working everywhere within a second. Entries also age out: after ``ttl_s``
while the feed is connected, after ``unwatched_ttl_s`` (one second) while it is not, so
a missed change never outlives that second. Concurrent misses for one key load once.
Credits and job states are never cached: the statements that hold check them.
"""

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, Generic, TypeVar

from application.ports.observability import Metrics
from application.ports.reference import ReferenceChanges, ReferenceKind, ReferenceReader
from application.ports.repositories import ApiKey, StoredCredential
from application.ports.system import Clock
from domain.access import ModelAlias
from domain.catalog import ProviderName
from domain.ids import OrganizationId, TeamId
from domain.organizations import Team

V = TypeVar("V")

WATCHED_TTL_S = 60.0
UNWATCHED_TTL_S = 1.0
MAX_ENTRIES = 10_000


class ReadThroughCache(Generic[V]):
    """Values by key, loaded on a miss by one load however many callers miss at once."""

    def __init__(
        self, clock: Clock, *, max_entries: int = MAX_ENTRIES, on_lookup: Callable[[bool], None] | None = None
    ) -> None:
        self._clock = clock
        self._on_lookup = on_lookup  # told hit (True) or miss (False) on every read
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}
        self._loading: dict[Hashable, asyncio.Future[V | None]] = {}
        self._generation = 0  # bumped by every invalidation: a load started before one is not kept

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[V | None]], *, ttl_s: float) -> V | None:
        """The cached value, or ``load()``'s (kept unless ``None``: misses are not cached)."""
        hit = self._entries.get(key)
        if hit is not None and self._clock.monotonic() - hit[0] < ttl_s:
            if self._on_lookup is not None:
                self._on_lookup(True)
            return hit[1]
        if self._on_lookup is not None:
            self._on_lookup(False)
        loading = self._loading.get(key)
        if loading is None:
            loading = asyncio.ensure_future(self._load(key, load))
            self._loading[key] = loading
        # Shielded: a caller that is cancelled leaves the load running for the others.
        return await asyncio.shield(loading)

    async def _load(self, key: Hashable, load: Callable[[], Awaitable[V | None]]) -> V | None:
        generation = self._generation
        started = self._clock.monotonic()
        try:
            value = await load()
        finally:
            if self._loading.get(key) is asyncio.current_task():
                del self._loading[key]
        if value is not None and generation == self._generation:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # crude, but bounded; a reload costs one read
            self._entries[key] = (started, value)
        return value

    def clear(self) -> None:
        self._generation += 1
        self._entries.clear()
        self._loading.clear()  # later callers load afresh; earlier ones keep their load

    def __len__(self) -> int:
        return len(self._entries)


class CachedReferenceReader:
    """A ``ReferenceReader`` that remembers, and forgets what the change feed says changed."""

    def __init__(
        self,
        inner: ReferenceReader,
        *,
        clock: Clock,
        changes: ReferenceChanges,
        ttl_s: float = WATCHED_TTL_S,
        unwatched_ttl_s: float = UNWATCHED_TTL_S,
        metrics: Metrics | None = None,
    ) -> None:
        self._inner = inner
        self._changes = changes
        self._ttl_s = ttl_s
        self._unwatched_ttl_s = unwatched_ttl_s

        def counted(cache: str) -> Callable[[bool], None] | None:
            if metrics is None:
                return None
            return lambda hit: metrics.cache_lookup(cache, hit=hit)

        self._keys: ReadThroughCache[ApiKey] = ReadThroughCache(clock, on_lookup=counted("keys"))
        self._teams: ReadThroughCache[Team] = ReadThroughCache(clock, on_lookup=counted("teams"))
        self._aliases: ReadThroughCache[ModelAlias] = ReadThroughCache(clock, on_lookup=counted("aliases"))
        self._credentials: ReadThroughCache[StoredCredential] = ReadThroughCache(
            clock, on_lookup=counted("credentials")
        )
        self._by_kind: dict[ReferenceKind, ReadThroughCache[Any]] = {
            ReferenceKind.KEYS: self._keys,
            ReferenceKind.TEAMS: self._teams,
            ReferenceKind.ALIASES: self._aliases,
            ReferenceKind.CREDENTIALS: self._credentials,
        }
        changes.listen(self.forget)

    def forget(self, kinds: frozenset[ReferenceKind]) -> None:
        for kind in kinds:
            self._by_kind[kind].clear()

    @property
    def _ttl(self) -> float:
        return self._ttl_s if self._changes.connected else self._unwatched_ttl_s

    async def active_key(self, digest: str) -> ApiKey | None:
        return await self._keys.get_or_load(digest, lambda: self._inner.active_key(digest), ttl_s=self._ttl)

    async def team(self, team_id: TeamId) -> Team | None:
        return await self._teams.get_or_load(team_id, lambda: self._inner.team(team_id), ttl_s=self._ttl)

    async def alias(self, name: str) -> ModelAlias | None:
        return await self._aliases.get_or_load(name, lambda: self._inner.alias(name), ttl_s=self._ttl)

    async def active_credential(
        self, organization_id: OrganizationId, provider: ProviderName
    ) -> StoredCredential | None:
        return await self._credentials.get_or_load(
            (organization_id, provider),
            lambda: self._inner.active_credential(organization_id, provider),
            ttl_s=self._ttl,
        )


class UnwatchedChanges:
    """No change feed: cached entries live ``unwatched_ttl_s`` (one process, or a test)."""

    connected = False

    def listen(self, on_change: Callable[[frozenset[ReferenceKind]], None]) -> None:
        return None
