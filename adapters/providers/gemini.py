"""Google Gemini (``POST {base}/v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``).

Usage: ``promptTokenCount`` includes ``cachedContentTokenCount`` (a subset) and excludes
``toolUsePromptTokenCount``; ``candidatesTokenCount`` excludes ``thoughtsTokenCount``,
which is billed as output and kept as reasoning. Zero fields are omitted. Streams are
``data: <json>`` events separated by CRLF, with no end marker: the last chunk carries
``finishReason``, and every chunk carries the **cumulative** usage so far (the last one
wins, nothing is summed). Thought parts (``"thought": true``) never reach the answer.
Errors are google.rpc.Status; an invalid key is a 400 ``INVALID_ARGUMENT`` whose
``ErrorInfo.reason`` is ``API_KEY_INVALID``, and a 429 gives its wait in ``RetryInfo``.

Tools: ``tools[].functionDeclarations`` (parameters as ``parametersJsonSchema``, which
takes JSON Schema as OpenAI's tools carry it), ``toolConfig.functionCallingConfig``
(``AUTO``/``ANY``/``NONE``, a named function as ``ANY`` with ``allowedFunctionNames``).
The model's calls are ``functionCall`` parts, whole in one chunk when streamed; a call
without an ``id`` gets one here (``call_`` + 24 hex digits), and since Gemini says
``STOP`` after calls, an answer with calls finishes ``tool_calls``. Results go back as
``functionResponse`` parts (the function's name found through the call's id; a result
that is a JSON object is sent as is, other text as ``{"result": text}``). Images go
inline (``inlineData``) from data URIs; an image by URL cannot be expressed (the API's
``fileData`` takes only files uploaded to Google), so it is refused before anything is
sent, as are GIFs and function names Gemini does not accept.
"""

import re
import uuid
from typing import Any

import httpx
import msgspec

from adapters.providers._http import (
    Dialect,
    Parsed,
    StreamState,
    declaration,
    error_object,
    estimate_bytes,
    http_error,
    parse_proto_duration,
    provider_message,
    retry_after_header_s,
    sampling_fields,
)
from adapters.providers._sse import ServerSentEvent
from application.errors import (
    ProviderAuthError,
    ProviderContentFilteredError,
    ProviderError,
    ProviderResponseError,
)
from application.ports.providers import ProviderTarget
from domain.errors import UnsupportedFeatureError
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
    function_name_of,
)
from domain.tools import arguments_object
from domain.usage import TokenUsage

DEFAULT_BASE = "https://generativelanguage.googleapis.com"
FILTERED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
FINISH_REASONS = {
    "STOP": FinishReason.STOP,
    "MAX_TOKENS": FinishReason.LENGTH,
    "MALFORMED_FUNCTION_CALL": FinishReason.ERROR,
    "UNEXPECTED_TOOL_CALL": FinishReason.ERROR,
    "TOO_MANY_TOOL_CALLS": FinishReason.ERROR,
} | dict.fromkeys(FILTERED, FinishReason.CONTENT_FILTER)
RETRY_INFO = "type.googleapis.com/google.rpc.RetryInfo"
ERROR_INFO = "type.googleapis.com/google.rpc.ErrorInfo"
# Gemini's inline images (its docs list PNG, JPEG, WEBP, HEIC and HEIF: no GIF).
INLINE_IMAGE_TYPES = frozenset({"image/png", "image/jpeg", "image/webp"})
GEMINI_TOOL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.:-]{0,63}")


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    cached_content_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0


class FunctionCall(msgspec.Struct, rename="camel"):
    name: str = ""
    args: Any = None
    id: str | None = None


class Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None
    function_call: FunctionCall | None = None


class Content(msgspec.Struct, rename="camel"):
    parts: list[Part] = []


class Candidate(msgspec.Struct, rename="camel"):
    content: Content | None = None
    finish_reason: str | None = None


class PromptFeedback(msgspec.Struct, rename="camel"):
    block_reason: str | None = None


class Response(msgspec.Struct, rename="camel"):
    candidates: list[Candidate] = []
    usage_metadata: UsageMetadata | None = None
    model_version: str = ""
    prompt_feedback: PromptFeedback | None = None
    error: dict[str, Any] | None = None


_decoder = msgspec.json.Decoder(Response)


def map_usage(meta: UsageMetadata) -> TokenUsage:
    cached = min(meta.cached_content_token_count, meta.prompt_token_count)
    return TokenUsage(
        input=meta.prompt_token_count - cached + meta.tool_use_prompt_token_count,
        cached_input=cached,
        output=meta.candidates_token_count,
        reasoning=meta.thoughts_token_count,
    )


def map_finish(reason: str | None) -> FinishReason:
    return FINISH_REASONS.get(reason or "STOP", FinishReason.STOP)


def call_of(call: FunctionCall) -> ToolCall:
    arguments = msgspec.json.encode(call.args if call.args is not None else {}).decode()
    return ToolCall(id=call.id or f"call_{uuid.uuid4().hex[:24]}", name=call.name, arguments=arguments)


def model_path(model: str) -> str:
    return model.removeprefix("models/")


def blocked(response: Response) -> ProviderError | None:
    """A prompt refused before any candidate: no answer at all."""
    feedback = response.prompt_feedback
    if response.candidates or feedback is None or feedback.block_reason is None:
        return None
    usage = map_usage(response.usage_metadata) if response.usage_metadata else None
    return ProviderContentFilteredError(f"Gemini blocked the prompt ({feedback.block_reason})", usage=usage)


def status_error(
    label: str, status: int, error: dict[str, Any], message: str | None, headers: httpx.Headers
) -> ProviderError:
    details = error.get("details")
    infos = [d for d in details if isinstance(d, dict)] if isinstance(details, list) else []
    reasons = {str(d.get("reason") or "") for d in infos if d.get("@type") == ERROR_INFO}
    if any(reason.startswith("API_KEY_") for reason in reasons):
        return ProviderAuthError(f"{label} refused the API key: {message or 'no message'}")
    retry_after = retry_after_header_s(headers)
    for info in infos:
        if info.get("@type") == RETRY_INFO:
            retry_after = parse_proto_duration(info.get("retryDelay")) or retry_after
    if status == 400 and error.get("status") == "FAILED_PRECONDITION":
        return ProviderError(f"{label} refused the call for this account: {message or 'no message'}")
    return http_error(label, status, message, retry_after_s=retry_after)


class GeminiStream(StreamState):
    def __init__(self, request: LlmRequest, model: str) -> None:
        super().__init__(request, model)
        self.reported: TokenUsage | None = None

    def feed(self, event: ServerSentEvent) -> str | None:
        if not event.data:
            return None
        chunk = _decoder.decode(event.data)
        if chunk.error is not None:
            message = provider_message(chunk.error.get("message"), "") or "error in stream"
            raise status_error("Gemini", int(chunk.error.get("code") or 500), chunk.error, message, httpx.Headers())
        if (refusal := blocked(chunk)) is not None:
            raise refusal
        if chunk.model_version:
            self.model = chunk.model_version
        text: str | None = None
        for candidate in chunk.candidates[:1]:
            if candidate.content is not None:
                for part in candidate.content.parts:
                    if part.function_call is not None:
                        call = call_of(part.function_call)
                        index = len(self.tool_calls)
                        self.add_tool_delta(
                            ToolCallDelta(index=index, id=call.id, name=call.name, arguments=call.arguments)
                        )
                        continue
                    if not part.text:
                        continue
                    if part.thought:
                        self.count_thinking(part.text)
                    else:
                        text = part.text if text is None else text + part.text
            if candidate.finish_reason is not None:
                self.finish_reason = map_finish(candidate.finish_reason)
                if self.finish_reason is FinishReason.STOP and self.tool_calls:
                    self.finish_reason = FinishReason.TOOL_CALLS
        if text:
            self.counted(text)
        if chunk.usage_metadata is not None:
            self.reported = map_usage(chunk.usage_metadata)
        if self.finish_reason is not None and self.reported is not None:
            self.usage = self.reported  # cumulative: the last chunk's counts are the call's
        return text

    def complete(self) -> bool:
        return self.finish_reason is not None

    def usage_so_far(self) -> TokenUsage:
        if self.usage is not None:
            return self.usage
        reported = self.reported
        if reported is None:
            return super().usage_so_far()
        # counts so far may lag the text received: take whichever is larger
        return TokenUsage(
            input=reported.input,
            cached_input=reported.cached_input,
            output=max(reported.output, estimate_bytes(self.text_bytes)),
            reasoning=max(reported.reasoning, estimate_bytes(self.thinking_bytes)),
        )


class GeminiDialect(Dialect):
    label = "Gemini"

    def url(self, target: ProviderTarget, *, stream: bool) -> str:
        base = (target.api_base or DEFAULT_BASE).rstrip("/")
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return f"{base}/v1beta/models/{model_path(target.model)}:{method}"

    def headers(self, target: ProviderTarget) -> dict[str, str]:
        return {"x-goog-api-key": target.api_key, "content-type": "application/json"}

    def check(self, model: str, request: LlmRequest) -> None:
        for index, message in enumerate(request.messages):
            for part in message.parts:
                if not isinstance(part, ImagePart):
                    continue
                where = f"messages[{index}].content"
                if not part.is_data:
                    raise UnsupportedFeatureError(
                        "Gemini takes images only inline: send the image as a data URI (data:image/png;base64,...)",
                        param=where,
                    )
                if part.media_type not in INLINE_IMAGE_TYPES:
                    raise UnsupportedFeatureError(
                        f"Gemini does not take {part.media_type} images (png, jpeg and webp it does)", param=where
                    )
        names = [tool.name for tool in request.tools]
        names += [call.name for message in request.messages for call in message.tool_calls]
        for name in names:
            if not GEMINI_TOOL_NAME.fullmatch(name):
                raise UnsupportedFeatureError(
                    f"Gemini needs function names that start with a letter or '_' ('{name}' does not)", param="tools"
                )

    def body(self, target: ProviderTarget, request: LlmRequest, *, stream: bool) -> bytes:
        contents: list[dict[str, Any]] = []
        system: list[dict[str, str]] = []
        for index, message in enumerate(request.messages):
            if message.role is Role.SYSTEM:
                system.append({"text": message.content})
                continue
            role = "model" if message.role is Role.ASSISTANT else "user"
            parts = parts_out(request.messages, index)
            if contents and contents[-1]["role"] == role:  # one turn per speaker
                contents[-1]["parts"].extend(parts)
            else:
                contents.append({"role": role, "parts": parts})
        config: dict[str, Any] = {
            "maxOutputTokens": request.max_tokens,
            **sampling_fields(request, top_p="topP", stop="stopSequences"),
        }
        if request.json_mode:
            config["responseMimeType"] = "application/json"
        payload: dict[str, Any] = {"contents": contents, "generationConfig": config}
        if system:
            payload["systemInstruction"] = {"parts": system}
        if request.tools:
            declarations = [declaration(tool, parameters="parametersJsonSchema") for tool in request.tools]
            payload["tools"] = [{"functionDeclarations": declarations}]
        if request.tool_choice is not None and request.tools:
            payload["toolConfig"] = {"functionCallingConfig": calling_config(request.tool_choice)}
        return msgspec.json.encode(payload)

    def parse(self, body: bytes, headers: httpx.Headers) -> Parsed:
        response = _decoder.decode(body)
        if (refusal := blocked(response)) is not None:
            raise refusal
        if not response.candidates:
            raise ProviderResponseError(f"{self.label} answered without a candidate")
        candidate = response.candidates[0]
        parts = candidate.content.parts if candidate.content is not None else []
        content = "".join(part.text or "" for part in parts if not part.thought)
        calls = tuple(call_of(part.function_call) for part in parts if part.function_call is not None)
        finish = map_finish(candidate.finish_reason)
        if calls and finish is FinishReason.STOP:
            finish = FinishReason.TOOL_CALLS
        return Parsed(
            content=content,
            finish_reason=finish,
            usage=map_usage(response.usage_metadata) if response.usage_metadata is not None else None,
            provider_model=response.model_version,
            tool_calls=calls,
        )

    def error(self, status: int, headers: httpx.Headers, body: bytes, api_key: str) -> ProviderError:
        error = error_object(body)
        message = provider_message(error.get("message"), api_key)
        return status_error(self.label, status, error, message, headers)

    def stream_state(self, request: LlmRequest, target: ProviderTarget, headers: httpx.Headers) -> StreamState:
        return GeminiStream(request, target.model)


def parts_out(messages: list[ChatMessage], index: int) -> list[dict[str, Any]]:
    message = messages[index]
    if message.role is Role.TOOL:
        name = function_name_of(messages, message.tool_call_id or "", index) or ""
        return [{"functionResponse": {"name": name, "response": result_object(message.content)}}]
    if message.tool_calls:
        parts: list[dict[str, Any]] = [{"text": message.content}] if message.content else []
        for number, call in enumerate(message.tool_calls):
            args = arguments_object(call.arguments, f"messages[{index}].tool_calls[{number}]")
            parts.append({"functionCall": {"name": call.name, "args": args}})
        return parts
    if message.parts:
        out: list[dict[str, Any]] = []
        for part in message.parts:
            if isinstance(part, ImagePart):  # data URIs only: ``check`` refused the rest
                out.append({"inlineData": {"mimeType": part.media_type, "data": part.base64_data}})
            elif part.text:
                out.append({"text": part.text})
        return out
    return [{"text": message.content}]


def result_object(content: str) -> Any:
    """A tool's result as Gemini's ``response`` object: a JSON object as is, other text wrapped."""
    try:
        value = msgspec.json.decode(content)
    except msgspec.DecodeError:
        value = None
    return value if isinstance(value, dict) else {"result": content}


def calling_config(choice: ToolChoice) -> dict[str, Any]:
    if choice.name is not None:
        return {"mode": "ANY", "allowedFunctionNames": [choice.name]}
    mode = {ToolChoiceMode.AUTO: "AUTO", ToolChoiceMode.NONE: "NONE", ToolChoiceMode.REQUIRED: "ANY"}[choice.mode]
    return {"mode": mode}
