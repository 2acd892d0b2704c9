"""A scripted provider client: answers what the test scripted, records what it was asked."""

import asyncio
from collections import deque
from collections.abc import AsyncIterator

import msgspec

from application.errors import ProviderError
from application.ports.providers import ProviderTarget
from domain.errors import UnsupportedFeatureError
from domain.llm import FinishReason, LlmRequest, LlmResponse, StreamEnd, StreamEvent, TextDelta, ToolCall, ToolCallDelta
from domain.usage import TokenUsage


class Reply(msgspec.Struct, frozen=True, kw_only=True):
    """A scripted answer; streamed as ``chunks`` when streaming.

    ``fail_after`` raises ``error`` after that many chunks (a failure mid-stream).
    """

    chunks: tuple[str, ...] = ("Hello", " world")
    usage: TokenUsage = TokenUsage(input=10, output=2)
    finish_reason: FinishReason = FinishReason.STOP
    error: ProviderError | None = None
    fail_after: int | None = None
    delay_s: float = 0.0  # pause before each chunk, to let a test act mid-stream
    tool_calls: tuple[ToolCall, ...] = ()  # streamed whole, one delta each, after the chunks


class ScriptedProviderClient:
    def __init__(self, *replies: Reply | ProviderError, model: str = "scripted-model") -> None:
        self._script: deque[Reply | ProviderError] = deque(replies)
        self.requests: list[tuple[ProviderTarget, LlmRequest]] = []
        self.model = model
        self.closed_streams = 0
        self.unsupported: str | None = None  # set: ``check`` refuses every request with this reason
        self.checked: list[LlmRequest] = []

    def check(self, model: str, request: LlmRequest) -> None:
        self.checked.append(request)
        if self.unsupported is not None:
            raise UnsupportedFeatureError(self.unsupported, param="tools")

    def push(self, *replies: Reply | ProviderError) -> None:
        self._script.extend(replies)

    def _next(self, target: ProviderTarget, request: LlmRequest) -> Reply:
        self.requests.append((target, request))
        item = self._script.popleft() if self._script else Reply()
        if isinstance(item, ProviderError):
            raise item
        return item

    async def complete(self, target: ProviderTarget, request: LlmRequest) -> LlmResponse:
        reply = self._next(target, request)
        if reply.error is not None:
            raise reply.error
        return LlmResponse(
            content="".join(reply.chunks),
            finish_reason=reply.finish_reason,
            usage=reply.usage,
            provider_model=self.model,
            tool_calls=reply.tool_calls,
        )

    async def stream(self, target: ProviderTarget, request: LlmRequest) -> AsyncIterator[StreamEvent]:
        reply = self._next(target, request)
        try:
            for index, chunk in enumerate(reply.chunks):
                if reply.fail_after is not None and index == reply.fail_after and reply.error is not None:
                    raise reply.error
                if reply.delay_s:
                    await asyncio.sleep(reply.delay_s)
                yield TextDelta(chunk)
            for index, call in enumerate(reply.tool_calls):
                yield ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments)
            if reply.error is not None:
                raise reply.error
            yield StreamEnd(
                finish_reason=reply.finish_reason,
                usage=reply.usage,
                provider_model=self.model,
                tool_calls=reply.tool_calls,
            )
        finally:
            self.closed_streams += 1
