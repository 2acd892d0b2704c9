"""Anthropic Messages (``POST {base}/v1/messages``), JSON and SSE.

Usage: ``input_tokens`` excludes cache reads and writes, which come as
``cache_read_input_tokens`` and ``cache_creation_input_tokens`` (additions, not subsets);
``output_tokens`` includes extended thinking, which the API does not split out, so it all
counts as output. Streams: ``message_start`` carries the prompt-side counts (and a
placeholder output of 1), ``message_delta`` the cumulative, final usage (taken as is,
never summed), ``message_stop`` ends; an ``event: error`` may follow a 200.

There is no JSON mode in the Messages API; ``json_mode`` adds a system instruction.

Tools: a tool is ``{"name", "description", "input_schema"}``; the model's calls are
``tool_use`` blocks (``input`` an object, given to clients as its JSON text), and results
go back as ``tool_result`` blocks at the start of the next user turn (consecutive tool
messages share one turn, as parallel calls' results must). A streamed call opens with a
``content_block_start`` of type ``tool_use`` (its id and name) and sends its input as
``input_json_delta`` fragments. Images are ``image`` blocks, ``base64`` for data URIs and
``url`` for URLs. ``tool_choice`` maps to ``auto``/``any``/``tool``/``none``, and
``parallel_tool_calls: false`` to ``disable_parallel_tool_use``.
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
    provider_message,
    retry_after_header_s,
    sampling_fields,
)
from adapters.providers._sse import ServerSentEvent
from application.errors import ProviderError, ProviderQuotaError
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
    ToolChoiceMode,
    ToolSpec,
)
from domain.tools import arguments_object
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
    id: str | None = None  # tool_use
    name: str | None = None
    input: Any = None
    partial_json: str | None = None  # input_json_delta


class Message(msgspec.Struct):
    content: list[Block] = []
    model: str = ""
    stop_reason: str | None = None
    usage: Usage | None = None


class MessageStart(msgspec.Struct):
    message: Message


class BlockStart(msgspec.Struct):
    content_block: Block
    index: int = 0


class BlockDelta(msgspec.Struct):
    delta: Block
    index: int = 0


class BlockStop(msgspec.Struct):
    index: int = 0


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
_block_stop_decoder = msgspec.json.Decoder(BlockStop)
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


def tool_call_of(block: Block) -> ToolCall:
    arguments = msgspec.json.encode(block.input if block.input is not None else {}).decode()
    return ToolCall(id=block.id or "", name=block.name or "", arguments=arguments)


class AnthropicStream(StreamState):
    thinking_is_output = True

    def __init__(self, request: LlmRequest, model: str) -> None:
        super().__init__(request, model)
        self.tool_blocks: dict[int, list[int]] = {}  # content block index → [tool call index, fragments sent]

    def feed(self, event: ServerSentEvent) -> str | None:
        name = event.event
        if name == "content_block_delta":
            block_delta = _block_delta_decoder.decode(event.data)
            delta = block_delta.delta
            if delta.type == "text_delta" and delta.text:
                return self.counted(delta.text)
            if delta.type == "input_json_delta":
                tool = self.tool_blocks.get(block_delta.index)
                if tool is not None and delta.partial_json:
                    tool[1] += 1
                    self.add_tool_delta(ToolCallDelta(index=tool[0], arguments=delta.partial_json))
                return None
            if delta.thinking:
                self.count_thinking(delta.thinking)
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
            opened = _block_start_decoder.decode(event.data)
            block = opened.content_block
            if block.type == "text" and block.text:
                return self.counted(block.text)
            if block.type == "tool_use":
                index = len(self.tool_blocks)
                self.tool_blocks[opened.index] = [index, 0]
                self.add_tool_delta(ToolCallDelta(index=index, id=block.id or "", name=block.name or ""))
        elif name == "content_block_stop":
            tool = self.tool_blocks.get(_block_stop_decoder.decode(event.data).index)
            if tool is not None and tool[1] == 0:
                # a call without parameters sends no fragment: its arguments are an empty object
                tool[1] = 1
                self.add_tool_delta(ToolCallDelta(index=tool[0], arguments="{}"))
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
            "messages": messages_out(request.messages),
        }
        if request.tools:
            payload["tools"] = [tool_out(tool) for tool in request.tools]
        choice = tool_choice_out(request.tool_choice, request.parallel_tool_calls, bool(request.tools))
        if choice is not None:
            payload["tool_choice"] = choice
        if system:
            payload["system"] = "\n\n".join(system)
        payload.update(sampling_fields(request, top_p="top_p", stop="stop_sequences"))
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
            tool_calls=tuple(tool_call_of(block) for block in message.content if block.type == "tool_use"),
        )

    def error(self, status: int, headers: httpx.Headers, body: bytes, api_key: str) -> ProviderError:
        message = provider_message(error_object(body).get("message"), api_key)
        retry_after = retry_after_header_s(headers)
        if status == 400 and message and "credit balance" in message.lower():
            return ProviderQuotaError(f"{self.label} credit balance exhausted: {message}")
        return http_error(self.label, status, message, retry_after_s=retry_after)

    def stream_state(self, request: LlmRequest, target: ProviderTarget, headers: httpx.Headers) -> StreamState:
        return AnthropicStream(request, target.model)


def messages_out(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    """The turns after the system prompt; a tool result joins the user turn it must start."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        if message.role is Role.SYSTEM:
            continue
        role = "assistant" if message.role is Role.ASSISTANT else "user"
        blocks = blocks_out(message)
        previous = turns[-1] if turns else None
        if previous is not None and previous["role"] == "user" == role and _has_tool_results(previous):
            previous["content"].extend(blocks)  # results first, then whatever the user adds
        elif message.role is Role.TOOL or message.parts or message.tool_calls:
            turns.append({"role": role, "content": blocks})
        else:
            turns.append({"role": role, "content": message.content})
    return turns


def _has_tool_results(turn: dict[str, Any]) -> bool:
    content = turn["content"]
    return isinstance(content, list) and any(block.get("type") == "tool_result" for block in content)


def blocks_out(message: ChatMessage) -> list[dict[str, Any]]:
    if message.role is Role.TOOL:
        return [{"type": "tool_result", "tool_use_id": message.tool_call_id, "content": message.content}]
    if message.tool_calls:
        blocks: list[dict[str, Any]] = [{"type": "text", "text": message.content}] if message.content else []
        for index, call in enumerate(message.tool_calls):
            arguments = arguments_object(call.arguments, f"tool_calls[{index}]")
            blocks.append({"type": "tool_use", "id": call.id, "name": call.name, "input": arguments})
        return blocks
    if message.parts:
        out: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, ImagePart):
                source: dict[str, Any]
                if part.is_data:
                    source = {"type": "base64", "media_type": part.media_type, "data": part.base64_data}
                else:
                    source = {"type": "url", "url": part.url}
                out.append({"type": "image", "source": source})
            elif part.text:
                out.append({"type": "text", "text": part.text})
        return out
    return [{"type": "text", "text": message.content}]


def tool_out(tool: ToolSpec) -> dict[str, Any]:
    declared = declaration(tool, parameters="input_schema")
    # Also when blank: "input_schema" is required (a tool without parameters takes an empty object).
    declared["input_schema"] = tool.parameters or {"type": "object", "properties": {}}
    return declared


def tool_choice_out(choice: ToolChoice | None, parallel: bool | None, has_tools: bool) -> dict[str, Any] | None:
    if not has_tools or (choice is None and parallel is None):
        return None
    if choice is None or choice.mode is ToolChoiceMode.AUTO:
        out: dict[str, Any] = {"type": "auto"}
    elif choice.mode is ToolChoiceMode.NONE:
        return {"type": "none"}
    elif choice.name is not None:
        out = {"type": "tool", "name": choice.name}
    else:
        out = {"type": "any"}
    if parallel is False:
        out["disable_parallel_tool_use"] = True
    return out
