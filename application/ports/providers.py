"""The provider-client port: one implementation per provider (openai, anthropic, ...)."""

from collections.abc import AsyncIterator, Mapping
from typing import Protocol

import msgspec

from domain.catalog import ProviderName
from domain.ids import CredentialId
from domain.llm import LlmRequest, LlmResponse, StreamEvent


class ProviderTarget(msgspec.Struct, frozen=True, kw_only=True):
    """Where and as whom to call: the decrypted key lives only in memory, only here."""

    provider: ProviderName
    model: str
    api_key: str = msgspec.field(default="")
    api_base: str | None = None
    credential_id: CredentialId | None = None

    def __repr__(self) -> str:  # never print the key
        return f"ProviderTarget(provider={self.provider!s}, model={self.model!r}, api_base={self.api_base!r})"

    __str__ = __repr__


class ProviderClient(Protocol):
    def check(self, model: str, request: LlmRequest) -> None:
        """Raise ``UnsupportedFeatureError`` (422 ``unsupported_feature``) when this provider
        or ``model`` cannot serve the request as asked (an image by URL on Gemini, ...).
        Called before any credit is held; sends nothing."""
        ...

    async def complete(self, target: ProviderTarget, request: LlmRequest) -> LlmResponse:
        """One non-streamed call, retried on retryable errors.

        Raises a ``ProviderError`` subclass (never a library exception).
        """
        ...

    def stream(self, target: ProviderTarget, request: LlmRequest) -> AsyncIterator[StreamEvent]:
        """A streamed call: ``TextDelta``s as they arrive, then exactly one ``StreamEnd``.

        Retries happen only before the first event is yielded. A failure after that
        raises a ``ProviderError`` carrying the usage seen so far (estimated and flagged
        when the provider reported none). Closing the iterator cancels the upstream
        request.
        """
        ...


ProviderClients = Mapping[ProviderName, ProviderClient]
