"""Each provider's usage block lands exactly on the disjoint TokenUsage categories.

The native blocks below carry the counts of real recorded provider responses, both
as a JSON answer and as a stream, so the mapping is checked on both paths.
"""

from typing import Any

import pytest

from domain.catalog import Provider
from domain.llm import StreamEnd, estimate_tokens
from domain.usage import TokenUsage
from tests.integration.providers.conftest import Upstream, UpstreamFor, chat
from tests.support.fake_provider import Reply

CASES: list[tuple[str, Provider, dict[str, Any], TokenUsage]] = [
    (
        "openai-cache-hit",
        Provider.OPENAI,
        {
            "prompt_tokens": 4020,
            "completion_tokens": 4,
            "total_tokens": 4024,
            "prompt_tokens_details": {"audio_tokens": 0, "cache_write_tokens": 0, "cached_tokens": 4012},
            "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
        },
        TokenUsage(input=8, cached_input=4012, output=4),
    ),
    (
        "openai-cache-write",
        Provider.OPENAI,
        {
            "prompt_tokens": 4020,
            "completion_tokens": 4,
            "total_tokens": 4024,
            "prompt_tokens_details": {"audio_tokens": 0, "cache_write_tokens": 4012, "cached_tokens": 0},
        },
        TokenUsage(input=8, cache_write=4012, output=4),
    ),
    (
        "openai-reasoning",
        Provider.OPENAI,
        {
            "prompt_tokens": 7,
            "completion_tokens": 87,
            "total_tokens": 94,
            "prompt_tokens_details": {"cached_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 64, "accepted_prediction_tokens": 0},
        },
        TokenUsage(input=7, output=23, reasoning=64),
    ),
    (
        "openai-cached-and-reasoning",
        Provider.OPENAI,
        {
            "prompt_tokens": 6226,
            "completion_tokens": 1411,
            "total_tokens": 7637,
            "prompt_tokens_details": {"cached_tokens": 1152, "audio_tokens": 0},
            "completion_tokens_details": {"reasoning_tokens": 768},
        },
        TokenUsage(input=5074, cached_input=1152, output=643, reasoning=768),
    ),
    (
        "anthropic-cache-write-and-read",
        Provider.ANTHROPIC,
        {
            "cache_creation": {"ephemeral_1h_input_tokens": 0, "ephemeral_5m_input_tokens": 418},
            "cache_creation_input_tokens": 418,
            "cache_read_input_tokens": 1111,
            "input_tokens": 3,
            "output_tokens": 33,
            "service_tier": "standard",
        },
        TokenUsage(input=3, cache_write=418, cached_input=1111, output=33),
    ),
    (
        "anthropic-thinking",  # output_tokens includes thinking, which the API does not split out
        Provider.ANTHROPIC,
        {"input_tokens": 43, "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0, "output_tokens": 282},
        TokenUsage(input=43, output=282),
    ),
    (
        "gemini-cached-with-thoughts",
        Provider.GEMINI,
        {
            "cacheTokensDetails": [{"modality": "TEXT", "tokenCount": 3512}],
            "cachedContentTokenCount": 3512,
            "candidatesTokenCount": 2,
            "promptTokenCount": 3520,
            "thoughtsTokenCount": 42,
            "totalTokenCount": 3564,
        },
        TokenUsage(input=8, cached_input=3512, output=2, reasoning=42),
    ),
    (
        "gemini-thinking",
        Provider.GEMINI,
        {"candidatesTokenCount": 8, "promptTokenCount": 15, "thoughtsTokenCount": 275, "totalTokenCount": 298},
        TokenUsage(input=15, output=8, reasoning=275),
    ),
    (
        "gemini-tool-use-prompt",
        Provider.GEMINI,
        {"promptTokenCount": 100, "toolUsePromptTokenCount": 40, "candidatesTokenCount": 10, "totalTokenCount": 150},
        TokenUsage(input=140, output=10),
    ),
    (
        "fireworks-plain",
        Provider.FIREWORKS,
        {"prompt_tokens": 14, "total_tokens": 40, "completion_tokens": 26},
        TokenUsage(input=14, output=26),
    ),
    (
        "fireworks-cached-details",
        Provider.FIREWORKS,
        {
            "prompt_tokens": 1000,
            "total_tokens": 1050,
            "completion_tokens": 50,
            "prompt_tokens_details": {"cached_tokens": 800},
        },
        TokenUsage(input=200, cached_input=800, output=50),
    ),
]


@pytest.mark.parametrize(("provider", "native", "expected"), [case[1:] for case in CASES], ids=[c[0] for c in CASES])
async def test_usage_is_mapped_exactly(
    upstream_for: UpstreamFor, provider: Provider, native: dict[str, Any], expected: TokenUsage
) -> None:
    upstream = upstream_for(provider)
    chunks = ("Python", " is", " a language.")
    upstream.server.push(Reply(chunks=chunks, usage=native), Reply(chunks=chunks, usage=native))
    response = await upstream.client.complete(upstream.target, chat())
    assert response.usage == expected
    events = [event async for event in upstream.client.stream(upstream.target, chat())]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.usage == expected
    assert not end.usage_estimated


async def test_gemini_stream_usage_is_cumulative_and_the_last_chunk_wins(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.GEMINI)
    final = {"promptTokenCount": 18, "candidatesTokenCount": 80, "totalTokenCount": 133, "thoughtsTokenCount": 35}
    upstream.server.push(Reply(chunks=tuple(f"{n}\n" for n in range(1, 31)), usage=final))
    events = [event async for event in upstream.client.stream(upstream.target, chat())]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    # 30 chunks each carrying cumulative counts: summing them would be far above 80
    assert end.usage == TokenUsage(input=18, output=80, reasoning=35)


async def test_fireworks_usage_on_a_separate_chunk_is_accepted(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.FIREWORKS)
    native = {"prompt_tokens": 14, "total_tokens": 40, "completion_tokens": 26}
    upstream.server.push(Reply(usage=native, usage_chunk=True))
    events = [event async for event in upstream.client.stream(upstream.target, chat())]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert end.usage == TokenUsage(input=14, output=26)
    assert not end.usage_estimated


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_fireworks_cached_prompt_header_is_used_when_usage_has_no_details(
    upstream_for: UpstreamFor, stream: bool
) -> None:
    upstream = upstream_for(Provider.FIREWORKS)
    native = {"prompt_tokens": 1000, "total_tokens": 1050, "completion_tokens": 50}
    upstream.server.push(Reply(usage=native, headers={"fireworks-cached-prompt-tokens": "768"}))
    if stream:
        end = [event async for event in upstream.client.stream(upstream.target, chat())][-1]
        assert isinstance(end, StreamEnd)
        usage = end.usage
    else:
        usage = (await upstream.client.complete(upstream.target, chat())).usage
    assert usage == TokenUsage(input=232, cached_input=768, output=50)


async def test_an_answer_without_usage_is_billed_at_a_flagged_estimate(upstream: Upstream) -> None:
    chunks = ("Paris", " is", " the", " capital.")
    upstream.server.push(Reply(chunks=chunks, no_usage=True), Reply(chunks=chunks, no_usage=True))
    prompt = sum(estimate_tokens(m.content) for m in chat().messages)
    response = await upstream.client.complete(upstream.target, chat())
    assert response.usage_estimated
    assert response.usage == TokenUsage(input=prompt, output=estimate_tokens("Paris is the capital."))
    end = [event async for event in upstream.client.stream(upstream.target, chat())][-1]
    assert isinstance(end, StreamEnd)
    assert end.usage_estimated
    assert end.usage == TokenUsage(input=prompt, output=estimate_tokens("Paris is the capital."))
