"""Fireworks AI (``POST {base}/chat/completions``): OpenAI's format, with its own habits.

Differences handled here: usage arrives on the final ``finish_reason`` chunk by default,
or in a separate ``"choices": []`` chunk for newer models asked for ``include_usage``
(both are accepted); the cached prompt count may come only in the
``fireworks-cached-prompt-tokens`` header; reasoning models put their thinking in
``reasoning_content`` or in a leading ``<think>…</think>`` block of ``content``, which
never reaches the answer; errors are ``{"error": {"code", "message"}}``.
``completion_tokens`` includes reasoning, which Fireworks does not split out, so it all
counts as output unless ``completion_tokens_details`` says otherwise.
"""

import re
from collections.abc import Callable

import httpx

from adapters.providers._http import StreamState
from adapters.providers._sse import ServerSentEvent
from adapters.providers.openai import Delta, OpenAIDialect, OpenAIStream
from application.ports.providers import ProviderTarget
from domain.llm import LlmRequest

DEFAULT_BASE = "https://api.fireworks.ai/inference/v1"
OPEN_TAG, CLOSE_TAG = "<think>", "</think>"
_LEADING_THINK = re.compile(r"^\s*<think>.*?(?:</think>\s*|$)", re.DOTALL)


def strip_thinking(content: str) -> str:
    """``content`` without a leading ``<think>`` block (an unclosed one is all thinking)."""
    return _LEADING_THINK.sub("", content, count=1)


class ThinkFilter:
    """Drops a leading ``<think>…</think>`` block from streamed text, tags split anywhere.

    It holds back at most a tag's length of text, so memory stays constant.
    """

    def __init__(self) -> None:
        self.mode = "start"  # start → think → after → text, or start → text
        self.buffer = ""
        self.thinking_bytes = 0

    def feed(self, piece: str) -> str:
        if self.mode == "text":
            return piece
        self.buffer += piece
        while True:
            if self.mode == "start":
                stripped = self.buffer.lstrip()
                if stripped.startswith(OPEN_TAG):
                    self.buffer, self.mode = stripped[len(OPEN_TAG) :], "think"
                    continue
                if not stripped or OPEN_TAG.startswith(stripped):
                    return ""  # could still become "<think>"
                return self._to_text(self.buffer)
            if self.mode == "think":
                end = self.buffer.find(CLOSE_TAG)
                if end < 0:
                    keep = len(CLOSE_TAG) - 1
                    if len(self.buffer) > keep:
                        self.thinking_bytes += len(self.buffer[:-keep].encode())
                        self.buffer = self.buffer[-keep:]
                    return ""
                self.thinking_bytes += len(self.buffer[:end].encode())
                self.buffer, self.mode = self.buffer[end + len(CLOSE_TAG) :], "after"
                continue
            stripped = self.buffer.lstrip()  # "after": drop the blank lines that follow the block
            if not stripped:
                self.buffer = ""
                return ""
            return self._to_text(stripped)

    def flush(self) -> str:
        """At the end: text held back as a possible tag was text after all."""
        if self.mode == "start":
            return self._to_text(self.buffer)
        if self.mode == "think":
            self.thinking_bytes += len(self.buffer.encode())
        self.buffer = ""
        return ""

    def _to_text(self, text: str) -> str:
        self.mode, self.buffer = "text", ""
        return text


class FireworksStream(OpenAIStream):
    thinking_is_output = True

    def __init__(self, request: LlmRequest, model: str, *, cached_fallback: int = 0) -> None:
        super().__init__(request, model, cached_fallback=cached_fallback)
        self.filter = ThinkFilter()

    def feed(self, event: ServerSentEvent) -> str | None:
        if event.data != "[DONE]":
            return super().feed(event)
        self.finished = True
        rest = self._filtered(self.filter.flush)
        return self.counted(rest) if rest else None

    def visible(self, delta: Delta) -> str | None:
        piece = super().visible(delta)
        return self._filtered(lambda: self.filter.feed(piece)) if piece else piece

    def _filtered(self, step: Callable[[], str]) -> str:
        before = self.filter.thinking_bytes
        text = step()
        self.thinking_bytes += self.filter.thinking_bytes - before
        return text


class FireworksDialect(OpenAIDialect):
    label = "Fireworks"
    default_base = DEFAULT_BASE
    max_tokens_field = "max_tokens"

    def content(self, text: str) -> str:
        return strip_thinking(text) if OPEN_TAG in text else text

    def cached_header(self, headers: httpx.Headers) -> int:
        raw = headers.get("fireworks-cached-prompt-tokens", "")
        return int(raw) if raw.isdigit() else 0

    def stream_state(self, request: LlmRequest, target: ProviderTarget, headers: httpx.Headers) -> StreamState:
        return FireworksStream(request, target.model, cached_fallback=self.cached_header(headers))
