"""Server-sent events for streamed calls (API.md: start, delta | tool_call…, done | error).

A ``tool_call`` event is one piece of a tool call, OpenAI-style: the first piece of call
``index`` carries its ``id`` and ``name``, later ones fragments of ``arguments`` (which
concatenate to the call's JSON text); ``done`` then carries the calls assembled as
``tool_calls`` (OpenAI's shape), present only when the model made some.
"""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import msgspec

from application.services.calls import CallFailed, CallFinished, CallStream
from domain.calls import LlmCall
from domain.errors import DomainError
from domain.llm import TextDelta, ToolCallDelta
from entrypoints.http.schemas.chat import tool_calls_out
from entrypoints.http.schemas.client import usage_out
from entrypoints.http.schemas.money import fixed_point

_encoder = msgspec.json.Encoder()


def event(name: str, data: Any) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encoder.encode(data) + b"\n\n"


async def call_events(
    stream: CallStream,
    *,
    start_extra: dict[str, Any] | None = None,
    on_end: Callable[[CallFinished | CallFailed], Awaitable[dict[str, Any]]] | None = None,
    on_call: Callable[[LlmCall], None] | None = None,
) -> AsyncIterator[bytes]:
    """Relay a call stream as SSE bytes; closing this generator closes the call stream.

    ``on_end`` may add fields to the final event (create-and-call adds the job's costs);
    ``on_call`` is told the recorded call (for the request's log line).
    """
    started = stream.started
    items = stream.items
    try:
        yield event(
            "start",
            {
                "call_id": started.call_id,
                "model": started.model,
                "provider": str(started.provider),
                **(start_extra or {}),
            },
        )
        try:
            async for item in items:
                if isinstance(item, TextDelta):
                    yield event("delta", {"content": item.content})
                elif isinstance(item, ToolCallDelta):
                    yield event("tool_call", tool_call_data(item))
                else:
                    if on_call is not None:
                        on_call(item.call)
                    extra = await on_end(item) if on_end is not None else {}
                    if isinstance(item, CallFinished):
                        call = item.call
                        if item.tool_calls:
                            extra = {"tool_calls": tool_calls_out(item.tool_calls), **extra}
                        yield event(
                            "done",
                            {
                                "call_id": call.id,
                                "finish_reason": (call.finish_reason or "stop").__str__(),
                                "usage": usage_out(call.usage),
                                "usage_estimated": call.usage_estimated,
                                "latency_ms": call.latency_ms,
                                "ttft_ms": call.ttft_ms,
                                "customer_cost_usd": fixed_point(call.cost.customer_price_usd),
                                "credits": fixed_point(call.credits),
                                **extra,
                            },
                        )
                    else:
                        yield event(
                            "error", {"code": item.code, "detail": item.detail, "call_id": item.call.id, **extra}
                        )
        except DomainError as exc:
            # After the 200 only an event can tell the client (the record failed: the call
            # is settled later from its lease, see docs/billing.md).
            yield event("error", {"code": exc.code, "detail": exc.detail, "call_id": started.call_id})
    finally:
        # The client may be gone (cancellation): let the call stream record and settle
        # whatever happened, shielded from the cancellation of this request.
        await asyncio.shield(stream.close())


def tool_call_data(delta: ToolCallDelta) -> dict[str, Any]:
    data: dict[str, Any] = {"index": delta.index}
    if delta.id is not None:
        data["id"] = delta.id
    if delta.name is not None:
        data["name"] = delta.name
    data["arguments"] = delta.arguments
    return data
