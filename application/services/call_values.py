"""What the call use cases take and give: the request, the plain result, the stream's items."""

from collections.abc import AsyncGenerator, Awaitable, Callable

import msgspec

from application.errors import ProviderError
from application.ports.rate_limits import RateLimitWindow
from domain.calls import LlmCall
from domain.catalog import ProviderName
from domain.ids import CallId, JobId
from domain.llm import (
    ChatMessage,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolSpec,
    check_conversation,
    check_tools,
)

MAX_PURPOSE_LENGTH = 500


class CallRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a client asks for: an alias and a chat, plus optional sampling knobs and tools.

    The conversation and tools are checked on construction (``InvalidValueError``), so a
    request that no provider could take is refused before anything is counted or held.
    """

    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    json_mode: bool = False
    purpose: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def __post_init__(self) -> None:
        check_tools(self.tools, self.tool_choice)
        check_conversation(self.messages)


class CallResult(msgspec.Struct, frozen=True, kw_only=True):
    call: LlmCall
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    rate_limits: tuple[RateLimitWindow, ...] = ()  # the team's windows as this call left them


class ClientGoneError(ProviderError):
    """The client went away before the call ended: the call's outcome, not the provider's fault."""


class CallStarted(msgspec.Struct, frozen=True, kw_only=True):
    call_id: CallId
    job_id: JobId
    model: str
    provider: ProviderName


class CallFinished(msgspec.Struct, frozen=True, kw_only=True):
    call: LlmCall
    tool_calls: tuple[ToolCall, ...] = ()  # the streamed calls, assembled


class CallFailed(msgspec.Struct, frozen=True, kw_only=True):
    call: LlmCall
    code: str
    detail: str


StreamItem = TextDelta | ToolCallDelta | CallFinished | CallFailed


class CallStream(msgspec.Struct, frozen=True, kw_only=True):
    """An opened stream: the provider already answered, so the client may get a 200.

    ``close`` must be awaited when the consumer is done (or gone), shielded from
    cancellation: it ends the relay and makes sure the call's outcome is recorded.
    """

    started: CallStarted
    items: AsyncGenerator[StreamItem, None]
    close: Callable[[], Awaitable[None]]
    rate_limits: tuple[RateLimitWindow, ...] = ()  # the team's windows as this call left them
