"""Bodies of the OpenAI-compatible surface (``/v1``): OpenAI's Chat Completions shapes.

Every field of OpenAI's request is known here and has one of three fates (docs/api.md,
"/v1"): **honoured** (mapped onto the call), **ignored** (harmless: it changes neither
what the model is asked nor what it costs), or **refused** with 422
``unsupported_feature`` naming the field (honouring it is not built yet, and silently
dropping it would change the answer or its price). A field OpenAI does not define is a
schema violation (422 ``invalid_request``), as on the job API.
"""

from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

from application.services.calls import CallRequest
from domain.access import ModelAlias
from domain.calls import LlmCall
from domain.errors import InvalidValueError, UnsupportedFeatureError
from domain.ids import CallId
from domain.llm import ChatMessage, Role, ToolCall
from domain.usage import TokenUsage
from entrypoints.http.schemas.chat import (
    MAX_CONTENT,
    MAX_PARTS,
    ImagePart,
    ToolCallOut,
    ToolCalls,
    ToolChoiceIn,
    Tools,
    tool_calls_in,
    tool_calls_out,
    tool_choice_in,
    tools_in,
    user_message,
)
from entrypoints.http.schemas.client import MAX_MESSAGES, MAX_TOKENS_CAP

Text = Annotated[str, msgspec.Meta(max_length=MAX_CONTENT)]

# ---- requests ---------------------------------------------------------------------------


class TextPart(msgspec.Struct, frozen=True, tag_field="type", tag="text"):
    text: Text


class AudioPart(msgspec.Struct, frozen=True, tag_field="type", tag="input_audio"):
    input_audio: Any


class FilePart(msgspec.Struct, frozen=True, tag_field="type", tag="file"):
    file: Any


class RefusalPart(msgspec.Struct, frozen=True, tag_field="type", tag="refusal"):
    refusal: Text


UserPart = TextPart | ImagePart | AudioPart | FilePart
AssistantPart = TextPart | RefusalPart


class SystemMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="role", tag="system"):
    content: Text | list[TextPart]
    name: str | None = None  # ignored


class DeveloperMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="role", tag="developer"):
    """OpenAI's newer name for system instructions: sent as a system message."""

    content: Text | list[TextPart]
    name: str | None = None


class UserMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="role", tag="user"):
    content: Text | Annotated[list[UserPart], msgspec.Meta(max_length=MAX_PARTS)]
    name: str | None = None


class AssistantMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="role", tag="assistant"):
    content: Text | list[AssistantPart] | None = None
    name: str | None = None
    refusal: str | None = None  # ignored: an earlier refusal's text
    tool_calls: ToolCalls | None = None
    function_call: Any | None = None
    audio: Any | None = None


class ToolMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="role", tag="tool"):
    content: Text | list[TextPart]
    tool_call_id: Annotated[str, msgspec.Meta(min_length=1, max_length=256)]


class FunctionMessage(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="role", tag="function"):
    content: Text | None
    name: str


Message = SystemMessage | DeveloperMessage | UserMessage | AssistantMessage | ToolMessage | FunctionMessage


class StreamOptions(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    include_usage: bool | None = None
    include_obfuscation: bool | None = None  # ignored: we send no padding


class ResponseFormat(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: Any | None = None


class ChatCompletionBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """``POST /v1/chat/completions``: OpenAI's request, field by field."""

    # honoured
    model: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    messages: Annotated[list[Message], msgspec.Meta(min_length=1, max_length=MAX_MESSAGES)]
    max_tokens: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS_CAP)] | None = None
    max_completion_tokens: Annotated[int, msgspec.Meta(ge=1, le=MAX_TOKENS_CAP)] | None = None
    temperature: Annotated[float, msgspec.Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, msgspec.Meta(ge=0, le=1)] | None = None
    stop: str | Annotated[list[str], msgspec.Meta(max_length=4)] | None = None
    response_format: ResponseFormat | None = None
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    # the metadata of the job created for the call (ignored with X-Job-Id)
    metadata: Annotated[dict[str, str], msgspec.Meta(max_length=16)] | None = None
    # ignored: they change neither what the model is asked nor what it costs
    user: str | None = None
    safety_identifier: str | None = None
    seed: int | None = None
    store: bool | None = None
    prompt_cache_key: str | None = None
    prompt_cache_retention: str | None = None
    # honoured at their neutral value, refused otherwise
    n: Annotated[int, msgspec.Meta(ge=1)] | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    service_tier: str | None = None
    modalities: list[str] | None = None
    function_call: Any | None = None
    # honoured: function calling (docs/api.md, "Tools and images")
    tools: Tools | None = None
    tool_choice: ToolChoiceIn | None = None
    parallel_tool_calls: bool | None = None
    # refused
    functions: list[Any] | None = None
    audio: Any | None = None
    prediction: Any | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    web_search_options: Any | None = None

    @property
    def include_usage(self) -> bool:
        return bool(self.stream_options and self.stream_options.include_usage)

    def to_request(self) -> CallRequest:
        """The call this body asks for; raises ``UnsupportedFeatureError`` for what it cannot honour."""
        self._refuse_unsupported()
        if (
            self.max_tokens is not None
            and self.max_completion_tokens is not None
            and self.max_tokens != self.max_completion_tokens
        ):
            raise InvalidValueError("max_tokens and max_completion_tokens differ: send one of them")
        stop = [self.stop] if isinstance(self.stop, str) else self.stop
        return CallRequest(
            model=self.model,
            messages=[_message(m, index) for index, m in enumerate(self.messages)],
            max_tokens=self.max_completion_tokens or self.max_tokens,
            temperature=self.temperature,
            top_p=self.top_p,
            stop=stop,
            json_mode=self.response_format is not None and self.response_format.type == "json_object",
            tools=tools_in(self.tools),
            tool_choice=tool_choice_in(self.tool_choice),
            parallel_tool_calls=self.parallel_tool_calls,
        )

    def _refuse_unsupported(self) -> None:
        refused: list[tuple[str, bool, str]] = [
            ("n", self.n not in (None, 1), "only one choice per request (n = 1)"),
            ("functions", bool(self.functions), "the deprecated functions are not supported: use tools"),
            (
                "function_call",
                self.function_call not in (None, "none"),
                "the deprecated function_call is not supported: use tool_choice",
            ),
            ("logprobs", bool(self.logprobs), "log probabilities are not supported"),
            ("top_logprobs", self.top_logprobs is not None, "log probabilities are not supported"),
            ("frequency_penalty", bool(self.frequency_penalty), "frequency_penalty is not supported"),
            ("presence_penalty", bool(self.presence_penalty), "presence_penalty is not supported"),
            ("logit_bias", bool(self.logit_bias), "logit_bias is not supported"),
            (
                "service_tier",
                self.service_tier not in (None, "auto", "default"),
                "service tiers other than auto/default are not supported",
            ),
            ("modalities", self.modalities not in (None, ["text"]), "only text output is supported"),
            ("audio", self.audio is not None, "audio output is not supported"),
            ("prediction", self.prediction is not None, "predicted outputs are not supported"),
            ("reasoning_effort", self.reasoning_effort is not None, "reasoning_effort is not supported yet"),
            ("verbosity", self.verbosity is not None, "verbosity is not supported yet"),
            ("web_search_options", self.web_search_options is not None, "web search is not supported"),
            (
                "response_format",
                self.response_format is not None and self.response_format.type == "json_schema",
                "response_format json_schema is not supported yet (json_object is)",
            ),
        ]
        for param, is_refused, reason in refused:
            if is_refused:
                raise UnsupportedFeatureError(reason, param=param)


def _message(message: Message, index: int) -> ChatMessage:
    where = f"messages[{index}]"
    match message:
        case SystemMessage(content=content) | DeveloperMessage(content=content):
            return ChatMessage(Role.SYSTEM, _text(content, where))
        case UserMessage(content=str() as text):
            return ChatMessage(Role.USER, text)
        case UserMessage(content=parts):
            if any(isinstance(part, AudioPart | FilePart) for part in parts):
                raise UnsupportedFeatureError(
                    "only text and image content is supported (no audio or files)", param=f"{where}.content"
                )
            return user_message(parts, where)
        case AssistantMessage(function_call=call, audio=audio) if call or audio:
            raise UnsupportedFeatureError(
                "assistant function calls (deprecated: use tool_calls) and audio are not supported", param=where
            )
        case AssistantMessage(content=None, tool_calls=None):
            raise InvalidValueError(f"{where}: an assistant message needs content or tool_calls")
        case AssistantMessage(content=content, tool_calls=calls):
            made: tuple[ToolCall, ...] = tool_calls_in(calls, where) if calls else ()
            return ChatMessage(Role.ASSISTANT, _text(content, where), tool_calls=made)
        case ToolMessage(content=content, tool_call_id=call_id):
            return ChatMessage(Role.TOOL, _text(content, where), tool_call_id=call_id)
        case _:  # function results (deprecated)
            raise UnsupportedFeatureError(
                "function messages (deprecated: use tool messages) are not supported", param=where
            )


def _text(content: str | list[Any] | None, where: str) -> str:
    if isinstance(content, str):
        return content
    texts: list[str] = []
    for part in content or []:
        if isinstance(part, TextPart):
            texts.append(part.text)
        elif isinstance(part, RefusalPart):
            texts.append(part.refusal)
        else:
            raise UnsupportedFeatureError(
                "only text content is supported yet (no images, audio or files)", param=f"{where}.content"
            )
    # Separate parts stay separate words for the model; one newline is what most templates use.
    return "\n".join(texts)


# ---- responses --------------------------------------------------------------------------


class PromptTokensDetails(msgspec.Struct, frozen=True, kw_only=True):
    cached_tokens: int
    cache_write_tokens: int


class CompletionTokensDetails(msgspec.Struct, frozen=True, kw_only=True):
    reasoning_tokens: int


class Usage(msgspec.Struct, frozen=True, kw_only=True):
    """OpenAI's convention whichever provider served: cached and written prompt tokens are
    inside ``prompt_tokens``, reasoning tokens inside ``completion_tokens``."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails


def usage_of(usage: TokenUsage) -> Usage:
    return Usage(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(
            cached_tokens=usage.cached_input, cache_write_tokens=usage.cache_write
        ),
        completion_tokens_details=CompletionTokensDetails(reasoning_tokens=usage.reasoning),
    )


class AnswerMessage(msgspec.Struct, frozen=True, kw_only=True):
    role: Literal["assistant"]
    content: str | None  # null when the model only called tools, as OpenAI answers
    refusal: None = None
    tool_calls: list[ToolCallOut] | msgspec.UnsetType = msgspec.UNSET


class Choice(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    message: AnswerMessage
    finish_reason: str
    logprobs: None = None


class ChatCompletionOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    object: Literal["chat.completion"]
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    system_fingerprint: None = None


def completion_id(call_id: CallId) -> str:
    """The response id names the call (``chatcmpl-<call id hex>``)."""
    return f"chatcmpl-{call_id.hex}"


def unix_seconds(at: datetime) -> int:
    return int(at.timestamp())


def chat_completion_out(call: LlmCall, content: str, tool_calls: tuple[ToolCall, ...] = ()) -> ChatCompletionOut:
    message = AnswerMessage(
        role="assistant",
        content=None if tool_calls and not content else content,
        tool_calls=tool_calls_out(tool_calls) if tool_calls else msgspec.UNSET,
    )
    return ChatCompletionOut(
        id=completion_id(call.id),
        object="chat.completion",
        created=unix_seconds(call.created_at),
        model=call.alias,
        choices=[
            Choice(
                index=0,
                message=message,
                finish_reason=str(call.finish_reason or "stop"),
            )
        ],
        usage=usage_of(call.usage),
    )


class FunctionDelta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    name: str | None = None
    arguments: str  # always sent ("" in a call's first piece), as OpenAI does


class ToolCallDeltaOut(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A piece of a streamed tool call: ``id``, ``type`` and ``function.name`` in the first."""

    index: int
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionDelta


class Delta(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    role: str | None = None
    content: str | None = None
    tool_calls: list[ToolCallDeltaOut] | None = None


class ChunkChoice(msgspec.Struct, frozen=True, kw_only=True):
    index: int
    delta: Delta
    finish_reason: str | None = None
    logprobs: None = None


class ChatCompletionChunk(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    object: Literal["chat.completion.chunk"]
    created: int
    model: str
    choices: list[ChunkChoice]
    # With stream_options.include_usage every chunk carries "usage" (null until the last).
    usage: Usage | msgspec.UnsetType | None = msgspec.UNSET


class ModelOut(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    object: Literal["model"]
    created: int  # 0: the alias's creation time is not kept
    owned_by: str  # the provider serving it


def model_out(alias: ModelAlias) -> ModelOut:
    return ModelOut(id=alias.alias, object="model", created=0, owned_by=str(alias.provider))


class ModelList(msgspec.Struct, frozen=True, kw_only=True):
    object: Literal["list"]
    data: list[ModelOut]


class ErrorDetail(msgspec.Struct, frozen=True, kw_only=True):
    message: str
    type: str
    code: str
    param: str | None = None


class ErrorOut(msgspec.Struct, frozen=True, kw_only=True):
    """OpenAI's error envelope; ``code`` is the stable problem code of the job API."""

    error: ErrorDetail
