"""The response cache's rules (issue 12): what is cached, under which key, for how long.

Opt-in per alias (``cache_ttl_s``). The key is a digest of the organization, the alias
and the normalized request the provider would receive (messages, the effective
``max_tokens``, every sampling parameter): an exact match, never shared across
organizations, shared by the teams of one organization. Only complete answers are kept
(finished ``stop`` or ``length``, usage reported by the provider, not replays themselves).
"""

import hashlib

import msgspec

from application.ports.response_cache import CachedAnswer, ResponseCache
from domain.access import ModelAlias
from domain.calls import CallStatus, LlmCall
from domain.ids import OrganizationId
from domain.llm import FinishReason, LlmRequest
from domain.routing import AliasTarget

KEY_VERSION = 1  # bump when the key's inputs change: old entries then simply miss
MAX_CACHED_BYTES = 1 << 20  # a longer answer is relayed but not kept
_CACHEABLE_ENDS = (FinishReason.STOP, FinishReason.LENGTH)


def response_cache_key(organization_id: OrganizationId, alias: str, request: LlmRequest) -> str:
    payload = msgspec.json.encode([KEY_VERSION, str(organization_id), alias, request])
    return hashlib.sha256(payload).hexdigest()


class ResponseCaching:
    """The cache as a call uses it; with no cache (or an alias without a TTL) it does nothing."""

    def __init__(self, cache: ResponseCache | None) -> None:
        self._cache = cache

    def key(self, organization_id: OrganizationId, alias: ModelAlias, request: LlmRequest) -> str | None:
        if self._cache is None or alias.cache_ttl_s is None:
            return None
        return response_cache_key(organization_id, alias.alias, request)

    async def lookup(self, key: str | None) -> CachedAnswer | None:
        if key is None or self._cache is None:
            return None
        return await self._cache.get(key)

    async def keep(
        self, key: str | None, alias: ModelAlias, served_by: AliasTarget, call: LlmCall, content: str
    ) -> None:
        if key is None or self._cache is None or alias.cache_ttl_s is None:
            return
        if call.status is not CallStatus.SUCCEEDED or call.usage_estimated or call.cached:
            return
        if call.finish_reason not in _CACHEABLE_ENDS or len(content.encode("utf-8")) > MAX_CACHED_BYTES:
            return
        answer = CachedAnswer(
            content=content,
            finish_reason=call.finish_reason,
            usage=call.usage,
            provider=served_by.provider,
            provider_model=served_by.provider_model,  # as configured, to find its prices again
        )
        await self._cache.put(key, answer, ttl_s=alias.cache_ttl_s)

    @staticmethod
    def collect(kept: list[str], text: str, received_bytes: int) -> list[str] | None:
        """A streamed answer's text so far, or None once it is too long to be kept."""
        if received_bytes > MAX_CACHED_BYTES:
            return None
        kept.append(text)
        return kept
