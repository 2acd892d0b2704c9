"""The normalized LLM request and response every provider adapter speaks."""

from enum import StrEnum

import msgspec

from domain.content import ContentPart, ImagePart, TextPart, image_count, text_of
from domain.errors import InvalidValueError
from domain.tools import (
    MAX_TOOL_CALLS,
    MAX_TOOLS,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    ToolSpec,
)
from domain.usage import TokenUsage


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"
    TOOL = "tool"  # a tool's result, answering the assistant's call ``tool_call_id``


class FinishReason(StrEnum):
    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    TOOL_CALLS = "tool_calls"
    ERROR = "error"


class ChatMessage(msgspec.Struct, frozen=True):
    """One turn. ``content`` is always its text; the rest is set only where it applies.

    ``parts``: the ordered text and image parts of a user message with images (empty
    otherwise; ``content`` is then their text). ``tool_calls``: the calls an assistant
    message made. ``tool_call_id``: the call a ``tool`` message answers.
    """

    role: Role
    content: str
    parts: tuple[ContentPart, ...] = ()
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None

    @classmethod
    def of_parts(cls, role: Role, parts: list[ContentPart]) -> "ChatMessage":
        """A message from content parts: plain text unless an image is among them."""
        if any(isinstance(part, ImagePart) for part in parts):
            return cls(role, text_of(parts), parts=tuple(parts))
        return cls(role, text_of(parts))

    @property
    def images(self) -> int:
        return image_count(self.parts)


class LlmRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A provider-neutral chat request; ``max_tokens`` is always set (alias default).

    The conversation must hold together the way every provider requires: a ``tool``
    message answers a call an earlier assistant message made (Gemini names the function
    in its answer, found through that call), only user messages carry images, only
    assistant messages make calls; ``tool_choice`` needs ``tools`` (except ``none``) and
    names one of them.
    """

    messages: list[ChatMessage]
    max_tokens: int
    temperature: float | None = None  # sampling knobs, not money: floats are fine here
    top_p: float | None = None
    stop: list[str] | None = None
    json_mode: bool = False
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def __post_init__(self) -> None:
        if not self.messages:
            raise InvalidValueError("messages must not be empty")
        if self.max_tokens <= 0:
            raise InvalidValueError("max_tokens must be positive")
        check_tools(self.tools, self.tool_choice)
        check_conversation(self.messages)


def check_tools(tools: tuple[ToolSpec, ...], choice: ToolChoice | None) -> None:
    if len(tools) > MAX_TOOLS:
        raise InvalidValueError(f"at most {MAX_TOOLS} tools")
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise InvalidValueError("tool names must be unique")
    if choice is None or choice.mode is ToolChoiceMode.NONE:
        return
    if not tools:
        raise InvalidValueError(f"tool_choice '{choice.name or choice.mode}' needs tools")
    if choice.name is not None and choice.name not in names:
        raise InvalidValueError(f"tool_choice names '{choice.name}', which is not among the tools")


def check_conversation(messages: list[ChatMessage]) -> None:
    called: set[str] = set()
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if message.parts and message.role is not Role.USER:
            raise InvalidValueError(f"{where}: only user messages may carry images")
        if message.tool_calls:
            if message.role is not Role.ASSISTANT:
                raise InvalidValueError(f"{where}: only assistant messages may carry tool_calls")
            if len(message.tool_calls) > MAX_TOOL_CALLS:
                raise InvalidValueError(f"{where}: at most {MAX_TOOL_CALLS} tool calls")
            called.update(call.id for call in message.tool_calls)
        if message.role is Role.TOOL:
            if not message.tool_call_id:
                raise InvalidValueError(f"{where}: a tool message needs the tool_call_id it answers")
            if message.tool_call_id not in called:
                raise InvalidValueError(
                    f"{where}: tool_call_id does not name a tool call of an earlier assistant message"
                )
        elif message.tool_call_id is not None:
            raise InvalidValueError(f"{where}: only tool messages carry a tool_call_id")


def function_name_of(messages: list[ChatMessage], tool_call_id: str, before: int) -> str | None:
    """The function named by the latest call ``tool_call_id`` made before message ``before``."""
    for message in reversed(messages[:before]):
        for call in message.tool_calls:
            if call.id == tool_call_id:
                return call.name
    return None


class LlmResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A complete (non-streamed) answer, usage mapped onto our categories."""

    content: str
    finish_reason: FinishReason
    usage: TokenUsage
    provider_model: str
    usage_estimated: bool = False
    attempts: int = 1
    tool_calls: tuple[ToolCall, ...] = ()


class TextDelta(msgspec.Struct, frozen=True, tag="delta"):
    """A piece of generated text, passed to the client as it arrives."""

    content: str


class StreamEnd(msgspec.Struct, frozen=True, kw_only=True, tag="end"):
    """The last event of a stream: final usage (estimated if the provider sent none)."""

    finish_reason: FinishReason
    usage: TokenUsage
    provider_model: str
    usage_estimated: bool = False
    attempts: int = 1
    tool_calls: tuple[ToolCall, ...] = ()  # the streamed calls, assembled


StreamEvent = TextDelta | ToolCallDelta | StreamEnd


__all__ = [
    "ChatMessage",
    "ContentPart",
    "FinishReason",
    "ImagePart",
    "LlmRequest",
    "LlmResponse",
    "Role",
    "StreamEnd",
    "StreamEvent",
    "TextDelta",
    "TextPart",
    "ToolCall",
    "ToolCallDelta",
    "ToolChoice",
    "ToolChoiceMode",
    "ToolSpec",
    "check_conversation",
    "check_tools",
    "estimate_prompt_tokens",
    "estimate_tokens",
    "estimate_usage",
    "function_name_of",
    "tokens_for_bytes",
]


def estimate_tokens(text: str) -> int:
    """A usage estimate when a provider sends none: ~4 bytes per token, at least 1 per piece."""
    return tokens_for_bytes(len(text.encode("utf-8")))


def tokens_for_bytes(size: int) -> int:
    """The estimate for ``size`` bytes of UTF-8 text (a stream keeps only this running count)."""
    return 0 if size <= 0 else max(1, -(-size // 4))


def estimate_prompt_tokens(messages: list[ChatMessage]) -> int:
    """The prompt's estimate (its messages' text), when a provider reports no usage."""
    return sum(estimate_tokens(m.content) for m in messages)


def estimate_usage(messages: list[ChatMessage], received_bytes: int) -> TokenUsage:
    """The usage estimated from what was sent and ``received_bytes`` of UTF-8 text received,
    when the provider reported none (a proxy that drops usage, a stream cut or abandoned)."""
    return TokenUsage(input=estimate_prompt_tokens(messages), output=tokens_for_bytes(received_bytes))
