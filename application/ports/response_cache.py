"""The response cache port: answers kept for a while under a key the application computes."""

from typing import Protocol

import msgspec

from domain.catalog import ProviderName
from domain.llm import FinishReason
from domain.usage import TokenUsage


class CachedAnswer(msgspec.Struct, frozen=True, kw_only=True):
    """A provider's complete answer, as kept for replay: its text, how it ended, what it
    used and which target produced it (a replay is priced at that target's customer price)."""

    content: str
    finish_reason: FinishReason
    usage: TokenUsage
    provider: ProviderName
    provider_model: str


class ResponseCache(Protocol):
    """Best effort: a cache that cannot be reached behaves as empty and forgets what it is
    given (it never fails a call); ``get`` never returns an entry past its time to live."""

    async def get(self, key: str) -> CachedAnswer | None: ...

    async def put(self, key: str, answer: CachedAnswer, *, ttl_s: int) -> None: ...
