"""Google Gemini (``POST {base}/v1beta/models/{model}:generateContent``, ``:streamGenerateContent?alt=sse``).

Usage: ``promptTokenCount`` includes ``cachedContentTokenCount`` (a subset) and excludes
``toolUsePromptTokenCount``; ``candidatesTokenCount`` excludes ``thoughtsTokenCount``,
which is billed as output and kept as reasoning. Zero fields are omitted. Streams are
``data: <json>`` events separated by CRLF, with no end marker: the last chunk carries
``finishReason``, and every chunk carries the **cumulative** usage so far (the last one
wins, nothing is summed). Thought parts (``"thought": true``) never reach the answer.
Errors are google.rpc.Status; an invalid key is a 400 ``INVALID_ARGUMENT`` whose
``ErrorInfo.reason`` is ``API_KEY_INVALID``, and a 429 gives its wait in ``RetryInfo``.
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
    estimate_bytes,
    http_error,
    parse_proto_duration,
    provider_message,
    retry_after_header_s,
)
from adapters.providers._sse import ServerSentEvent
from application.errors import (
    ProviderAuthError,
    ProviderContentFilteredError,
    ProviderError,
    ProviderResponseError,
)
from application.ports.providers import ProviderTarget
from domain.llm import FinishReason, LlmRequest, Role
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


class UsageMetadata(msgspec.Struct, rename="camel"):
    prompt_token_count: int = 0
    cached_content_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    candidates_token_count: int = 0
    thoughts_token_count: int = 0


class Part(msgspec.Struct, rename="camel"):
    text: str | None = None
    thought: bool | None = None


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
                    if not part.text:
                        continue
                    if part.thought:
                        self.thinking_bytes += len(part.text.encode())
                    else:
                        text = part.text if text is None else text + part.text
            if candidate.finish_reason is not None:
                self.finish_reason = map_finish(candidate.finish_reason)
        if text:
            self.text_bytes += len(text.encode())
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

    def body(self, target: ProviderTarget, request: LlmRequest, *, stream: bool) -> bytes:
        contents: list[dict[str, Any]] = []
        system: list[dict[str, str]] = []
        for message in request.messages:
            if message.role is Role.SYSTEM:
                system.append({"text": message.content})
                continue
            role = "model" if message.role is Role.ASSISTANT else "user"
            if contents and contents[-1]["role"] == role:  # one turn per speaker
                contents[-1]["parts"].append({"text": message.content})
            else:
                contents.append({"role": role, "parts": [{"text": message.content}]})
        config: dict[str, Any] = {"maxOutputTokens": request.max_tokens}
        if request.temperature is not None:
            config["temperature"] = request.temperature
        if request.top_p is not None:
            config["topP"] = request.top_p
        if request.stop:
            config["stopSequences"] = request.stop
        if request.json_mode:
            config["responseMimeType"] = "application/json"
        payload: dict[str, Any] = {"contents": contents, "generationConfig": config}
        if system:
            payload["systemInstruction"] = {"parts": system}
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
        return Parsed(
            content=content,
            finish_reason=map_finish(candidate.finish_reason),
            usage=map_usage(response.usage_metadata) if response.usage_metadata is not None else None,
            provider_model=response.model_version,
        )

    def error(self, status: int, headers: httpx.Headers, body: bytes, api_key: str) -> ProviderError:
        envelope = decode_error_body(body).get("error")
        error: dict[str, Any] = envelope if isinstance(envelope, dict) else {}
        message = provider_message(error.get("message"), api_key)
        return status_error(self.label, status, error, message, headers)

    def stream_state(self, request: LlmRequest, target: ProviderTarget, headers: httpx.Headers) -> StreamState:
        return GeminiStream(request, target.model)


def gemini_client(http: httpx.AsyncClient, *, timeouts: Timeouts, retry: RetryPolicy) -> HttpProviderClient:
    return HttpProviderClient(GeminiDialect(), http, timeouts=timeouts, retry=retry)
