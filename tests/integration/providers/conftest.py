"""The provider adapters over real HTTP against the fake upstream on 127.0.0.1.

One fake upstream for the session (reset before every test); each provider's client
comes from the same registry the service uses, with tiny retry delays and a short
timeout so faults resolve in a fraction of a second.
"""

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from adapters.providers._http import RetryPolicy, Transport
from adapters.providers.registry import open_provider_clients
from application.errors import ProviderError
from application.ports.providers import ProviderClient, ProviderTarget
from domain.catalog import Provider
from domain.llm import ChatMessage, LlmRequest, Role
from tests.support.fake_provider import FakeUpstream

TIMEOUT_S = 0.4
RETRY = RetryPolicy(max_retries=2, base_delay_s=0.001, max_delay_s=0.004, max_retry_after_s=5.0)
RETRY_ONCE = RetryPolicy(max_retries=1, base_delay_s=0.001, max_delay_s=0.002)  # the timeout tests'
KEY = "sk-test-0123456789abcdef"
MODELS = {
    Provider.OPENAI: "gpt-4o",
    Provider.ANTHROPIC: "claude-sonnet-4-5",
    Provider.GEMINI: "gemini-2.5-flash",
    Provider.FIREWORKS: "accounts/fireworks/models/llama-v3p1-8b-instruct",
}
PROVIDERS = list(MODELS)
# Run a test once per HTTP transport the provider clients can use, or once per provider.
on_both_transports = pytest.mark.parametrize("transport", ["aiohttp", "httpx"])
for_every_provider = pytest.mark.parametrize("provider", PROVIDERS, ids=str)


def chat(*, max_tokens: int = 64, **knobs: object) -> LlmRequest:
    messages = [ChatMessage(role=Role.SYSTEM, content="Be brief."), ChatMessage(role=Role.USER, content="Hi there")]
    return LlmRequest(messages=messages, max_tokens=max_tokens, **knobs)  # type: ignore[arg-type]


@dataclass
class Upstream:
    """A provider's client aimed at the fake upstream, and what the upstream saw."""

    provider: Provider
    client: ProviderClient
    server: FakeUpstream

    @property
    def target(self) -> ProviderTarget:
        return self.target_for(self.provider)

    def target_for(self, provider: Provider, **overrides: str) -> ProviderTarget:
        fields = {"model": MODELS[provider], "api_key": KEY, "api_base": self.server.api_base(str(provider))}
        fields.update(overrides)
        return ProviderTarget(provider=provider, **fields)  # type: ignore[arg-type]


UpstreamFor = Callable[..., Upstream]


@pytest.fixture(scope="session")
async def fake_upstream() -> AsyncIterator[FakeUpstream]:
    async with FakeUpstream() as server:
        yield server


ClientsByTransport = dict[Transport, dict[Provider, ProviderClient]]


@asynccontextmanager
async def both_transports(timeout_s: float, max_retries: int, retry: RetryPolicy) -> AsyncIterator[ClientsByTransport]:
    """Every provider's client on aiohttp and on httpx, with this timeout and retry."""
    async with (
        open_provider_clients(timeout_s=timeout_s, max_retries=max_retries, retry=retry) as aiohttp_clients,
        open_provider_clients(
            timeout_s=timeout_s, max_retries=max_retries, retry=retry, transport="httpx"
        ) as httpx_clients,
    ):
        yield {"aiohttp": aiohttp_clients, "httpx": httpx_clients}


@pytest.fixture(scope="session")
async def clients() -> AsyncIterator[ClientsByTransport]:
    async with both_transports(TIMEOUT_S, 2, RETRY) as clients:
        yield clients


@pytest.fixture(scope="module")
async def impatient() -> AsyncIterator[ClientsByTransport]:
    """A very short timeout and a single retry: for the timeout tests."""
    async with both_transports(0.15, 1, RETRY_ONCE) as clients:
        yield clients


@pytest.fixture
def server(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.reset()
    return fake_upstream


@pytest.fixture
def upstream_for(server: FakeUpstream, clients: ClientsByTransport) -> UpstreamFor:
    def make(provider: Provider, transport: Transport = "aiohttp") -> Upstream:
        return Upstream(provider=provider, client=clients[transport][provider], server=server)

    return make


@pytest.fixture(params=PROVIDERS, ids=str)
def upstream(request: pytest.FixtureRequest, upstream_for: UpstreamFor) -> Upstream:
    return upstream_for(request.param)


async def fail(upstream: Upstream, *, stream: bool) -> ProviderError:
    """The ProviderError one call (streamed or not) raises."""
    with pytest.raises(ProviderError) as caught:
        if stream:
            async for _ in upstream.client.stream(upstream.target, chat()):
                pass
        else:
            await upstream.client.complete(upstream.target, chat())
    return caught.value
