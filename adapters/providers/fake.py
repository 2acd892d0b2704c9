"""The ``fake`` provider: deterministic answers with realistic usage, for demos and benchmarks.

With no ``api_base`` it answers in process (no network, no key): the same request always
gets the same text, one token per word, ``input`` estimated from the prompt like a real
tokenizer would roughly count it. With an ``api_base`` (a credential pointing at
the test suite's fake provider server), it speaks OpenAI's format over HTTP through the real adapter engine, so
benchmarks and end-to-end runs exercise the whole provider path.

It is no provider of the domain's (``domain.catalog.Provider``): the registry offers it
under ``FAKE_PROVIDER`` outside production, and in production only when
``ENABLE_DEMO_PROVIDER=1``. Like any provider, a target of it is used only by an
organization holding a credential for it (the key is not checked; ``make demo`` adds one).
"""

import asyncio
from collections.abc import AsyncIterator

import msgspec

from adapters.providers.openai import OpenAIDialect
from application.ports.providers import ProviderClient, ProviderTarget
from domain.catalog import ProviderName
from domain.llm import (
    FinishReason,
    LlmRequest,
    LlmResponse,
    Role,
    StreamEnd,
    StreamEvent,
    TextDelta,
    estimate_prompt_tokens,
    estimate_tokens,
)
from domain.usage import TokenUsage

FAKE_PROVIDER: ProviderName = "fake"

FILLER = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "the",
    "lazy",
    "dog",
    "while",
    "a",
    "careful",
    "ledger",
    "keeps",
    "every",
    "token",
    "counted",
    "and",
    "every",
    "credit",
    "settled",
    "exactly",
    "once",
]


class FakeUpstreamDialect(OpenAIDialect):
    label = "Fake provider"


class FakeProviderClient:
    def __init__(
        self, *, http: ProviderClient | None = None, reply_tokens: int = 24, chunk_delay_s: float = 0.0
    ) -> None:
        self._http = http
        self._reply_tokens = reply_tokens
        self._chunk_delay_s = chunk_delay_s

    def check(self, model: str, request: LlmRequest) -> None:
        """Over HTTP it speaks OpenAI's format (and can do what it can); in process it answers
        text whatever the request holds."""
        if self._http is not None:
            self._http.check(model, request)

    async def complete(self, target: ProviderTarget, request: LlmRequest) -> LlmResponse:
        if target.api_base and self._http is not None:
            return await self._http.complete(target, request)
        pieces, finish = self._answer(request)
        return LlmResponse(
            content="".join(pieces),
            finish_reason=finish,
            usage=self._usage(request, pieces),
            provider_model=target.model,
        )

    async def stream(self, target: ProviderTarget, request: LlmRequest) -> AsyncIterator[StreamEvent]:
        if target.api_base and self._http is not None:
            upstream = self._http.stream(target, request)
            try:
                async for event in upstream:
                    yield event
            finally:  # closing this stream closes the upstream one now, not at garbage collection
                closer = getattr(upstream, "aclose", None)
                if closer is not None:
                    await closer()
            return
        pieces, finish = self._answer(request)
        for piece in pieces:
            if self._chunk_delay_s:
                await asyncio.sleep(self._chunk_delay_s)
            yield TextDelta(piece)
        yield StreamEnd(finish_reason=finish, usage=self._usage(request, pieces), provider_model=target.model)

    def _answer(self, request: LlmRequest) -> tuple[list[str], FinishReason]:
        """One piece per token: an opening that echoes the question, then filler words."""
        question = next((m.content for m in reversed(request.messages) if m.role is Role.USER), "")
        words = ["This", " is", " a", " fake", " answer", " to:"] + [f" {w}" for w in question.split()[:8]]
        index = 0
        while len(words) < self._reply_tokens:
            words.append(f" {FILLER[index % len(FILLER)]}")
            index += 1
        words = words[: self._reply_tokens]
        finish = FinishReason.STOP
        if len(words) > request.max_tokens:
            words, finish = words[: request.max_tokens], FinishReason.LENGTH
        if request.json_mode:
            return [msgspec.json.encode({"answer": "".join(words).strip()}).decode()], finish
        return words, finish

    @staticmethod
    def _usage(request: LlmRequest, pieces: list[str]) -> TokenUsage:
        prompt = estimate_prompt_tokens(request.messages)
        output = len(pieces) if len(pieces) > 1 else estimate_tokens("".join(pieces))
        return TokenUsage(input=prompt, output=output)
