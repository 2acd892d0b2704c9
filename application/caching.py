"""A small in-process read-through cache with a time-to-live.

Reference data read on every call (virtual keys, teams, aliases, credentials) changes
rarely; caching it for at most ``ttl_s`` seconds saves several database reads per call.
The TTL is the cross-instance invalidation: a suspension, a revoked key or a changed
alias takes effect everywhere within ``ttl_s`` (one second by default, as DESIGN.md
asks). Credits and job states are never cached: they are checked in the database.
"""

from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

from application.ports.system import Clock

V = TypeVar("V")

DEFAULT_TTL_S = 1.0


class TtlCache(Generic[V]):
    def __init__(self, clock: Clock, *, ttl_s: float = DEFAULT_TTL_S, max_entries: int = 10_000) -> None:
        self._clock = clock
        self._ttl_s = ttl_s
        self._max_entries = max_entries
        self._entries: dict[Hashable, tuple[float, V]] = {}

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[V | None]]) -> V | None:
        """The cached value, or ``load()``'s (cached unless ``None``: misses are not cached)."""
        now = self._clock.monotonic()
        hit = self._entries.get(key)
        if hit is not None and now - hit[0] < self._ttl_s:
            return hit[1]
        value = await load()
        if value is not None:
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # crude, but bounded; entries live a second anyway
            self._entries[key] = (now, value)
        return value

    def invalidate(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def clear(self) -> None:
        self._entries.clear()
