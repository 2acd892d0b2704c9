"""The engine every provider adapter shares: pooled transport, timeouts, retries, error mapping.

A provider module supplies a ``Dialect`` (request formatting, response and stream
parsing, error bodies); ``HttpProviderClient`` runs it over one shared, pooled
``httpx.AsyncClient``:

- **timeouts**: ``connect_s`` for the TCP/TLS connect, ``first_byte_s`` for connect plus
  the response headers (one budget, enforced around ``send``), ``read_s`` for the longest
  gap between two chunks of a body or stream, ``total_s`` for a whole attempt (checked
  between stream events, so a stream overruns it by at most ``read_s``);
- **retries**: retryable errors (429, 5xx, 529, timeouts, resets) are retried with
  exponential backoff and jitter, honouring the provider's retry-after up to a cap; a
  stream is retried only while nothing has been yielded to the consumer;
- **errors**: every failure leaves as a ``ProviderError`` subclass; no httpx, aiohttp or
  socket exception escapes, and messages never carry the API key.
"""

import asyncio
import contextlib
import email.utils
import functools
import math
import random
import re
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

import aiohttp
import httpx
import msgspec

from adapters.network.guard import GuardedTransport, blocked_reason, guarded_aiohttp_transport
from adapters.providers._sse import ServerSentEvent, SSEError, aiter_events
from application.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderError,
    ProviderModelNotFoundError,
    ProviderQuotaError,
    ProviderRateLimitedError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from application.ports.providers import ProviderTarget
from domain.llm import (
    FinishReason,
    LlmRequest,
    LlmResponse,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolSpec,
    estimate_prompt_tokens,
    estimate_usage,
    tokens_for_bytes,
)
from domain.outbound import DEVELOPMENT_POLICY, AddressPolicy
from domain.usage import TokenUsage

Transport = Literal["aiohttp", "httpx"]
MAX_MESSAGE_CHARS = 300  # of a provider's own message; the rest is ours
USER_AGENT = "saasllm/0.1"


# -- settings -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Timeouts:
    connect_s: float
    first_byte_s: float
    read_s: float
    total_s: float

    @classmethod
    def from_setting(cls, timeout_s: float) -> "Timeouts":
        """From ``PROVIDER_TIMEOUT_S`` (connect + first byte, and the longest gap between chunks).

        The whole-attempt cap is 20× that (20 minutes at the default 60 s): long enough for
        a 32k-token answer streamed at 30 tokens/s, short enough to end a stuck call.
        """
        return cls(connect_s=min(timeout_s, 10.0), first_byte_s=timeout_s, read_s=timeout_s, total_s=20 * timeout_s)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt; delays in seconds."""

    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 20.0  # a provider asking for a longer wait gets its error passed on

    def delay_s(self, retry: int, retry_after_s: float | None, rng: random.Random) -> float | None:
        """The wait before retry number ``retry`` (1-based), or None to give up now."""
        if retry > self.max_retries:
            return None
        if retry_after_s is not None:
            if retry_after_s > self.max_retry_after_s:
                return None
            # a little jitter on top, so many callers told the same instant do not come back together
            return retry_after_s + rng.uniform(0, min(retry_after_s, self.base_delay_s) * 0.2)
        backoff = min(self.max_delay_s, self.base_delay_s * 2.0 ** (retry - 1))
        return backoff / 2 + rng.uniform(0, backoff / 2)  # "equal jitter": at least half the backoff


def create_http_client(
    *,
    timeouts: Timeouts,
    transport: Transport = "aiohttp",
    max_connections: int = 100,
    policy: AddressPolicy = DEVELOPMENT_POLICY,
) -> httpx.AsyncClient:
    """One pooled client per provider, created once (in the lifespan) and closed on shutdown.

    ``aiohttp`` puts httpx's API over aiohttp's connection handling, measured several
    times faster than httpx's own transport on this hot path (see the adapters benchmark).
    Every connection is checked against ``policy`` (``adapters.network.guard``): with
    aiohttp the addresses a name resolves to, with either transport the scheme and IP
    literals (httpx's own transport resolves names itself: it is for benchmarks only).
    """
    limits = httpx.Limits(
        max_connections=max_connections, max_keepalive_connections=max_connections, keepalive_expiry=30.0
    )
    timeout = httpx.Timeout(
        connect=timeouts.connect_s, read=timeouts.read_s, write=timeouts.read_s, pool=timeouts.first_byte_s
    )
    headers = {"user-agent": USER_AGENT}
    guarded: httpx.AsyncBaseTransport
    if transport == "aiohttp":
        guarded = guarded_aiohttp_transport(policy, limits=limits)
    else:
        guarded = GuardedTransport(httpx.AsyncHTTPTransport(limits=limits), policy)
    client = httpx.AsyncClient(transport=guarded, timeout=timeout, headers=headers, follow_redirects=False)
    # Provider APIs need no cookies: skip httpx's parsing of every response into a jar
    # (a measurable share of the client's time per call).
    client._cookies = _NoCookies()  # httpx has no public switch for it
    return client


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: a response's Set-Cookie is neither parsed nor sent back."""

    def extract_cookies(self, response: httpx.Response) -> None:
        return None


# -- error helpers --------------------------------------------------------------------


# What looks like a credential in a provider's message: key prefixes of the four providers,
# bearer tokens, key query parameters, long hex runs, and long base64-ish runs that mix upper
# case, lower case and digits (a model path like "accounts/x/models/llama-v3p1-8b" survives).
_KEY_LIKE = re.compile(
    r"(?i:\bbearer\s+[^\s\"',;]+)"
    r"|(?i:\b(?:sk|pk|rk|fw)[-_][A-Za-z0-9_\-]{6,})"
    r"|\bAIza[0-9A-Za-z_\-]{10,}"
    r"|(?i:(?<=[?&])(?:key|api_key|apikey|access_token|token)=[^&\s\"']+)"
    r"|\b[0-9a-fA-F]{24,}\b"
)
_BASE64_RUN = re.compile(r"[A-Za-z0-9+/_\-]{32,}={0,2}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")
REDACTED = "[redacted]"


def _mixed(run: re.Match[str]) -> str:
    text = run.group(0)
    looks_random = any(c.isupper() for c in text) and any(c.islower() for c in text) and any(c.isdigit() for c in text)
    return REDACTED if looks_random else text


def redact(text: str, api_key: str) -> str:
    """A provider's message made safe to log and return to a client: the credential's key
    and anything key-like removed, control characters collapsed, at most
    ``MAX_MESSAGE_CHARS`` long (the cut happens after redaction, so no key is half-kept)."""
    if api_key and len(api_key) >= 4:
        text = text.replace(api_key, REDACTED)
    text = _KEY_LIKE.sub(REDACTED, text)
    text = _BASE64_RUN.sub(_mixed, text)
    text = _CONTROL.sub(" ", text).strip()
    if len(text) > MAX_MESSAGE_CHARS:
        text = text[:MAX_MESSAGE_CHARS] + "…"
    return text


def provider_message(value: object, api_key: str) -> str | None:
    """A provider's own error ``message`` field, redacted, or None when there is none (a
    string that is blank after redaction counts as none)."""
    if not isinstance(value, str):
        return None
    return redact(value, api_key) or None


def unreadable(label: str, status: int) -> str:
    """The detail for a body that is not the provider's error format (a proxy's HTML page)."""
    return f"{label} returned an unreadable response (HTTP {status})"


_GO_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(value: str) -> float | None:
    """OpenAI's ``x-ratelimit-reset-*`` values: Go durations like ``84ms``, ``8.64s``, ``1m30s``."""
    value = value.strip()
    if not value:
        return None
    position, total = 0, 0.0
    for match in _GO_DURATION.finditer(value):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    return total if position == len(value) else None


def parse_proto_duration(value: object) -> float | None:
    """A google.protobuf.Duration in JSON form (``"22s"``, ``"0.5s"``)."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        seconds = float(value[:-1])
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


def retry_after_header_s(headers: Mapping[str, str]) -> float | None:
    """``retry-after-ms``, else ``retry-after`` in seconds or as an HTTP date."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms:
        with contextlib.suppress(ValueError):
            value = float(raw_ms) / 1000
            if math.isfinite(value) and value >= 0:
                return value
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        return max(0.0, when.timestamp() - time.time())
    return value if math.isfinite(value) and value >= 0 else None


def http_error(label: str, status: int, message: str | None, *, retry_after_s: float | None = None) -> ProviderError:
    """The error family for an HTTP status, before any provider-specific refinement.

    ``message`` is the provider's own (already redacted) message; None when its body was
    not its error format, which is never echoed: the detail then says only the status.
    """
    detail = f"{label} answered {status}: {message}" if message else unreadable(label, status)
    if status in (401, 403):
        return ProviderAuthError(detail)
    if status == 402:
        return ProviderQuotaError(detail)
    if status == 404:
        return ProviderModelNotFoundError(detail)
    if status == 429:
        return ProviderRateLimitedError(detail, retry_after_s=retry_after_s)
    if status in (408, 504):
        return ProviderTimeoutError(detail, retry_after_s=retry_after_s)
    if status in (400, 413, 422):
        return ProviderBadRequestError(detail)
    if status >= 500 or status == 409:  # 409: OpenAI's transient lock conflicts, retried by its own SDK
        return ProviderUnavailableError(detail, retry_after_s=retry_after_s)
    return ProviderResponseError(detail)


TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    httpx.HTTPError,
    httpx.InvalidURL,
    httpx.StreamError,
    aiohttp.ClientError,
    OSError,
    TimeoutError,
    msgspec.DecodeError,
    UnicodeError,
)


def transport_error(exc: BaseException, label: str) -> ProviderError:
    """A library exception (transport, timeout, malformed bytes) as a provider error."""
    if (reason := blocked_reason(exc)) is not None:  # the address policy: a configuration error, never retried
        return ProviderError(f"{label} endpoint is not allowed: {reason}")
    if isinstance(exc, msgspec.DecodeError | UnicodeError):
        # the decoder's message may quote the body (an unknown enum value): never passed on
        return ProviderResponseError(f"{label} returned an unreadable response")
    if isinstance(exc, SSEError):
        return ProviderResponseError(f"{label} answered a stream request with something else than an event stream")
    if isinstance(exc, TimeoutError):
        return ProviderTimeoutError(f"{label} did not answer in time")
    if isinstance(exc, httpx.TimeoutException):
        cause = exc.__cause__
        # httpx-aiohttp reports any aiohttp connection error as ConnectTimeout; a reset is no timeout
        if isinstance(cause, aiohttp.ClientError) and not isinstance(cause, TimeoutError):
            return ProviderUnavailableError(f"{label} connection failed ({type(cause).__name__})")
        return ProviderTimeoutError(f"{label} timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return ProviderError(f"{label} endpoint is misconfigured (check the credential's api_base)")
    if isinstance(exc, httpx.DecodingError):
        return ProviderResponseError(f"{label} sent a body that could not be decoded")
    return ProviderUnavailableError(f"{label} connection failed ({type(exc).__name__})")


def scrub(error: ProviderError, api_key: str) -> None:
    """The last line of defence, for every error leaving the engine: the credential's key
    never survives in a detail, whichever path (error body, stream event) built it."""
    if api_key and len(api_key) >= 4 and api_key in error.detail:
        error.detail = error.detail.replace(api_key, REDACTED)
        error.args = (error.detail,)


# -- what a provider module supplies --------------------------------------------------


class Parsed(msgspec.Struct, frozen=True, kw_only=True):
    """A non-streamed answer; ``usage`` is None when the provider reported none."""

    content: str
    finish_reason: FinishReason
    usage: TokenUsage | None
    provider_model: str
    tool_calls: tuple[ToolCall, ...] = ()


# ``domain.llm.estimate_tokens`` from a UTF-8 byte count (streams count bytes, not text).
estimate_bytes = tokens_for_bytes


class StreamState:
    """What one streamed attempt has seen so far; a dialect subclasses it with ``feed``.

    Only counters are kept, never the text, so a stream's memory stays constant.
    ``usage`` is the provider's final usage, ``prompt_usage`` its prompt-side counts
    reported early (Anthropic's ``message_start``, Gemini's cumulative chunks),
    ``output_reported`` generated tokens it reported before the end.
    """

    thinking_is_output = False  # Anthropic counts thinking inside output_tokens

    def __init__(self, request: LlmRequest, model: str) -> None:
        self.request = request
        self.model = model
        self.finish_reason: FinishReason | None = None
        self.usage: TokenUsage | None = None
        self.prompt_usage: TokenUsage | None = None
        self.output_reported = 0
        self.text_bytes = 0
        self.thinking_bytes = 0
        self.finished = False  # the provider's end marker arrived: stop reading
        # Tool calls: deltas waiting to be relayed, and each call assembled (by index) for
        # the end event. A call's arguments are bounded by max_tokens, so this stays small.
        self.tool_deltas: list[ToolCallDelta] = []
        self._calls: dict[int, list[str]] = {}  # index → [id, name, arguments so far]

    def feed(self, event: ServerSentEvent) -> str | None:
        """One event: the visible text it carries, if any (tool-call pieces go through
        ``add_tool_delta``). Raises ``ProviderError`` on an error event."""
        raise NotImplementedError

    def counted(self, text: str) -> str:
        """Visible text passed on to the consumer, counted for the output estimate."""
        self.text_bytes += len(text.encode())
        return text

    def count_thinking(self, text: str) -> None:
        """Reasoning text, never passed on: counted for the reasoning estimate only."""
        self.thinking_bytes += len(text.encode())

    def add_tool_delta(self, delta: ToolCallDelta) -> None:
        """Queue a piece of a tool call for the consumer and add it to the assembled call."""
        call = self._calls.setdefault(delta.index, ["", "", ""])
        if delta.id:
            call[0] = delta.id
        if delta.name:
            call[1] = delta.name
        call[2] += delta.arguments
        self.text_bytes += len(delta.arguments.encode()) + len(delta.name or "")  # output, for estimates
        self.tool_deltas.append(delta)

    def take_tool_deltas(self) -> list[ToolCallDelta]:
        taken, self.tool_deltas = self.tool_deltas, []
        return taken

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        return tuple(ToolCall(id=call[0], name=call[1], arguments=call[2]) for _, call in sorted(self._calls.items()))

    def complete(self) -> bool:
        """Did the stream end properly (end marker, or everything the end marker would bring)?"""
        return self.finished

    def result(self, attempts: int) -> StreamEnd:
        usage, estimated = (self.usage, False) if self.usage is not None else (self.usage_so_far(), True)
        return StreamEnd(
            finish_reason=self.finish_reason or FinishReason.STOP,
            usage=usage,
            provider_model=self.model,
            usage_estimated=estimated,
            attempts=attempts,
            tool_calls=self.tool_calls,
        )

    def usage_so_far(self) -> TokenUsage:
        """Usage of an unfinished stream: the provider's counts where it gave them, else estimates."""
        if self.usage is not None:
            return self.usage
        prompt = self.prompt_usage or TokenUsage(input=estimate_prompt_tokens(self.request.messages))
        thinking = estimate_bytes(self.thinking_bytes)
        generated = estimate_bytes(self.text_bytes) + (thinking if self.thinking_is_output else 0)
        output = max(self.output_reported, generated)
        return TokenUsage(
            input=prompt.input,
            cached_input=prompt.cached_input,
            cache_write=prompt.cache_write,
            output=output,
            reasoning=0 if self.thinking_is_output else thinking,
        )


class Dialect(Protocol):
    """One provider's wire format."""

    label: str

    def url(self, target: ProviderTarget, *, stream: bool) -> str: ...

    def headers(self, target: ProviderTarget) -> dict[str, str]: ...

    def body(self, target: ProviderTarget, request: LlmRequest, *, stream: bool) -> bytes: ...

    def parse(self, body: bytes, headers: httpx.Headers) -> Parsed:
        """A 2xx JSON body; raises ``ProviderError`` (content blocked, malformed)."""
        ...

    def error(self, status: int, headers: httpx.Headers, body: bytes, api_key: str) -> ProviderError:
        """A non-2xx answer as a typed error (messages redacted with ``api_key``)."""
        ...

    def stream_state(self, request: LlmRequest, target: ProviderTarget, headers: httpx.Headers) -> StreamState: ...

    def check(self, model: str, request: LlmRequest) -> None:
        """Raise ``UnsupportedFeatureError`` for what this format cannot express (before any hold)."""
        return None


def decode_error_body(body: bytes) -> dict[str, object]:
    """An error body as a dict, or empty when it is not JSON (a proxy's HTML page)."""
    try:
        decoded = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return {}
    return decoded if isinstance(decoded, dict) else {}


def error_object(body: bytes, *, text_is_message: bool = False) -> dict[str, Any]:
    """The ``error`` object OpenAI, Anthropic and Gemini wrap an error in; empty when there
    is none. ``text_is_message``: a plain-text ``error`` is the message (OpenAI-compatible
    proxies send that)."""
    envelope = decode_error_body(body).get("error")
    if isinstance(envelope, dict):
        return envelope
    return {"message": envelope} if text_is_message else {}


# -- request pieces the formats share, under each provider's names ------------------------


def sampling_fields(request: LlmRequest, *, top_p: str, stop: str) -> dict[str, Any]:
    """The sampling settings the request sets (temperature, top-p, stop sequences); unset ones are not sent."""
    fields: dict[str, Any] = {}
    if request.temperature is not None:
        fields["temperature"] = request.temperature
    if request.top_p is not None:
        fields[top_p] = request.top_p
    if request.stop:
        fields[stop] = request.stop
    return fields


def declaration(tool: ToolSpec, *, parameters: str) -> dict[str, Any]:
    """A tool's name, description and JSON Schema parameters (the last two when given)."""
    declared: dict[str, Any] = {"name": tool.name}
    if tool.description is not None:
        declared["description"] = tool.description
    if tool.parameters is not None:
        declared[parameters] = tool.parameters
    return declared


# -- the engine -----------------------------------------------------------------------


# Parsed once per endpoint: parsing is a measurable share of httpx's time per call.
_parsed_url = functools.lru_cache(maxsize=256)(httpx.URL)


class HttpProviderClient:
    """A ``ProviderClient`` for one provider: its dialect over a shared pooled httpx client."""

    def __init__(
        self,
        dialect: Dialect,
        http: httpx.AsyncClient,
        *,
        timeouts: Timeouts,
        retry: RetryPolicy,
        rng: random.Random | None = None,
    ) -> None:
        self._dialect = dialect
        self._http = http
        self._timeouts = timeouts
        self._retry = retry
        self._rng = rng or random.Random()
        self._label = dialect.label

    def check(self, model: str, request: LlmRequest) -> None:
        self._dialect.check(model, request)

    async def complete(self, target: ProviderTarget, request: LlmRequest) -> LlmResponse:
        attempts = 0
        while True:
            attempts += 1
            try:
                return await self._complete_once(target, request, attempts)
            except ProviderError as exc:
                scrub(exc, target.api_key)
                exc.attempts = attempts
                delay = self._delay(exc, attempts)
                if delay is None:
                    raise
            await asyncio.sleep(delay)

    async def _complete_once(self, target: ProviderTarget, request: LlmRequest, attempts: int) -> LlmResponse:
        http_request = self._request(target, request, stream=False)
        try:
            async with asyncio.timeout(self._timeouts.total_s):
                response = await self._send(http_request)
                try:
                    body = await response.aread()
                finally:
                    await response.aclose()
            if not response.is_success:
                raise self._status_error(response, body, target)
            try:
                parsed = self._dialect.parse(body, response.headers)
            except (msgspec.DecodeError, UnicodeError):
                raise ProviderResponseError(unreadable(self._label, response.status_code)) from None
        except ProviderError:
            raise
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, self._label) from None
        usage, estimated = parsed.usage, False
        if usage is None:  # a proxy that drops usage: bill an estimate, flagged
            generated = parsed.content + "".join(call.name + call.arguments for call in parsed.tool_calls)
            usage = estimate_usage(request.messages, len(generated.encode("utf-8")))
            estimated = True
        return LlmResponse(
            content=parsed.content,
            finish_reason=parsed.finish_reason,
            usage=usage,
            provider_model=parsed.provider_model or target.model,
            usage_estimated=estimated,
            attempts=attempts,
            tool_calls=parsed.tool_calls,
        )

    async def stream(self, target: ProviderTarget, request: LlmRequest) -> AsyncIterator[StreamEvent]:
        attempts = 0
        loop = asyncio.get_running_loop()
        while True:
            attempts += 1
            started = False
            state: StreamState | None = None
            error: ProviderError
            try:
                response = await self._open_stream(target, request)
                try:
                    state = self._dialect.stream_state(request, target, response.headers)
                    deadline = loop.time() + self._timeouts.total_s
                    events = aiter_events(response)
                    try:
                        async for event in events:
                            text = state.feed(event)
                            if text:
                                started = True
                                yield TextDelta(text)
                            if state.tool_deltas:
                                started = True
                                for delta in state.take_tool_deltas():
                                    yield delta
                            if state.finished:
                                break
                            if loop.time() > deadline:
                                raise ProviderTimeoutError(f"{self._label} stream ran past its time limit")
                    finally:
                        await events.aclose()
                finally:
                    with contextlib.suppress(*TRANSPORT_ERRORS):
                        await response.aclose()
                if not state.complete():
                    raise ProviderResponseError(f"{self._label} ended the stream before it was complete")
                end = state.result(attempts)
            except ProviderError as exc:
                error = exc
            except TRANSPORT_ERRORS as exc:
                error = transport_error(exc, self._label)
            else:
                yield end
                return
            scrub(error, target.api_key)
            error.attempts = attempts
            if started and state is not None:
                # text reached the consumer: never retry, bill what was generated
                error.usage, error.usage_estimated = state.usage_so_far(), state.usage is None
                raise error
            delay = self._delay(error, attempts)
            if delay is None:
                raise error
            await asyncio.sleep(delay)

    async def _open_stream(self, target: ProviderTarget, request: LlmRequest) -> httpx.Response:
        response = await self._send(self._request(target, request, stream=True))
        if response.is_success:
            return response
        try:
            body = await response.aread()
        finally:
            await response.aclose()
        raise self._status_error(response, body, target)

    def _request(self, target: ProviderTarget, request: LlmRequest, *, stream: bool) -> httpx.Request:
        dialect = self._dialect
        try:
            return self._http.build_request(
                "POST",
                _parsed_url(dialect.url(target, stream=stream)),
                headers=dialect.headers(target),
                content=dialect.body(target, request, stream=stream),
            )
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as exc:
            raise transport_error(httpx.InvalidURL(str(exc)), self._label) from None

    async def _send(self, request: httpx.Request) -> httpx.Response:
        """Connect and wait for the response headers, within ``first_byte_s`` in all."""
        try:
            async with asyncio.timeout(self._timeouts.first_byte_s):
                return await self._http.send(request, stream=True)
        except TimeoutError:
            raise ProviderTimeoutError(
                f"{self._label} did not answer within {self._timeouts.first_byte_s:g}s"
            ) from None

    def _status_error(self, response: httpx.Response, body: bytes, target: ProviderTarget) -> ProviderError:
        error = self._dialect.error(response.status_code, response.headers, body, target.api_key)
        if response.headers.get("x-should-retry", "").lower() == "false":
            error.retryable = False
        return error

    def _delay(self, error: ProviderError, attempts: int) -> float | None:
        if not error.retryable:
            return None
        return self._retry.delay_s(attempts, error.retry_after_s, self._rng)
