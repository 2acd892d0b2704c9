"""The normalized LLM request and response every provider adapter speaks."""

from enum import StrEnum

import msgspec

from domain.errors import InvalidValueError
from domain.usage import TokenUsage


class Role(StrEnum):
    SYSTEM = "system"
    USER = "user"
    ASSISTANT = "assistant"


class FinishReason(StrEnum):
    STOP = "stop"
    LENGTH = "length"
    CONTENT_FILTER = "content_filter"
    TOOL_CALLS = "tool_calls"
    ERROR = "error"


class ChatMessage(msgspec.Struct, frozen=True):
    role: Role
    content: str


class LlmRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A provider-neutral chat request; ``max_tokens`` is always set (alias default)."""

    messages: list[ChatMessage]
    max_tokens: int
    temperature: float | None = None  # sampling knobs, not money: floats are fine here
    top_p: float | None = None
    stop: list[str] | None = None
    json_mode: bool = False

    def __post_init__(self) -> None:
        if not self.messages:
            raise InvalidValueError("messages must not be empty")
        if self.max_tokens <= 0:
            raise InvalidValueError("max_tokens must be positive")


class LlmResponse(msgspec.Struct, frozen=True, kw_only=True):
    """A complete (non-streamed) answer, usage mapped onto our categories."""

    content: str
    finish_reason: FinishReason
    usage: TokenUsage
    provider_model: str
    usage_estimated: bool = False
    attempts: int = 1


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


StreamEvent = TextDelta | StreamEnd


def estimate_tokens(text: str) -> int:
    """A usage estimate when a provider sends none: ~4 bytes per token, at least 1 per piece."""
    return tokens_for_bytes(len(text.encode("utf-8")))


def tokens_for_bytes(size: int) -> int:
    """The estimate for ``size`` bytes of UTF-8 text (a stream keeps only this running count)."""
    return 0 if size <= 0 else max(1, -(-size // 4))
