"""A fake upstream speaking all four providers' wire formats over real HTTP on 127.0.0.1.

Tests, e2e runs and benchmarks point a credential's ``api_base`` at it:

| provider  | api_base                      | path answered                                        |
|-----------|-------------------------------|------------------------------------------------------|
| openai    | ``{url}/v1``                  | ``/v1/chat/completions``                             |
| anthropic | ``{url}``                     | ``/v1/messages``                                     |
| gemini    | ``{url}``                     | ``/v1beta/models/{m}:generateContent`` / ``:streamGenerateContent`` |
| fireworks | ``{url}/inference/v1``        | ``/inference/v1/chat/completions``                   |

Each request takes the next scripted ``Reply`` (or the default one) and is recorded
(method, path, headers, JSON body) so tests can assert on what the adapter sent. Replies
script successes (text chunks, thinking, tool calls, native usage blocks, finish reasons) and faults:
error statuses in each provider's own envelope (429 with or without retry-after, 500,
529, auth, quota, …), a reset connection, no answer at all (timeouts), malformed JSON, a
stream cut mid-way or ended early, a stream that stalls, and an error event after 200.

It is a raw asyncio HTTP/1.1 server (keep-alive, chunked SSE), fast enough to be the
upstream of benchmarks without being their bottleneck. ``python -m
tests.support.fake_provider`` runs it standalone; with ``--faults-by-model`` the model
a request names picks its reply (``by_model``), so a test driving separate processes
injects faults per alias, with no script to share: ``fault-429`` (retry-after 1 s),
``fault-500``, ``fault-529``, ``fault-timeout``, ``fault-reset``, ``fault-malformed``,
``fault-cut`` (stream cut mid-way), ``fault-error_event`` (``event: error`` after 200),
``slow-<ms>`` (20 chunks, ``<ms>`` apart: long streams), ``usage-<prompt>-<completion>``
(OpenAI-style usage with exactly those counts); any other model, the default.
"""

import argparse
import asyncio
import contextlib
import socket
import struct
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, cast

import msgspec

Fault = Literal["reset", "timeout", "malformed", "cut", "truncate", "error_event", "stall"]
Flavor = Literal["openai", "anthropic", "gemini", "fireworks"]
ErrorKind = Literal[
    "rate_limit", "quota", "auth", "not_found", "bad_request", "server", "overloaded", "content_filter", "blocked"
]
MAX_WAIT_S = 30.0  # a hung fault ends by itself even if the client never goes away


@dataclass(frozen=True, slots=True)
class ToolCallReply:
    """A tool call the fake model makes. ``arguments`` is JSON text (an object); streamed, it
    arrives in ``pieces`` fragments (OpenAI, Fireworks and Anthropic split it; Gemini never
    does). ``id`` None: Gemini's call carries no id (the others always get one)."""

    name: str
    arguments: str = "{}"
    id: str | None = "call_fake_0"
    pieces: int = 3

    def fragments(self) -> list[str]:
        size = max(1, -(-len(self.arguments) // max(1, self.pieces)))
        return [self.arguments[i : i + size] for i in range(0, len(self.arguments), size)] or [""]


@dataclass(frozen=True, slots=True)
class Reply:
    """One scripted answer. ``usage`` is the provider's native usage block (final counts)."""

    chunks: tuple[str, ...] = ("Hello", " world")
    thinking: tuple[str, ...] = ()
    finish: str | None = None  # native finish reason; None: the format's normal stop
    usage: Mapping[str, Any] | None = None  # None: computed from the prompt and the chunks
    model: str | None = None
    status: int = 200
    error: ErrorKind | None = None
    retry_after: str | None = None  # retry-after header (Gemini: RetryInfo.retryDelay in seconds)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes | None = None  # a raw body, sent as is with ``status``
    fault: Fault | None = None
    fault_after: int = 0  # content chunks sent before a mid-stream fault
    delay_s: float = 0.0  # before the response headers
    chunk_delay_s: float = 0.0
    usage_chunk: bool = False  # Fireworks: usage in its own chunk (newer models) instead of the finish chunk
    no_usage: bool = False  # a proxy that drops usage altogether
    tool_calls: tuple[ToolCallReply, ...] = ()  # after the text, in each format's own blocks or parts


@dataclass(frozen=True, slots=True)
class Received:
    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: Any


class FakeUpstream:
    def __init__(
        self,
        *,
        default: Reply | None = None,
        record_limit: int = 1000,
        by_model: "Callable[[str], Reply | None] | None" = None,
    ) -> None:
        self.default = default or Reply()
        self.by_model = by_model
        self.received: deque[Received] = deque(maxlen=record_limit)
        self.disconnects = 0  # responses abandoned by the client before they ended
        self._script: deque[Reply] = deque()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api_base(self, provider: str) -> str:
        return {"openai": f"{self.url}/v1", "fireworks": f"{self.url}/inference/v1"}.get(provider, self.url)

    def push(self, *replies: Reply) -> None:
        self._script.extend(replies)

    def reset(self) -> None:
        self._script.clear()
        self.received.clear()
        self.disconnects = 0

    @property
    def pending(self) -> int:
        return len(self._script)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> "FakeUpstream":
        self._server = await asyncio.start_server(self._serve, host, port, backlog=1024)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)
            self._server = None

    async def __aenter__(self) -> "FakeUpstream":
        return await self.start()

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    # -- connection handling ------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                request_line, *header_lines = head.decode("latin-1").split("\r\n")
                method, target, _ = request_line.split(" ", 2)
                headers = {}
                for line in header_lines:
                    if line:
                        name, _, value = line.partition(":")
                        headers[name.strip().lower()] = value.strip()
                raw = await reader.readexactly(int(headers.get("content-length", "0") or 0))
                path, _, query = target.partition("?")
                try:
                    body = msgspec.json.decode(raw) if raw else None
                except msgspec.DecodeError:
                    body = None
                self.received.append(Received(method=method, path=path, query=query, headers=headers, body=body))
                reply = self._script.popleft() if self._script else self.default
                if self.by_model is not None and isinstance(body, dict):
                    reply = self.by_model(str(body.get("model") or "")) or reply
                if not await self._respond(reader, writer, path, query, body, reply):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()

    async def _client_gone(self, reader: asyncio.StreamReader, wait_s: float) -> bool:
        """Wait up to ``wait_s``; True as soon as the client closes the connection."""
        try:
            data = await asyncio.wait_for(reader.read(1), wait_s)
        except TimeoutError:
            return False
        except ConnectionError:
            data = b""
        if not data:
            self.disconnects += 1
            return True
        return False

    async def _respond(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, query: str, body: Any, reply: Reply
    ) -> bool:
        """Write one response; False when the connection must not be reused."""
        if reply.fault == "reset":
            _reset(writer)
            return False
        if reply.fault == "timeout":
            await self._client_gone(reader, MAX_WAIT_S)
            return False
        if reply.delay_s and await self._client_gone(reader, reply.delay_s):
            return False
        flavor = _flavor(path)
        if flavor is None:
            writer.write(_head(404, "application/json", 0))
            await writer.drain()
            return True
        request = body if isinstance(body, dict) else {}
        stream = (":streamGenerateContent" in path) if flavor == "gemini" else bool(request.get("stream"))
        render = _Render(flavor, request, path, reply)
        if reply.body is not None or reply.status != 200 or (reply.error and reply.error != "blocked"):
            status, payload, headers = render.error_response()
            writer.write(_head(status, "application/json", len(payload), headers) + payload)
            await writer.drain()
            return True
        if not stream:
            payload = b'{"choices": [' if reply.fault == "malformed" else render.json_body()
            writer.write(_head(200, "application/json", len(payload), reply.headers) + payload)
            await writer.drain()
            return True
        return await self._stream(reader, writer, render, reply)

    async def _stream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, render: "_Render", reply: Reply
    ) -> bool:
        head, content, tail = render.events()
        writer.write(_head(200, "text/event-stream; charset=utf-8", None, reply.headers))
        for event in head:
            writer.write(_chunk(event))
        limit = reply.fault_after if reply.fault else len(content)
        for index, event in enumerate(content[:limit]):
            writer.write(_chunk(event))
            if reply.chunk_delay_s:
                await writer.drain()
                if await self._client_gone(reader, reply.chunk_delay_s):
                    return False
            elif index % 64 == 63:
                await writer.drain()
        fault = reply.fault
        if fault is None:
            for event in tail:
                writer.write(_chunk(event))
            writer.write(b"0\r\n\r\n")
            await writer.drain()
            return True
        if fault == "cut":  # half an event, then the connection drops mid-body
            partial = content[limit] if limit < len(content) else tail[0]
            writer.write(_chunk(partial)[: len(partial) // 2 + 4])
            await writer.drain()
            _reset(writer)
            return False
        if fault == "stall":
            await writer.drain()
            await self._client_gone(reader, MAX_WAIT_S)
            return False
        if fault == "malformed":
            broken = render.sse(b'{"choices": [{"delta": {"content": "unterminated', event="content_block_delta")
            writer.write(_chunk(broken))
        elif fault == "error_event":
            writer.write(_chunk(render.error_event()))
        # "truncate", "malformed" and "error_event": the body ends properly, without the end of the answer
        writer.write(b"0\r\n\r\n")
        await writer.drain()
        return True


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


_REASONS = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 402: "Payment Required", 403: "Forbidden"} | {
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
    529: "Overloaded",
}


def _head(status: int, content_type: str, length: int | None, extra: Mapping[str, str] | None = None) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}", f"content-type: {content_type}"]
    lines.append(f"content-length: {length}" if length is not None else "transfer-encoding: chunked")
    lines.extend(f"{name}: {value}" for name, value in (extra or {}).items())
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def _flavor(path: str) -> Flavor | None:
    if path.endswith("/chat/completions"):
        return "fireworks" if "/inference/" in path else "openai"
    if path.endswith("/v1/messages"):
        return "anthropic"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    return None


def _json(value: Any) -> bytes:
    return msgspec.json.encode(value)


def _texts(value: Any) -> Iterable[str]:
    """Every prompt string of a request body (message contents, parts, system)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            if key in ("content", "text", "system", "messages", "contents", "parts", "systemInstruction"):
                yield from _texts(item)


# error kind → (status, OpenAI type, OpenAI code, Anthropic type, Gemini status, Fireworks code)
_ERRORS: dict[str, tuple[int, str, str | None, str, str, str]] = {
    "rate_limit": (429, "tokens", "rate_limit_exceeded", "rate_limit_error", "RESOURCE_EXHAUSTED", "RATE_LIMITED"),
    "quota": (429, "insufficient_quota", "insufficient_quota", "invalid_request_error", "RESOURCE_EXHAUSTED", "QUOTA"),
    "auth": (401, "invalid_request_error", "invalid_api_key", "authentication_error", "INVALID_ARGUMENT", "UNAUTH"),
    "not_found": (404, "invalid_request_error", "model_not_found", "not_found_error", "NOT_FOUND", "NOT_FOUND"),
    "bad_request": (
        400,
        "invalid_request_error",
        "context_length_exceeded",
        "invalid_request_error",
        "INVALID_ARGUMENT",
        "INVALID_ARGUMENT",
    ),
    "server": (500, "server_error", None, "api_error", "INTERNAL", "INTERNAL"),
    "overloaded": (503, "server_error", None, "overloaded_error", "UNAVAILABLE", "UNAVAILABLE"),
    "content_filter": (
        400,
        "invalid_request_error",
        "content_policy_violation",
        "invalid_request_error",
        "INVALID_ARGUMENT",
        "CONTENT_FILTERED",
    ),
}
_ERROR_MESSAGES = {
    "rate_limit": "Rate limit reached for requests. Please try again later.",
    "quota": "You exceeded your current quota, please check your plan and billing details.",
    "auth": "Incorrect API key provided.",
    "not_found": "The model does not exist or you do not have access to it.",
    "bad_request": "This model's maximum context length is 8192 tokens.",
    "server": "The server had an error while processing your request. Sorry about that!",
    "overloaded": "Overloaded",
    "content_filter": "Your request was rejected as a result of our safety system.",
}


class _Render:
    """One reply in one wire format."""

    def __init__(self, flavor: Flavor, request: dict[str, Any], path: str, reply: Reply) -> None:
        self.flavor = flavor
        self.request = request
        self.reply = reply
        if flavor == "gemini":
            requested = path.split("/models/", 1)[-1].split(":", 1)[0]
        else:
            requested = str(request.get("model") or "fake-model")
        self.model = reply.model or requested
        self.id = str(uuid.uuid4()) if flavor == "fireworks" else f"fake-{uuid.uuid4().hex[:24]}"
        self.text = "".join(reply.chunks)

    # -- usage ----------------------------------------------------------------------

    def prompt_tokens(self) -> int:
        size = sum(len(text.encode()) for text in _texts(self.request))
        return max(1, size // 4)

    def usage(self) -> dict[str, Any]:
        if self.reply.usage is not None:
            return dict(self.reply.usage)
        prompt, thinking = self.prompt_tokens(), len(self.reply.thinking)
        output = len(self.reply.chunks) + len(self.reply.tool_calls)
        if self.flavor == "openai":
            return {
                "prompt_tokens": prompt,
                "completion_tokens": output + thinking,
                "total_tokens": prompt + output + thinking,
                "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": thinking, "audio_tokens": 0},
            }
        if self.flavor == "fireworks":
            return {"prompt_tokens": prompt, "total_tokens": prompt + output + thinking, "completion_tokens": output}
        if self.flavor == "anthropic":
            return {
                "input_tokens": prompt,
                "cache_creation_input_tokens": 0,
                "cache_read_input_tokens": 0,
                "output_tokens": output + thinking,
            }
        usage = {"promptTokenCount": prompt, "candidatesTokenCount": output}
        if thinking:
            usage["thoughtsTokenCount"] = thinking
        usage["totalTokenCount"] = prompt + output + thinking
        return usage

    def finish(self) -> str:
        default = {"openai": "stop", "fireworks": "stop", "anthropic": "end_turn", "gemini": "STOP"}
        if self.reply.tool_calls:
            default = {"openai": "tool_calls", "fireworks": "tool_calls", "anthropic": "tool_use", "gemini": "STOP"}
        return self.reply.finish or default[self.flavor]

    def _call_id(self, call: ToolCallReply, index: int) -> str:
        return call.id or f"call_fake_{index}"

    # -- non-streamed ---------------------------------------------------------------

    def json_body(self) -> bytes:
        reply = self.reply
        usage = None if reply.no_usage else self.usage()
        if self.flavor in ("openai", "fireworks"):
            content = self.text if self.text or not reply.tool_calls else None
            message: dict[str, Any] = {"role": "assistant", "content": content, "refusal": None}
            if self.flavor == "fireworks" and reply.thinking:
                message["reasoning_content"] = "".join(reply.thinking)
            if reply.tool_calls:
                calls = []
                for index, call in enumerate(reply.tool_calls):
                    function = {"name": call.name, "arguments": call.arguments}
                    wire = {"id": self._call_id(call, index), "type": "function", "function": function}
                    calls.append({"index": index, **wire} if self.flavor == "fireworks" else wire)
                message["tool_calls"] = calls
            return _json(
                {
                    "id": self.id,
                    "object": "chat.completion",
                    "created": 1_700_000_000,
                    "model": self.model,
                    "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": self.finish()}],
                    "usage": usage,
                }
            )
        if self.flavor == "anthropic":
            blocks: list[dict[str, Any]] = []
            if reply.thinking:
                blocks.append({"type": "thinking", "thinking": "".join(reply.thinking), "signature": "c2ln"})
            if self.text or not reply.tool_calls:
                blocks.append({"type": "text", "text": self.text})
            for index, call in enumerate(reply.tool_calls):
                tool_input = msgspec.json.decode(call.arguments)
                blocks.append(
                    {"type": "tool_use", "id": self._call_id(call, index), "name": call.name, "input": tool_input}
                )
            return _json(
                {
                    "id": self.id,
                    "type": "message",
                    "role": "assistant",
                    "model": self.model,
                    "content": blocks,
                    "stop_reason": self.finish(),
                    "stop_sequence": None,
                    "usage": usage,
                }
            )
        if reply.error == "blocked":
            return _json(
                {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage, "modelVersion": self.model}
            )
        parts: list[dict[str, Any]] = [{"text": "".join(reply.thinking), "thought": True}] if reply.thinking else []
        if self.text or not reply.tool_calls:
            parts.append({"text": self.text})
        parts += self._gemini_calls()
        candidate = {"content": {"parts": parts, "role": "model"}, "finishReason": self.finish(), "index": 0}
        return _json(
            {"candidates": [candidate], "usageMetadata": usage, "modelVersion": self.model, "responseId": self.id}
        )

    def _gemini_calls(self) -> list[dict[str, Any]]:
        parts = []
        for call in self.reply.tool_calls:
            function: dict[str, Any] = {"name": call.name, "args": msgspec.json.decode(call.arguments)}
            if call.id is not None:
                function["id"] = call.id
            parts.append({"functionCall": function})
        return parts

    # -- streamed -------------------------------------------------------------------

    def sse(self, data: bytes, *, event: str | None) -> bytes:
        if self.flavor == "anthropic":
            return b"event: %s\ndata: %s\n\n" % ((event or "message").encode(), data)
        if self.flavor == "gemini":
            return b"data: " + data + b"\r\n\r\n"
        return b"data: " + data + b"\n\n"

    def events(self) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """(head, content, tail): ``content`` holds one event per text chunk; faults strike after some."""
        if self.flavor in ("openai", "fireworks"):
            return self._openai_events()
        if self.flavor == "anthropic":
            return self._anthropic_events()
        return self._gemini_events()

    def _openai_events(self) -> tuple[list[bytes], list[bytes], list[bytes]]:
        reply, fireworks = self.reply, self.flavor == "fireworks"
        base: dict[str, Any] = {"id": self.id, "object": "chat.completion.chunk", "created": 1_700_000_000}
        base["model"] = self.model
        if not fireworks:
            base["system_fingerprint"] = "fp_fake"

        def chunk(delta: dict[str, Any], finish: str | None = None, usage: Any = None, choices: bool = True) -> bytes:
            body = dict(base)
            body["choices"] = [{"index": 0, "delta": delta, "finish_reason": finish}] if choices else []
            body["usage"] = usage
            if not fireworks:
                body["obfuscation"] = "xyz"
            return self.sse(_json(body), event=None)

        head = [chunk({"role": "assistant", "content": ""} if not fireworks else {"role": "assistant"})]
        if fireworks:
            head += [chunk({"reasoning_content": piece}) for piece in reply.thinking]
        content = [chunk({"content": piece}) for piece in reply.chunks]
        for index, call in enumerate(reply.tool_calls):
            function = {"name": call.name, "arguments": ""}
            first = {"index": index, "id": self._call_id(call, index), "type": "function", "function": function}
            content.append(chunk({"tool_calls": [first]}))
            for fragment in call.fragments():
                content.append(chunk({"tool_calls": [{"index": index, "function": {"arguments": fragment}}]}))
        wants_usage = bool((self.request.get("stream_options") or {}).get("include_usage"))
        usage = None if reply.no_usage else self.usage()
        if fireworks and not reply.usage_chunk:
            tail = [chunk({}, self.finish(), usage)]
        else:
            tail = [chunk({}, self.finish())]
            if wants_usage and usage is not None:
                tail.append(chunk({}, usage=usage, choices=False))
        tail.append(self.sse(b"[DONE]", event=None))
        return head, content, tail

    def _anthropic_events(self) -> tuple[list[bytes], list[bytes], list[bytes]]:
        reply = self.reply
        usage = None if reply.no_usage else self.usage()

        def event(name: str, body: dict[str, Any]) -> bytes:
            return self.sse(_json(body)[:-1] + b"      }", event=name)  # the API's trailing padding

        start_usage = None
        if usage is not None:
            start_usage = {key: value for key, value in usage.items() if key != "output_tokens"} | {"output_tokens": 1}
        message: dict[str, Any] = {"id": self.id, "type": "message", "role": "assistant", "model": self.model}
        message |= {"content": [], "stop_reason": None, "stop_sequence": None, "usage": start_usage}
        head = [event("message_start", {"type": "message_start", "message": message})]
        index = 0
        if reply.thinking:
            block = {"type": "thinking", "thinking": "", "signature": ""}
            head.append(
                event("content_block_start", {"type": "content_block_start", "index": 0, "content_block": block})
            )
            for piece in reply.thinking:
                delta = {"type": "thinking_delta", "thinking": piece}
                head.append(event("content_block_delta", {"type": "content_block_delta", "index": 0, "delta": delta}))
            head.append(event("content_block_stop", {"type": "content_block_stop", "index": 0}))
            index = 1
        text_start = {"type": "content_block_start", "index": index, "content_block": {"type": "text", "text": ""}}
        head.append(event("content_block_start", text_start))
        head.append(self.sse(b'{"type": "ping"}', event="ping"))
        content: list[bytes] = []
        for piece in reply.chunks:
            delta = {"type": "text_delta", "text": piece}
            content.append(
                event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
            )
        tail = [event("content_block_stop", {"type": "content_block_stop", "index": index})]
        if reply.tool_calls:
            content += tail
            tail = []
        for number, call in enumerate(reply.tool_calls):
            index += 1
            tool: dict[str, Any] = {
                "type": "tool_use",
                "id": self._call_id(call, number),
                "name": call.name,
                "input": {},
            }
            content.append(
                event("content_block_start", {"type": "content_block_start", "index": index, "content_block": tool})
            )
            fragments = [] if call.arguments == "{}" else ["", *call.fragments()]  # the API opens with ""
            for fragment in fragments:
                delta = {"type": "input_json_delta", "partial_json": fragment}
                content.append(
                    event("content_block_delta", {"type": "content_block_delta", "index": index, "delta": delta})
                )
            content.append(event("content_block_stop", {"type": "content_block_stop", "index": index}))
        tail += [
            event(
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": self.finish(), "stop_sequence": None},
                    "usage": usage,
                },
            ),
            event("message_stop", {"type": "message_stop"}),
        ]
        return head, content, tail

    def _gemini_events(self) -> tuple[list[bytes], list[bytes], list[bytes]]:
        reply = self.reply
        usage = None if reply.no_usage else self.usage()
        prompt_side = {k: v for k, v in (usage or {}).items() if k in ("promptTokenCount", "cachedContentTokenCount")}

        def event(parts: list[dict[str, Any]], meta: dict[str, Any] | None, finish: str | None = None) -> bytes:
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if finish is not None:
                candidate["finishReason"] = finish
            body = {"candidates": [candidate], "usageMetadata": meta, "modelVersion": self.model, "responseId": self.id}
            return self.sse(_json(body), event=None)

        if reply.error == "blocked":
            blocked = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": usage, "modelVersion": self.model}
            return [self.sse(_json(blocked), event=None)], [], []
        partial = None if usage is None else dict(prompt_side)
        head = [event([{"text": piece, "thought": True}], partial) for piece in reply.thinking]
        content: list[bytes] = []
        final_output = int((usage or {}).get("candidatesTokenCount", 0))
        pieces = reply.chunks or ("",)
        for number, piece in enumerate(pieces[:-1], start=1):
            meta = None if usage is None else prompt_side | {"candidatesTokenCount": min(number, final_output)}
            content.append(event([{"text": piece}], meta))
        last: list[dict[str, Any]] = [{"text": pieces[-1]}] if pieces[-1] or not reply.tool_calls else []
        tail = [event(last + self._gemini_calls(), usage, self.finish())]
        return head, content, tail

    def error_event(self) -> bytes:
        if self.flavor == "anthropic":
            error = {"type": "error", "error": {"details": None, "type": "overloaded_error", "message": "Overloaded"}}
            return self.sse(_json(error)[:-1] + b"      }", event="error")
        if self.flavor == "gemini":
            error = {"error": {"code": 503, "message": "The model is overloaded.", "status": "UNAVAILABLE"}}
            return self.sse(_json(error), event=None)
        error = {"error": {"message": "The server had an error while processing your request.", "type": "server_error"}}
        return self.sse(_json(error), event=None)

    # -- errors ---------------------------------------------------------------------

    def error_response(self) -> tuple[int, bytes, dict[str, str]]:
        reply = self.reply
        headers = dict(reply.headers)
        if reply.retry_after is not None and self.flavor != "gemini":
            headers["retry-after"] = reply.retry_after
        if reply.body is not None:
            return reply.status, reply.body, headers
        kind = reply.error or ("server" if reply.status >= 500 else "bad_request")
        status, openai_type, openai_code, anthropic_type, gemini_status, fireworks_code = _ERRORS[kind]
        if reply.status != 200:
            status = reply.status
        message = _ERROR_MESSAGES[kind]
        if self.flavor == "openai":
            envelope = {"message": message, "type": openai_type, "param": None, "code": openai_code}
            return status, msgspec.json.format(_json({"error": envelope}), indent=2), headers
        if self.flavor == "fireworks":
            return status, _json({"error": {"code": fireworks_code, "message": message}}), headers
        if self.flavor == "anthropic":
            if kind == "quota":
                status, message = 400, "Your credit balance is too low to access the Anthropic API."
            if kind == "overloaded" and reply.status == 200:
                status = 529
            if status == 529:
                headers.setdefault("x-should-retry", "true")
            body = {"type": "error", "error": {"type": anthropic_type, "message": message}, "request_id": "req_fake"}
            return status, _json(body), headers
        details: list[dict[str, Any]] = []
        if kind == "auth":
            status, message = 400, "API key not valid. Please pass a valid API key."
            details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"})
        if reply.retry_after is not None:
            details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{reply.retry_after}s"})
        error: dict[str, Any] = {"code": status, "message": message, "status": gemini_status}
        if details:
            error["details"] = details
        return status, msgspec.json.format(_json({"error": error}), indent=2) + b"\n", headers


def render_stream(provider: str, reply: Reply, request: Mapping[str, Any] | None = None) -> bytes:
    """The whole event stream the fake upstream would send for ``reply`` (benchmarks parse it offline)."""
    if provider not in ("openai", "anthropic", "gemini", "fireworks"):
        raise ValueError(f"no wire format for {provider!r}")
    flavor = cast(Flavor, provider)
    body = dict(request or {"model": reply.model or "bench-model", "stream": True})
    body.setdefault("stream_options", {"include_usage": True})
    path = f"/v1beta/models/{reply.model or 'bench-model'}:streamGenerateContent"
    head, content, tail = _Render(flavor, body, path, reply).events()
    return b"".join([*head, *content, *tail])


_FAULTS: dict[str, Reply] = {
    "fault-429": Reply(status=429, error="rate_limit", retry_after="1"),
    "fault-500": Reply(status=500, error="server"),
    "fault-529": Reply(status=529, error="overloaded"),
    "fault-timeout": Reply(fault="timeout"),
    "fault-reset": Reply(fault="reset"),
    "fault-malformed": Reply(fault="malformed", fault_after=1),
    "fault-cut": Reply(chunks=("a", "b", "c", "d", "e"), fault="cut", fault_after=2),
    "fault-error_event": Reply(chunks=("a", "b", "c"), fault="error_event", fault_after=1),
}


def fault_by_model(model: str) -> Reply | None:
    """The reply a model name asks for (``--faults-by-model``); None: the default one."""
    with contextlib.suppress(ValueError):
        if model.startswith("slow-"):
            return Reply(chunks=tuple(f" s{i}" for i in range(20)), chunk_delay_s=int(model[5:]) / 1000)
        if model.startswith("usage-"):
            prompt, completion = (int(part) for part in model[6:].split("-", 1))
            usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
            return Reply(chunks=tuple(f" u{i}" for i in range(completion)), usage=usage)
    return _FAULTS.get(model)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run the fake provider upstream on 127.0.0.1.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--chunks", type=int, default=2, help="text chunks in the default reply")
    parser.add_argument(
        "--faults-by-model", action="store_true", help="the requested model picks a fault (fault-429, slow-50, …)"
    )
    args = parser.parse_args(argv)
    default = Reply(chunks=tuple(f" w{index}" for index in range(args.chunks)))
    by_model = fault_by_model if args.faults_by_model else None

    async def serve() -> None:
        upstream = await FakeUpstream(default=default, record_limit=1, by_model=by_model).start(port=args.port)
        try:
            print(f"listening on {upstream.url}", flush=True)
            await asyncio.Event().wait()
        finally:
            await upstream.stop()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
