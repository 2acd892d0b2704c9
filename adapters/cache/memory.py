"""The response cache in this process's memory: bounded, least recently used first out."""

from collections import OrderedDict

from application.ports.response_cache import CachedAnswer
from application.ports.system import Clock

DEFAULT_MAX_ENTRIES = 10_000


class MemoryResponseCache:
    """Each instance keeps its own entries (a hit on one instance is a miss on another)."""

    def __init__(self, clock: Clock, *, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._clock = clock
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[float, CachedAnswer]] = OrderedDict()

    async def get(self, key: str) -> CachedAnswer | None:
        found = self._entries.get(key)
        if found is None:
            return None
        expires_at, answer = found
        if self._clock.monotonic() >= expires_at:
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return answer

    async def put(self, key: str, answer: CachedAnswer, *, ttl_s: int) -> None:
        self._entries[key] = (self._clock.monotonic() + ttl_s, answer)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)
