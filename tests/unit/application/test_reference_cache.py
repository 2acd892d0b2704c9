"""The reference-data cache: one load per concurrent miss, forgetting on change, short
lives while the change feed is down."""

import asyncio
from datetime import UTC, datetime
from decimal import Decimal
from uuid import uuid4

import pytest

from adapters.memory.system import FakeClock
from application.caching import CachedReferenceReader, ReadThroughCache
from application.ports.reference import ChangeListener, ReferenceKind
from application.ports.repositories import ApiKey, StoredCredential
from domain.access import ModelAlias
from domain.catalog import Provider
from domain.ids import ApiKeyId, OrganizationId, TeamId
from domain.organizations import Team, TeamStatus
from tests.support.entities import new_team

NOW = datetime(2026, 1, 1, tzinfo=UTC)
ORG = OrganizationId(uuid4())


class Feed:
    def __init__(self, connected: bool = True) -> None:
        self.connected = connected
        self.listeners: list[ChangeListener] = []

    def listen(self, on_change: ChangeListener) -> None:
        self.listeners.append(on_change)

    def announce(self, *kinds: ReferenceKind) -> None:
        for listener in self.listeners:
            listener(frozenset(kinds))


class CountingReader:
    """Stores teams by id and counts every read; a read may be held open by a gate."""

    def __init__(self) -> None:
        self.teams: dict[TeamId, Team] = {}
        self.reads = 0
        self.gate: asyncio.Event | None = None

    async def team(self, team_id: TeamId) -> Team | None:
        self.reads += 1
        found = self.teams.get(team_id)  # read when the read starts, like a snapshot
        if self.gate is not None:
            await self.gate.wait()
        return found

    async def active_key(self, digest: str) -> ApiKey | None:
        self.reads += 1
        return ApiKey(
            id=ApiKeyId(uuid4()),
            team_id=TeamId(uuid4()),
            organization_id=ORG,
            prefix="sk-job-ab",
            digest=digest,
            created_at=NOW,
        )

    async def alias(self, name: str) -> ModelAlias | None:
        self.reads += 1
        return None

    async def active_credential(self, organization_id: OrganizationId, provider: Provider) -> StoredCredential | None:
        self.reads += 1
        return None


async def settle() -> None:
    """Let the started tasks run up to their first wait."""
    for _ in range(5):
        await asyncio.sleep(0)


def team(status: TeamStatus = TeamStatus.ACTIVE) -> Team:
    return new_team(ORG, status=status, created_at=NOW)


def stored_team(inner: CountingReader) -> Team:
    """An active team, stored in the reader behind the cache."""
    stored = team()
    inner.teams[stored.id] = stored
    return stored


def reader(feed: Feed | None = None) -> tuple[CachedReferenceReader, CountingReader, FakeClock, Feed]:
    inner, clock, feed = CountingReader(), FakeClock(), feed or Feed()
    return CachedReferenceReader(inner, clock=clock, changes=feed), inner, clock, feed


async def test_concurrent_misses_for_one_key_load_once() -> None:
    cached, inner, _, _ = reader()
    stored = stored_team(inner)
    inner.gate = asyncio.Event()
    waiting = [asyncio.create_task(cached.team(stored.id)) for _ in range(20)]
    await settle()
    inner.gate.set()
    assert await asyncio.gather(*waiting) == [stored] * 20
    assert inner.reads == 1
    assert await cached.team(stored.id) == stored and inner.reads == 1  # and it stays cached


async def test_a_caller_cancelled_while_loading_does_not_fail_the_others() -> None:
    cached, inner, _, _ = reader()
    stored = stored_team(inner)
    inner.gate = asyncio.Event()
    first = asyncio.create_task(cached.team(stored.id))
    second = asyncio.create_task(cached.team(stored.id))
    await settle()
    first.cancel()
    inner.gate.set()
    assert await second == stored
    with pytest.raises(asyncio.CancelledError):
        await first
    assert inner.reads == 1


async def test_a_change_is_forgotten_and_only_its_kind() -> None:
    cached, inner, _, feed = reader()
    stored = stored_team(inner)
    await cached.team(stored.id)
    await cached.active_key("d1")
    suspended = team(TeamStatus.SUSPENDED)
    inner.teams[stored.id] = suspended
    assert await cached.team(stored.id) == stored  # cached: no change announced yet
    feed.announce(ReferenceKind.TEAMS)
    assert await cached.team(stored.id) == suspended
    reads = inner.reads
    await cached.active_key("d1")  # keys were not announced: still cached
    assert inner.reads == reads


async def test_a_load_that_started_before_a_change_is_not_kept() -> None:
    cached, inner, _, feed = reader()
    stored = stored_team(inner)
    inner.gate = asyncio.Event()
    loading = asyncio.create_task(cached.team(stored.id))
    await settle()
    changed = team(TeamStatus.SUSPENDED)
    inner.teams[stored.id] = changed
    feed.announce(ReferenceKind.TEAMS)  # the change lands while the old row is being read
    inner.gate.set()
    assert await loading == stored
    inner.gate = None
    assert await cached.team(stored.id) == changed  # the stale read was not cached


async def test_entries_live_a_minute_with_the_feed_and_a_second_without() -> None:
    cached, inner, clock, feed = reader()
    stored = stored_team(inner)
    await cached.team(stored.id)
    clock.advance(59)
    await cached.team(stored.id)
    assert inner.reads == 1
    clock.advance(2)
    await cached.team(stored.id)
    assert inner.reads == 2
    feed.connected = False  # the feed is down: changes may be missed
    clock.advance(1.01)
    await cached.team(stored.id)
    assert inner.reads == 3


async def test_misses_are_not_cached() -> None:
    cached, inner, _, _ = reader()
    missing = TeamId(uuid4())
    assert await cached.team(missing) is None
    assert await cached.team(missing) is None
    assert inner.reads == 2


async def test_the_cache_is_bounded() -> None:
    cache: ReadThroughCache[Decimal] = ReadThroughCache(FakeClock(), max_entries=3)
    for n in range(10):
        await cache.get_or_load(n, lambda n=n: _value(n), ttl_s=60)  # type: ignore[misc]
    assert len(cache) <= 3


async def _value(n: int) -> Decimal:
    return Decimal(n)
