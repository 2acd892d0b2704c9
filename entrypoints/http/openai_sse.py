"""A streamed chat completion as OpenAI's server-sent events.

``data: <chunk>`` per event, no event names: a first chunk with the role, one per text
delta, one with the ``finish_reason``, then (with ``stream_options.include_usage``) one
with ``"choices": []`` and the usage, then ``data: [DONE]``. A failure after the 200
is one ``data: {"error": {...}}`` event (the ``openai`` SDK raises ``APIError`` on it)
and no ``[DONE]``.
"""

import asyncio
from collections.abc import AsyncIterator

import msgspec

from application.services.calls import CallFinished
from application.services.openai_compat import ChatStream
from domain.errors import DomainError
from domain.llm import TextDelta, ToolCallDelta
from entrypoints.http.errors import STATUS_BY_CODE
from entrypoints.http.openai_errors import error_type
from entrypoints.http.schemas.openai import (
    ChatCompletionChunk,
    ChunkChoice,
    Delta,
    ErrorDetail,
    ErrorOut,
    FunctionDelta,
    ToolCallDeltaOut,
    Usage,
    completion_id,
    unix_seconds,
    usage_of,
)

DONE = b"data: [DONE]\n\n"
_encoder = msgspec.json.Encoder()


def data(value: object) -> bytes:
    return b"data: " + _encoder.encode(value) + b"\n\n"


def error_event(code: str, detail: str) -> bytes:
    kind = error_type(STATUS_BY_CODE.get(code, 502))
    return data(ErrorOut(error=ErrorDetail(message=detail, type=kind, code=code)))


async def chat_chunks(opened: ChatStream, *, include_usage: bool) -> AsyncIterator[bytes]:
    """Relay a chat stream; closing this generator closes the stream (recording the call)."""
    started = opened.started
    created = unix_seconds(opened.created_at)
    pending: Usage | msgspec.UnsetType | None = None if include_usage else msgspec.UNSET

    def frame(choices: list[ChunkChoice], usage: Usage | msgspec.UnsetType | None) -> bytes:
        return data(
            ChatCompletionChunk(
                id=completion_id(started.call_id),
                object="chat.completion.chunk",
                created=created,
                model=started.model,
                choices=choices,
                usage=usage,
            )
        )

    def chunk(delta: Delta, finish_reason: str | None = None) -> bytes:
        return frame([ChunkChoice(index=0, delta=delta, finish_reason=finish_reason)], pending)

    try:
        yield chunk(Delta(role="assistant", content=""))
        try:
            async for item in opened.items:
                if isinstance(item, TextDelta):
                    if item.content:
                        yield chunk(Delta(content=item.content))
                elif isinstance(item, ToolCallDelta):
                    yield chunk(Delta(tool_calls=[tool_call_delta(item)]))
                elif isinstance(item, CallFinished):
                    call = item.call
                    yield chunk(Delta(), str(call.finish_reason or "stop"))
                    if include_usage:
                        yield frame([], usage_of(call.usage))
                    yield DONE
                else:
                    yield error_event(item.code, item.detail)
        except DomainError as exc:
            # After the 200 only an event can tell the client (the record failed: the call
            # is settled later from its lease, see docs/billing.md).
            yield error_event(exc.code, exc.detail)
    finally:
        # The client may be gone (cancellation): let the stream record what happened,
        # shielded from the cancellation of this request.
        await asyncio.shield(opened.close())


def tool_call_delta(delta: ToolCallDelta) -> ToolCallDeltaOut:
    return ToolCallDeltaOut(
        index=delta.index,
        id=delta.id,
        type="function" if delta.id is not None else None,
        function=FunctionDelta(name=delta.name, arguments=delta.arguments),
    )
