"""Anthropic Messages (``POST {base}/v1/messages``), JSON and SSE.

Usage: ``input_tokens`` excludes cache reads and writes, which come as
``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (additions, not subsets);
``output_tokens`` includes extended thinking, which the API does not split out, so it all
counts as output. Streams: ``message_start`` carries the prompt-side counts (and a
placeholder output of 1), ``message_delta`` the cumulative, final usage (taken as is,
never summed), ``message_stop`` ends; an ``event: error`` may follow a 200.

There is no JSON mode in the Messages API; ``json_mode`` adds a system instruction.
"""

from typing import Any

import httpx
import msgspec

from adapters.providers._http import (
    Dialect,
    HttpProviderClient,
    Parsed,
    RetryPolicy,
    StreamState,
    Timeouts,
    decode_error_body,
    http_error,
    provider_message,
    retry_after_header_s,
)
from adapters.providers._sse import ServerSentEvent
from application.errors import ProviderError, ProviderQuotaError
from application.ports.providers import ProviderTarget
from domain.llm import FinishReason, LlmRequest, Role
from domain.usage import TokenUsage

DEFAULT_BASE = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
JSON_INSTRUCTION = "Respond with a single valid JSON object and nothing else."

FINISH_REASONS = {
    "end_turn": FinishReason.STOP,
    "stop_sequence": FinishReason.STOP,
    "pause_turn": FinishReason.STOP,
    "max_tokens": FinishReason.LENGTH,
    "model_context_window_exceeded": FinishReason.LENGTH,
    "tool_use": FinishReason.TOOL_CALLS,
    "refusal": FinishReason.CONTENT_FILTER,
}
# error.type → the HTTP status Anthropic uses for it (errors inside a 200 stream have none)
ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class Usage(msgspec.Struct):
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    cache_read_input_tokens: int | None = None


class Block(msgspec.Struct):
    type: str = ""
    text: str | None = None
    thinking: str | None = None


class Message(msgspec.Struct):
    content: list[Block] = []
    model: str = ""
    stop_reason: str | None = None
    usage: Usage | None = None


class MessageStart(msgspec.Struct):
    message: Message


class BlockStart(msgspec.Struct):
    content_block: Block


class BlockDelta(msgspec.Struct):
    delta: Block


class StopDelta(msgspec.Struct):
    stop_reason: str | None = None


class MessageDelta(msgspec.Struct):
    delta: StopDelta | None = None
    usage: Usage | None = None


class ErrorEvent(msgspec.Struct):
    error: dict[str, Any] = {}


_message_decoder = msgspec.json.Decoder(Message)
_start_decoder = msgspec.json.Decoder(MessageStart)
_block_start_decoder = msgspec.json.Decoder(BlockStart)
_block_delta_decoder = msgspec.json.Decoder(BlockDelta)
_message_delta_decoder = msgspec.json.Decoder(MessageDelta)
_error_decoder = msgspec.json.Decoder(ErrorEvent)


def map_usage(usage: Usage, *, before: TokenUsage | None = None) -> TokenUsage:
    """Additions map one to one; a field a later event omits keeps its earlier value."""
    base = before or TokenUsage()

    def pick(value: int | None, fallback: int) -> int:
        return fallback if value is None else value

    return TokenUsage(
        input=pick(usage.input_tokens, base.input),
        cached_input=pick(usage.cache_read_input_tokens, base.cached_input),
        cache_write=pick(usage.cache_creation_input_tokens, base.cache_write),
        output=pick(usage.output_tokens, base.output),
    )


def map_finish(reason: str | None) -> FinishReason:
    return FINISH_REASONS.get(reason or "end_turn", FinishReason.STOP)


def error_for_type(label: str, kind: str, message: str, *, retry_after_s: float | None = None) -> ProviderError:
    status = ERROR_STATUS.get(kind, 500 if kind.endswith("api_error") else 400)
    if status == 400 and "credit balance" in message.lower():
        return ProviderQuotaError(f"{label} credit balance exhausted: {message}")
    return http_error(label, status, message, retry_after_s=retry_after_s)


class AnthropicStream(StreamState):
    thinking_is_output = True

    def feed(self, event: ServerSentEvent) -> str | None:
        name = event.event
        if name == "content_block_delta":
            delta = _block_delta_decoder.decode(event.data).delta
            if delta.type == "text_delta" and delta.text:
                self.text_bytes += len(delta.text.encode())
                return delta.text
            if delta.thinking:
                self.thinking_bytes += len(delta.thinking.encode())
            return None
        if name == "message_start":
            message = _start_decoder.decode(event.data).message
            self.model = message.model or self.model
            if message.usage is not None:
                start = map_usage(message.usage)
                self.prompt_usage = TokenUsage(
                    input=start.input, cached_input=start.cached_input, cache_write=start.cache_write
                )
        elif name == "content_block_start":
            block = _block_start_decoder.decode(event.data).content_block
            if block.type == "text" and block.text:
                self.text_bytes += len(block.text.encode())
                return block.text
        elif name == "message_delta":
            final = _message_delta_decoder.decode(event.data)
            if final.delta is not None and final.delta.stop_reason is not None:
                self.finish_reason = map_finish(final.delta.stop_reason)
            if final.usage is not None:
                self.usage = map_usage(final.usage, before=self.prompt_usage)
        elif name == "message_stop":
            self.finished = True
        elif name == "error":
            error = _error_decoder.decode(event.data).error
            raise error_for_type(
                "Anthropic",
                str(error.get("type") or ""),
                provider_message(error.get("message"), "") or "error in stream",
            )
        return None  # ping, content_block_stop and events added later

    def complete(self) -> bool:
        return self.finished or (self.usage is not None and self.finish_reason is not None)


class AnthropicDialect(Dialect):
    label = "Anthropic"

    def url(self, target: ProviderTarget, *, stream: bool) -> str:
        return (target.api_base or DEFAULT_BASE).rstrip("/") + "/v1/messages"

    def headers(self, target: ProviderTarget) -> dict[str, str]:
        return {"x-api-key": target.api_key, "anthropic-version": API_VERSION, "content-type": "application/json"}

    def body(self, target: ProviderTarget, request: LlmRequest, *, stream: bool) -> bytes:
        system = [m.content for m in request.messages if m.role is Role.SYSTEM]
        if request.json_mode:
            system.append(JSON_INSTRUCTION)
        payload: dict[str, Any] = {
            "model": target.model,
            "max_tokens": request.max_tokens,
            "messages": [
                {"role": str(m.role), "content": m.content} for m in request.messages if m.role is not Role.SYSTEM
            ],
        }
        if system:
            payload["system"] = "\n\n".join(system)
        if request.temperature is not None:
            payload["temperature"] = request.temperature
        if request.top_p is not None:
            payload["top_p"] = request.top_p
        if request.stop:
            payload["stop_sequences"] = request.stop
        if stream:
            payload["stream"] = True
        return msgspec.json.encode(payload)

    def parse(self, body: bytes, headers: httpx.Headers) -> Parsed:
        message = _message_decoder.decode(body)
        content = "".join(block.text or "" for block in message.content if block.type == "text")
        return Parsed(
            content=content,
            finish_reason=map_finish(message.stop_reason),
            usage=map_usage(message.usage) if message.usage is not None else None,
            provider_model=message.model,
        )

    def error(self, status: int, headers: httpx.Headers, body: bytes, api_key: str) -> ProviderError:
        envelope = decode_error_body(body).get("error")
        error: dict[str, Any] = envelope if isinstance(envelope, dict) else {}
        message = provider_message(error.get("message"), api_key)
        retry_after = retry_after_header_s(headers)
        if status == 400 and message and "credit balance" in message.lower():
            return ProviderQuotaError(f"{self.label} credit balance exhausted: {message}")
        return http_error(self.label, status, message, retry_after_s=retry_after)

    def stream_state(self, request: LlmRequest, target: ProviderTarget, headers: httpx.Headers) -> StreamState:
        return AnthropicStream(request, target.model)


def anthropic_client(http: httpx.AsyncClient, *, timeouts: Timeouts, retry: RetryPolicy) -> HttpProviderClient:
    return HttpProviderClient(AnthropicDialect(), http, timeouts=timeouts, retry=retry)
