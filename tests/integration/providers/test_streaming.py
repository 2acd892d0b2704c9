"""Streams: faults after the first byte carry the usage seen so far; nothing is retried once
text reached the consumer; closing the iterator closes the upstream response."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from adapters.providers._http import Transport
from adapters.providers.fake import FAKE_PROVIDER
from application.errors import ProviderError, ProviderResponseError, ProviderTimeoutError, ProviderUnavailableError
from application.ports.providers import ProviderTarget
from domain.catalog import Provider
from domain.llm import StreamEnd, TextDelta, estimate_tokens
from domain.usage import TokenUsage
from tests.integration.providers.conftest import (
    RETRY_ONCE,
    ClientsByTransport,
    Upstream,
    UpstreamFor,
    both_transports,
    chat,
    for_every_provider,
    on_both_transports,
)
from tests.support.fake_provider import FakeUpstream, Fault, Reply

CHUNKS = tuple(f" token{index:03d}" for index in range(12))
# native final usage with a recognisable prompt side: Anthropic and Gemini report it before the end
NATIVE: dict[Provider, dict[str, Any]] = {
    Provider.OPENAI: {"prompt_tokens": 1234, "completion_tokens": 12, "total_tokens": 1246},
    Provider.FIREWORKS: {"prompt_tokens": 1234, "total_tokens": 1246, "completion_tokens": 12},
    Provider.ANTHROPIC: {
        "input_tokens": 34,
        "cache_creation_input_tokens": 200,
        "cache_read_input_tokens": 1000,
        "output_tokens": 12,
    },
    Provider.GEMINI: {"promptTokenCount": 1234, "cachedContentTokenCount": 1000, "candidatesTokenCount": 12},
}
REQUEST_PROMPT = sum(estimate_tokens(m.content) for m in chat().messages)


def prompt_seen(provider: Provider) -> TokenUsage:
    """The prompt side a cut stream can know: reported early by Anthropic and Gemini, else estimated."""
    if provider is Provider.ANTHROPIC:
        return TokenUsage(input=34, cache_write=200, cached_input=1000)
    if provider is Provider.GEMINI:
        return TokenUsage(input=234, cached_input=1000)
    return TokenUsage(input=REQUEST_PROMPT)


async def consume(upstream: Upstream) -> tuple[list[str], ProviderError | None, StreamEnd | None]:
    texts: list[str] = []
    try:
        async for event in upstream.client.stream(upstream.target, chat()):
            if isinstance(event, TextDelta):
                texts.append(event.content)
            else:
                return texts, None, event
    except ProviderError as exc:
        return texts, exc, None
    raise AssertionError("the stream ended without a StreamEnd")


async def failed_after(upstream: Upstream, fault: Fault, after: int) -> ProviderError:
    """The error of a stream that fails with ``fault`` after ``after`` chunks, all of which
    reached the consumer; its usage is marked estimated."""
    upstream.server.push(Reply(chunks=CHUNKS, fault=fault, fault_after=after))
    texts, error, _ = await consume(upstream)
    assert texts == list(CHUNKS[:after])
    assert error is not None and error.usage_estimated
    return error


@pytest.mark.parametrize(
    ("fault", "family"),
    [("cut", ProviderUnavailableError), ("truncate", ProviderResponseError), ("error_event", ProviderUnavailableError)],
)
async def test_a_stream_failing_after_text_carries_estimated_usage_and_is_not_retried(
    upstream: Upstream, fault: str, family: type[ProviderError]
) -> None:
    reply = Reply(chunks=CHUNKS, usage=NATIVE[upstream.provider], fault=fault, fault_after=5)  # type: ignore[arg-type]
    upstream.server.push(reply, Reply())
    texts, error, _ = await consume(upstream)
    assert texts == list(CHUNKS[:5])
    assert type(error) is family
    assert error.attempts == 1
    assert len(upstream.server.received) == 1  # never retried once text was passed on
    assert error.usage_estimated
    generated = estimate_tokens("".join(CHUNKS[:5]))
    prompt = prompt_seen(upstream.provider)
    assert error.usage is not None
    assert (error.usage.input, error.usage.cached_input, error.usage.cache_write) == (
        prompt.input,
        prompt.cached_input,
        prompt.cache_write,
    )
    assert error.usage.output >= generated
    assert error.usage.output <= max(generated, 5)  # at most what the provider said it had generated


async def test_a_stream_malformed_mid_way_is_a_response_error_with_usage(upstream: Upstream) -> None:
    error = await failed_after(upstream, "malformed", 3)
    assert isinstance(error, ProviderResponseError)
    assert error.usage is not None


@pytest.mark.parametrize("fault", ["cut", "error_event", "truncate"])
async def test_a_stream_failing_before_any_text_is_retried(upstream: Upstream, fault: str) -> None:
    upstream.server.push(Reply(chunks=CHUNKS, fault=fault, fault_after=0), Reply(chunks=CHUNKS))  # type: ignore[arg-type]
    texts, error, end = await consume(upstream)
    if fault == "truncate":  # a complete but empty-handed stream is not a transient failure
        assert isinstance(error, ProviderResponseError)
        assert len(upstream.server.received) == 1
        return
    assert error is None
    assert texts == list(CHUNKS)
    assert end is not None and end.attempts == 2
    assert len(upstream.server.received) == 2


async def test_a_stream_answered_with_json_is_a_response_error(upstream: Upstream) -> None:
    upstream.server.push(Reply(body=b'{"id": "not a stream"}'))
    texts, error, _ = await consume(upstream)
    assert texts == []
    assert isinstance(error, ProviderResponseError)
    assert error.attempts == 1


@pytest.fixture(scope="module")
async def stall_clients() -> AsyncIterator[ClientsByTransport]:
    """A short timeout, yet long enough that a loaded machine delivers the first events
    within it: the stall, not a slow start, is what times out (a slow start is retried)."""
    async with both_transports(0.5, 1, RETRY_ONCE) as clients:
        yield clients


@on_both_transports
@for_every_provider
async def test_a_stream_that_stalls_mid_way_times_out_with_usage(
    server: FakeUpstream,
    stall_clients: ClientsByTransport,
    provider: Provider,
    transport: Transport,
) -> None:
    upstream = Upstream(provider=provider, client=stall_clients[transport][provider], server=server)
    error = await failed_after(upstream, "stall", 4)
    assert isinstance(error, ProviderTimeoutError)
    assert error.usage is not None
    assert len(server.received) == 1


@on_both_transports
@for_every_provider
async def test_a_cut_stream_maps_the_same_on_both_transports(
    upstream_for: UpstreamFor, provider: Provider, transport: Transport
) -> None:
    upstream = upstream_for(provider, transport)
    error = await failed_after(upstream, "cut", 2)
    assert isinstance(error, ProviderUnavailableError)


@on_both_transports
@for_every_provider
async def test_closing_the_stream_closes_the_upstream_response(
    upstream_for: UpstreamFor, provider: Provider, transport: Transport
) -> None:
    upstream = upstream_for(provider, transport)
    upstream.server.push(Reply(chunks=tuple(f" w{n}" for n in range(500)), chunk_delay_s=0.01))
    stream = upstream.client.stream(upstream.target, chat())
    first = await anext(aiter(stream))
    assert isinstance(first, TextDelta)
    await stream.aclose()  # type: ignore[attr-defined]
    for _ in range(100):
        if upstream.server.disconnects:
            break
        await asyncio.sleep(0.01)
    assert upstream.server.disconnects == 1  # the upstream saw the connection go within a second


async def test_the_fake_provider_with_an_api_base_streams_through_the_real_engine(
    upstream_for: UpstreamFor, clients: ClientsByTransport
) -> None:
    server = upstream_for(Provider.OPENAI).server
    fake = clients["aiohttp"][FAKE_PROVIDER]
    target = ProviderTarget(provider=FAKE_PROVIDER, model="fake-fast", api_base=server.api_base("openai"))
    server.push(Reply(chunks=tuple(f" w{n}" for n in range(500)), chunk_delay_s=0.01))
    stream = fake.stream(target, chat())
    assert isinstance(await anext(aiter(stream)), TextDelta)
    await stream.aclose()  # type: ignore[attr-defined]
    for _ in range(100):
        if server.disconnects:
            break
        await asyncio.sleep(0.01)
    assert server.disconnects == 1
    assert server.received[0].path == "/v1/chat/completions"


async def test_the_fake_provider_without_an_api_base_answers_in_process(
    server: FakeUpstream, clients: ClientsByTransport
) -> None:
    fake = clients["aiohttp"][FAKE_PROVIDER]
    target = ProviderTarget(provider=FAKE_PROVIDER, model="fake-fast")
    response = await fake.complete(target, chat(max_tokens=5))
    events = [event async for event in fake.stream(target, chat(max_tokens=5))]
    end = events[-1]
    assert isinstance(end, StreamEnd)
    assert "".join(e.content for e in events if isinstance(e, TextDelta)) == response.content
    assert end.usage == response.usage and response.usage.output == 5
    assert end.finish_reason is response.finish_reason
    assert len(server.received) == 0  # no network
