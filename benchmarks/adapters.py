"""Provider adapter overhead, and the HTTP transport the adapters run on.

1. **Parse + normalize**: a 1,000-token streamed answer in each provider's wire format,
   pre-rendered and served from memory (``httpx.MockTransport``, 16 KiB reads like
   aiohttp's), through the adapter's whole ``stream()`` path: SSE decoding, JSON decoding
   of every chunk, usage mapping, one ``TextDelta`` per token and the final ``StreamEnd``.
   The same bytes merely iterated by httpx give the baseline the adapter adds to.
2. **Transports over loopback**: the fake upstream in its own process; the OpenAI adapter's
   ``complete()`` (small JSON answers) at concurrency 1 and 32, and a 1,000-token stream at
   concurrency 1, with httpx's own transport and with ``httpx-aiohttp``'s.

Run with ``python -m benchmarks.adapters`` (or ``make bench``). Environment:
``BENCH_ADAPTER_CALLS`` (default 200 parse calls per provider), ``BENCH_SECONDS``
(default 3 per throughput point).
"""

import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx

from adapters.providers._http import Dialect, HttpProviderClient, RetryPolicy, Timeouts, Transport, create_http_client
from adapters.providers.anthropic import AnthropicDialect
from adapters.providers.fireworks import FireworksDialect
from adapters.providers.gemini import GeminiDialect
from adapters.providers.openai import OpenAIDialect
from application.ports.providers import ProviderTarget
from domain.catalog import Provider
from domain.llm import ChatMessage, LlmRequest, Role, StreamEnd
from tests.support.fake_provider import Reply, render_stream

TOKENS = 1_000
READ_SIZE = 16 * 1024
REQUEST = LlmRequest(messages=[ChatMessage(role=Role.USER, content="Say hello in five words.")], max_tokens=TOKENS)
DIALECTS: dict[Provider, Dialect] = {
    Provider.OPENAI: OpenAIDialect(),
    Provider.ANTHROPIC: AnthropicDialect(),
    Provider.GEMINI: GeminiDialect(),
    Provider.FIREWORKS: FireworksDialect(),
}
NO_RETRY = RetryPolicy(max_retries=0)


def _reply() -> Reply:
    return Reply(chunks=tuple(f" tok{index % 100}" for index in range(TOKENS)), model="bench-model")


def _target(provider: Provider, api_base: str) -> ProviderTarget:
    return ProviderTarget(provider=provider, model="bench-model", api_key="bench-key", api_base=api_base)


# -- 1. parse + normalize, in memory ------------------------------------------------------


def _memory_transport(body: bytes) -> httpx.MockTransport:
    async def pieces() -> AsyncIterator[bytes]:
        for start in range(0, len(body), READ_SIZE):
            yield body[start : start + READ_SIZE]

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=pieces())

    return httpx.MockTransport(handler)


async def parse_overhead(provider: Provider, calls: int) -> dict[str, float]:
    body = render_stream(str(provider), _reply())
    timeouts = Timeouts.from_setting(60)
    async with httpx.AsyncClient(transport=_memory_transport(body)) as http:
        client = HttpProviderClient(DIALECTS[provider], http, timeouts=timeouts, retry=NO_RETRY)
        target = _target(provider, "http://upstream.invalid")

        async def adapter_call() -> None:
            deltas = 0
            async for event in client.stream(target, REQUEST):
                if isinstance(event, StreamEnd):
                    assert deltas == TOKENS and event.usage.output == TOKENS and not event.usage_estimated
                else:
                    deltas += 1

        async def baseline_call() -> None:
            async with http.stream("POST", "http://upstream.invalid/", content=b"{}") as response:
                async for _ in response.aiter_bytes():
                    pass

        adapter_us = await _median_us(adapter_call, calls)
        baseline_us = await _median_us(baseline_call, calls)
    return {
        "bytes": len(body),
        "adapter_us_per_call": adapter_us,
        "baseline_us_per_call": baseline_us,
        "overhead_us_per_call": adapter_us - baseline_us,
        "overhead_us_per_chunk": (adapter_us - baseline_us) / TOKENS,
    }


async def _median_us(call: Callable[[], Awaitable[None]], calls: int) -> float:
    for _ in range(max(3, calls // 10)):
        await call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        await call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1e6


# -- 2. transports over loopback ------------------------------------------------------------


@contextlib.asynccontextmanager
async def fake_upstream(chunks: int) -> AsyncIterator[str]:
    """The fake upstream in its own process (so it does not share this one's CPU)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.support.fake_provider",
        "--chunks",
        str(chunks),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = (await asyncio.wait_for(process.stdout.readline(), 30)).decode().strip()
        yield line.removeprefix("listening on ")
    finally:
        process.terminate()
        await process.wait()


async def throughput(client: HttpProviderClient, target: ProviderTarget, concurrency: int, seconds: float) -> float:
    done = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal done
        while time.perf_counter() < deadline:
            await client.complete(target, REQUEST)
            done += 1

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return done / (time.perf_counter() - started)


async def transport_figures(transport: Transport, small_url: str, stream_url: str, seconds: float) -> dict[str, float]:
    timeouts = Timeouts.from_setting(30)
    figures: dict[str, float] = {}
    async with create_http_client(timeouts=timeouts, transport=transport) as http:
        client = HttpProviderClient(OpenAIDialect(), http, timeouts=timeouts, retry=NO_RETRY)
        small = _target(Provider.OPENAI, f"{small_url}/v1")
        for _ in range(50):  # warm the pool
            await client.complete(small, REQUEST)
        started = time.perf_counter()
        for _ in range(300):
            await client.complete(small, REQUEST)
        figures["complete_ms_mean_c1"] = (time.perf_counter() - started) / 300 * 1000
        figures["complete_rps_c1"] = await throughput(client, small, 1, seconds)
        figures["complete_rps_c32"] = await throughput(client, small, 32, seconds)
        streamed = _target(Provider.OPENAI, f"{stream_url}/v1")

        async def one_stream() -> None:
            async for _ in client.stream(streamed, REQUEST):
                pass

        figures["stream_1000_tokens_ms"] = await _median_us(one_stream, 50) / 1000
    return figures


async def run() -> dict[str, Any]:
    calls = int(os.environ.get("BENCH_ADAPTER_CALLS", "200"))
    seconds = float(os.environ.get("BENCH_SECONDS", "3"))
    results: dict[str, Any] = {"parse": {}, "transports": {}}
    for provider in DIALECTS:
        results["parse"][str(provider)] = await parse_overhead(provider, calls)
    async with fake_upstream(2) as small_url, fake_upstream(TOKENS) as stream_url:
        for transport in ("httpx", "aiohttp"):
            results["transports"][transport] = await transport_figures(transport, small_url, stream_url, seconds)
    return results


def report(results: dict[str, Any]) -> str:
    lines = [f"Adapter parse + normalize, {TOKENS}-token stream (median, in memory):"]
    lines.append(
        f"  {'provider':<10} {'bytes':>8} {'adapter µs':>11} {'httpx only µs':>14} {'µs/call':>9} {'µs/chunk':>9}"
    )
    for provider, row in results["parse"].items():
        lines.append(
            f"  {provider:<10} {row['bytes']:>8} {row['adapter_us_per_call']:>11.0f}"
            f" {row['baseline_us_per_call']:>14.0f} {row['overhead_us_per_call']:>9.0f}"
            f" {row['overhead_us_per_chunk']:>9.2f}"
        )
    lines.append("Transport, OpenAI adapter against the fake upstream (own process, loopback):")
    lines.append(f"  {'transport':<9} {'ms/call c1':>11} {'req/s c1':>9} {'req/s c32':>10} {'1000-tok stream ms':>19}")
    for transport, row in results["transports"].items():
        lines.append(
            f"  {transport:<9} {row['complete_ms_mean_c1']:>11.2f} {row['complete_rps_c1']:>9.0f}"
            f" {row['complete_rps_c32']:>10.0f} {row['stream_1000_tokens_ms']:>19.2f}"
        )
    return "\n".join(lines)


def main() -> None:
    print(report(asyncio.run(run())))


if __name__ == "__main__":
    main()
