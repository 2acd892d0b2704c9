"""OpenAI Chat Completions (``POST {base}/chat/completions``), JSON and SSE.

Usage: ``prompt_tokens`` includes ``cached_tokens`` and ``cache_write_tokens`` (subsets);
``completion_tokens`` includes ``reasoning_tokens`` (a subset). Streams end with
``data: [DONE]``; with ``stream_options.include_usage`` (always sent) the usage arrives
in one extra chunk with ``"choices": []`` before it.
"""

from typing import Any

import httpx
import msgspec

from adapters.providers._http import (
    Dialect,
    Parsed,
    StreamState,
    declaration,
    error_object,
    http_error,
    parse_go_duration,
    provider_message,
    retry_after_header_s,
    sampling_fields,
)
from adapters.providers._sse import ServerSentEvent
from application.errors import (
    ProviderContentFilteredError,
    ProviderError,
    ProviderQuotaError,
    ProviderRateLimitedError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from application.ports.providers import ProviderTarget
from domain.llm import (
    ChatMessage,
    FinishReason,
    ImagePart,
    LlmRequest,
    Role,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolSpec,
)
from domain.usage import TokenUsage

DEFAULT_BASE = "https://api.openai.com/v1"

FINISH_REASONS = {
    "stop": FinishReason.STOP,
    "length": FinishReason.LENGTH,
    "content_filter": FinishReason.CONTENT_FILTER,
    "tool_calls": FinishReason.TOOL_CALLS,
    "function_call": FinishReason.TOOL_CALLS,
}
QUOTA_CODES = frozenset({"insufficient_quota", "credit_balance_exhausted", "billing_hard_limit_reached"})
CONTENT_FILTER_CODES = frozenset({"content_filter", "content_policy_violation"})


# -- wire types: only the fields we read; the rest (obfuscation, logprobs, ids) is skipped


class PromptDetails(msgspec.Struct):
    cached_tokens: int | None = None
    cache_write_tokens: int | None = None


class CompletionDetails(msgspec.Struct):
    reasoning_tokens: int | None = None


class Usage(msgspec.Struct):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    prompt_tokens_details: PromptDetails | None = None
    completion_tokens_details: CompletionDetails | None = None


class Function(msgspec.Struct):
    name: str | None = None
    arguments: str | None = None


class WireToolCall(msgspec.Struct):
    id: str | None = None
    function: Function | None = None
    index: int | None = None  # streamed pieces (and Fireworks' complete calls) carry it


class Message(msgspec.Struct):
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    tool_calls: list[WireToolCall] | None = None


Delta = Message  # a streamed chunk's delta carries a message's fields, in pieces


class Choice(msgspec.Struct):
    message: Message | None = None  # of a completion
    delta: Delta | None = None  # of a stream chunk
    finish_reason: str | None = None


class Completion(msgspec.Struct):
    """A completion, or one chunk of a streamed one: the same object, in pieces."""

    choices: list[Choice] = []
    usage: Usage | None = None
    model: str = ""
    error: dict[str, Any] | None = None  # a stream's error, inside its 200


_decoder = msgspec.json.Decoder(Completion)


def map_usage(usage: Usage, *, cached_fallback: int = 0) -> TokenUsage:
    """Subsets become disjoint categories: input = prompt − cached − written, output = completion − reasoning."""
    prompt_details = usage.prompt_tokens_details
    cached = (prompt_details.cached_tokens if prompt_details else None) or cached_fallback
    written = (prompt_details.cache_write_tokens if prompt_details else None) or 0
    details = usage.completion_tokens_details
    reasoning = (details.reasoning_tokens if details else None) or 0
    cached = min(cached, usage.prompt_tokens)
    written = min(written, usage.prompt_tokens - cached)
    reasoning = min(reasoning, usage.completion_tokens)
    return TokenUsage(
        input=usage.prompt_tokens - cached - written,
        cached_input=cached,
        cache_write=written,
        output=usage.completion_tokens - reasoning,
        reasoning=reasoning,
    )


def map_finish(reason: str | None) -> FinishReason:
    return FINISH_REASONS.get(reason or "stop", FinishReason.STOP)


# -- requests: OpenAI's format is the neutral one, so this is nearly one to one ------------


def message_out(message: ChatMessage) -> dict[str, Any]:
    if message.role is Role.TOOL:
        return {"role": "tool", "tool_call_id": message.tool_call_id, "content": message.content}
    if message.tool_calls:
        return {
            "role": "assistant",
            "content": message.content or None,
            "tool_calls": [
                {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
                for call in message.tool_calls
            ],
        }
    if message.parts:
        return {"role": str(message.role), "content": [part_out(part) for part in message.parts]}
    return {"role": str(message.role), "content": message.content}


def part_out(part: Any) -> dict[str, Any]:
    if isinstance(part, ImagePart):
        image: dict[str, Any] = {"url": part.url}
        if part.detail is not None:
            image["detail"] = str(part.detail)
        return {"type": "image_url", "image_url": image}
    return {"type": "text", "text": part.text}


def tool_out(tool: ToolSpec) -> dict[str, Any]:
    function = declaration(tool, parameters="parameters")
    if tool.strict is not None:
        function["strict"] = tool.strict
    return {"type": "function", "function": function}


def tool_choice_out(choice: ToolChoice) -> str | dict[str, Any]:
    if choice.name is not None:
        return {"type": "function", "function": {"name": choice.name}}
    return str(choice.mode)


def tool_calls_in(calls: list[WireToolCall] | None) -> tuple[ToolCall, ...]:
    found: list[ToolCall] = []
    for call in calls or []:
        function = call.function or Function()
        found.append(ToolCall(id=call.id or "", name=function.name or "", arguments=function.arguments or ""))
    return tuple(found)


class OpenAIStream(StreamState):
    def __init__(self, request: LlmRequest, model: str, *, cached_fallback: int = 0) -> None:
        super().__init__(request, model)
        self.cached_fallback = cached_fallback
        self.refused = False

    def feed(self, event: ServerSentEvent) -> str | None:
        data = event.data
        if data == "[DONE]":
            self.finished = True
            return None
        if not data:
            return None
        chunk = _decoder.decode(data)
        if chunk.error is not None:
            raise stream_error(chunk.error)
        if chunk.model:
            self.model = chunk.model
        if chunk.usage is not None:
            self.usage = map_usage(chunk.usage, cached_fallback=self.cached_fallback)
        text: str | None = None
        for choice in chunk.choices:
            if choice.finish_reason is not None:
                self.finish_reason = FinishReason.CONTENT_FILTER if self.refused else map_finish(choice.finish_reason)
            delta = choice.delta
            if delta is None:
                continue
            if delta.reasoning_content:
                self.count_thinking(delta.reasoning_content)
            for position, call in enumerate(delta.tool_calls or []):
                function = call.function or Function()
                self.add_tool_delta(
                    ToolCallDelta(
                        index=call.index if call.index is not None else position,
                        id=call.id or None,
                        name=function.name or None,
                        arguments=function.arguments or "",
                    )
                )
            piece = self.visible(delta)
            if piece:
                text = self.counted(piece) if text is None else text + self.counted(piece)
        return text

    def visible(self, delta: Delta) -> str | None:
        if delta.refusal:
            self.refused = True
            self.finish_reason = FinishReason.CONTENT_FILTER
            return delta.refusal
        return delta.content

    def complete(self) -> bool:
        # [DONE] is the end marker; a proxy that closes right after the usage chunk is fine too
        return self.finished or (self.finish_reason is not None and self.usage is not None)


def stream_error(error: dict[str, Any]) -> ProviderError:
    """An error object sent inside a 200 stream."""
    message = provider_message(error.get("message"), "") or "error in stream"
    kind = str(error.get("type") or error.get("code") or "")
    if "rate_limit" in kind:
        return ProviderRateLimitedError(f"stream error: {message}")
    if kind in ("server_error", "overloaded_error", "api_error"):
        return ProviderUnavailableError(f"stream error: {message}")
    return ProviderResponseError(f"stream error: {message}")


class OpenAIDialect(Dialect):
    label = "OpenAI"
    default_base = DEFAULT_BASE
    max_tokens_field = "max_completion_tokens"  # `max_tokens` is refused by reasoning models

    def url(self, target: ProviderTarget, *, stream: bool) -> str:
        return (target.api_base or self.default_base).rstrip("/") + "/chat/completions"

    def headers(self, target: ProviderTarget) -> dict[str, str]:
        return {"authorization": f"Bearer {target.api_key}", "content-type": "application/json"}

    def body(self, target: ProviderTarget, request: LlmRequest, *, stream: bool) -> bytes:
        payload: dict[str, Any] = {
            "model": target.model,
            "messages": [message_out(m) for m in request.messages],
            self.max_tokens_field: request.max_tokens,
        }
        if request.tools:
            payload["tools"] = [tool_out(tool) for tool in request.tools]
            if request.parallel_tool_calls is not None:
                payload["parallel_tool_calls"] = request.parallel_tool_calls
            if request.tool_choice is not None:  # only beside tools: OpenAI refuses it alone
                payload["tool_choice"] = tool_choice_out(request.tool_choice)
        payload.update(sampling_fields(request, top_p="top_p", stop="stop"))
        if request.json_mode:
            payload["response_format"] = {"type": "json_object"}
        if stream:
            payload["stream"] = True
            payload["stream_options"] = {"include_usage": True}
        return msgspec.json.encode(payload)

    def parse(self, body: bytes, headers: httpx.Headers) -> Parsed:
        completion = _decoder.decode(body)
        choice = completion.choices[0] if completion.choices else None
        message = choice.message if choice is not None else None
        if choice is None or message is None:
            raise ProviderResponseError(f"{self.label} answered without a choice")
        finish = map_finish(choice.finish_reason)
        content = self.content(message.content or "")
        if message.refusal and not content:
            content, finish = message.refusal, FinishReason.CONTENT_FILTER
        usage = None
        if completion.usage is not None:
            usage = map_usage(completion.usage, cached_fallback=self.cached_header(headers))
        return Parsed(
            content=content,
            finish_reason=finish,
            usage=usage,
            provider_model=completion.model,
            tool_calls=tool_calls_in(message.tool_calls),
        )

    def content(self, text: str) -> str:
        return text

    def cached_header(self, headers: httpx.Headers) -> int:
        return 0

    def error(self, status: int, headers: httpx.Headers, body: bytes, api_key: str) -> ProviderError:
        error = error_object(body, text_is_message=True)
        message = provider_message(error.get("message"), api_key)
        code = str(error.get("code") or "").lower()
        kind = str(error.get("type") or "").lower()
        retry_after = retry_after_header_s(headers)
        if status == 429:
            if code in QUOTA_CODES or kind in QUOTA_CODES:
                return ProviderQuotaError(f"{self.label} quota exhausted: {message or 'no message'}")
            if retry_after is None:
                retry_after = self.reset_after(headers, kind)
        if status == 400 and (code in CONTENT_FILTER_CODES or kind in CONTENT_FILTER_CODES):
            return ProviderContentFilteredError(f"{self.label} refused the content: {message or 'no message'}")
        return http_error(self.label, status, message, retry_after_s=retry_after)

    @staticmethod
    def reset_after(headers: httpx.Headers, kind: str) -> float | None:
        """The wait from ``x-ratelimit-reset-{requests,tokens}`` for the exhausted limit."""
        requests = parse_go_duration(headers.get("x-ratelimit-reset-requests", ""))
        tokens = parse_go_duration(headers.get("x-ratelimit-reset-tokens", ""))
        if kind == "tokens" and tokens is not None:
            return tokens
        if kind == "requests" and requests is not None:
            return requests
        known = [value for value in (requests, tokens) if value is not None]
        return max(known) if known else None

    def stream_state(self, request: LlmRequest, target: ProviderTarget, headers: httpx.Headers) -> StreamState:
        return OpenAIStream(request, target.model, cached_fallback=self.cached_header(headers))


__all__ = ["OpenAIDialect", "OpenAIStream", "map_usage"]
