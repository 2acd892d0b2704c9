"""Pure parts of the provider engine: retry timing, header parsing, thinking filters, memory."""

import random
import tracemalloc
from collections.abc import AsyncIterator

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.providers._http import (
    HttpProviderClient,
    RetryPolicy,
    Timeouts,
    parse_go_duration,
    parse_proto_duration,
    retry_after_header_s,
)
from adapters.providers.fireworks import ThinkFilter, strip_thinking
from adapters.providers.openai import OpenAIDialect
from application.ports.providers import ProviderTarget
from domain.catalog import Provider
from domain.llm import ChatMessage, LlmRequest, Role, StreamEnd


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("1ms", 0.001), ("6ms", 0.006), ("120ms", 0.12), ("8.64s", 8.64), ("1m30s", 90.0), ("114h18m0s", 411480.0)],
)
def test_go_durations_from_openai_reset_headers(value: str, seconds: float) -> None:
    assert parse_go_duration(value) == pytest.approx(seconds)


@pytest.mark.parametrize("value", ["", "soon", "5", "1x", "ms"])
def test_unparseable_durations_are_none(value: str) -> None:
    assert parse_go_duration(value) is None


def test_proto_durations_from_gemini_retry_info() -> None:
    assert parse_proto_duration("22s") == 22.0
    assert parse_proto_duration("0.5s") == 0.5
    assert parse_proto_duration("22") is None
    assert parse_proto_duration(22) is None


def test_retry_after_headers() -> None:
    assert retry_after_header_s({"retry-after": "23"}) == 23.0
    assert retry_after_header_s({"retry-after-ms": "84", "retry-after": "1"}) == pytest.approx(0.084)
    assert retry_after_header_s({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}) == 0.0  # a date in the past
    assert retry_after_header_s({"retry-after": "whenever"}) is None
    assert retry_after_header_s({}) is None


@given(retry=st.integers(min_value=1, max_value=10), seed=st.integers())
def test_backoff_grows_with_jitter_and_stays_capped(retry: int, seed: int) -> None:
    policy = RetryPolicy(max_retries=10, base_delay_s=0.5, max_delay_s=8.0)
    delay = policy.delay_s(retry, None, random.Random(seed))
    assert delay is not None
    backoff = min(8.0, 0.5 * 2 ** (retry - 1))
    assert backoff / 2 <= delay <= backoff


def test_retries_stop_after_the_last_allowed_one_and_beyond_the_retry_after_cap() -> None:
    policy = RetryPolicy(max_retries=2, max_retry_after_s=20.0)
    rng = random.Random(1)
    assert policy.delay_s(3, None, rng) is None
    assert policy.delay_s(1, 21.0, rng) is None
    delay = policy.delay_s(1, 2.0, rng)
    assert delay is not None and 2.0 <= delay <= 2.2


THINK = "<think>\nThe user wants a capital. Paris.\n</think>\n\nParis is the capital."


@given(cuts=st.lists(st.integers(min_value=0, max_value=len(THINK)), max_size=12))
def test_think_blocks_are_dropped_wherever_the_chunks_split(cuts: list[int]) -> None:
    positions = sorted(set(cuts))
    pieces = [THINK[a:b] for a, b in zip([0, *positions], [*positions, len(THINK)], strict=True)]
    think = ThinkFilter()
    text = "".join(think.feed(piece) for piece in pieces if piece) + think.flush()
    assert text == "Paris is the capital."
    assert think.thinking_bytes == len("\nThe user wants a capital. Paris.\n")
    assert strip_thinking(THINK) == "Paris is the capital."


def test_text_without_think_block_passes_unchanged() -> None:
    think = ThinkFilter()
    assert think.feed("  <b>bold</b>") == "  <b>bold</b>"
    assert think.feed(" <think>later tags stay</think>") == " <think>later tags stay</think>"
    assert strip_thinking("<think>never closed, all thinking") == ""


async def test_a_stream_holds_constant_memory_whatever_its_length() -> None:
    """Parsing keeps counters, not text: 20x more chunks must not mean more memory."""

    def transport(chunks: int) -> httpx.MockTransport:
        event = b'data: {"choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}],"usage":null}\n\n'
        end = (
            b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}\n\n'
            b'data: {"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":%d}}\n\ndata: [DONE]\n\n' % chunks
        )

        async def body() -> AsyncIterator[bytes]:
            for _ in range(chunks // 64):
                yield event * 64
            yield end

        return httpx.MockTransport(
            lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body())
        )

    request = LlmRequest(messages=[ChatMessage(role=Role.USER, content="hi")], max_tokens=10)
    target = ProviderTarget(provider=Provider.OPENAI, model="gpt-4o", api_key="k", api_base="http://upstream/v1")

    async def peak(chunks: int) -> int:
        async with httpx.AsyncClient(transport=transport(chunks)) as http:
            client = HttpProviderClient(OpenAIDialect(), http, timeouts=Timeouts.from_setting(5), retry=RetryPolicy())
            tracemalloc.start()
            try:
                async for event in client.stream(target, request):
                    if isinstance(event, StreamEnd):
                        assert event.usage.output == chunks
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    short, long = await peak(2_048), await peak(40_960)
    assert long < short + 64 * 1024
