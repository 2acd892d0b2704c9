"""The provider adapters over real HTTP against the fake upstream on 127.0.0.1.

One fake upstream for the session (reset before every test); each provider's client
comes from the same registry the service uses, with tiny retry delays and a short
timeout so faults resolve in a fraction of a second.
"""

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest

from adapters.providers._http import RetryPolicy, Transport
from adapters.providers.registry import open_provider_clients
from application.ports.providers import ProviderClient, ProviderTarget
from domain.catalog import Provider
from domain.llm import ChatMessage, LlmRequest, Role
from tests.support.fake_provider import FakeUpstream

TIMEOUT_S = 0.4
RETRY = RetryPolicy(max_retries=2, base_delay_s=0.001, max_delay_s=0.004, max_retry_after_s=5.0)
KEY = "sk-test-0123456789abcdef"
MODELS = {
    Provider.OPENAI: "gpt-4o",
    Provider.ANTHROPIC: "claude-sonnet-4-5",
    Provider.GEMINI: "gemini-2.5-flash",
    Provider.FIREWORKS: "accounts/fireworks/models/llama-v3p1-8b-instruct",
}
PROVIDERS = list(MODELS)


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


@pytest.fixture(scope="session")
async def clients() -> AsyncIterator[dict[Transport, dict[Provider, ProviderClient]]]:
    async with (
        open_provider_clients(timeout_s=TIMEOUT_S, max_retries=2, retry=RETRY) as aiohttp_clients,
        open_provider_clients(timeout_s=TIMEOUT_S, max_retries=2, retry=RETRY, transport="httpx") as httpx_clients,
    ):
        yield {"aiohttp": aiohttp_clients, "httpx": httpx_clients}


@pytest.fixture
def server(fake_upstream: FakeUpstream) -> FakeUpstream:
    fake_upstream.reset()
    return fake_upstream


@pytest.fixture
def upstream_for(server: FakeUpstream, clients: dict[Transport, dict[Provider, ProviderClient]]) -> UpstreamFor:
    def make(provider: Provider, transport: Transport = "aiohttp") -> Upstream:
        return Upstream(provider=provider, client=clients[transport][provider], server=server)

    return make


@pytest.fixture(params=PROVIDERS, ids=str)
def upstream(request: pytest.FixtureRequest, upstream_for: UpstreamFor) -> Upstream:
    return upstream_for(request.param)
