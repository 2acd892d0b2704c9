"""The provider clients of one running service: one pooled httpx client per provider.

``open_provider_clients`` is entered once, in the lifespan; every call of the process
shares its connection pools, and leaving it closes them. ``offered_providers`` is the
set of provider names the instance accepts: the domain's four, plus the ``fake`` demo
provider when it is enabled (``Settings.demo_provider``).
"""

import contextlib
from collections.abc import AsyncIterator

import httpx

from adapters.providers._http import Dialect, HttpProviderClient, RetryPolicy, Timeouts, Transport, create_http_client
from adapters.providers.anthropic import AnthropicDialect
from adapters.providers.fake import FAKE_PROVIDER, FakeProviderClient, FakeUpstreamDialect
from adapters.providers.fireworks import FireworksDialect
from adapters.providers.gemini import GeminiDialect
from adapters.providers.openai import OpenAIDialect
from application.errors import ProviderNotOfferedError
from application.ports.providers import ProviderClient, ProviderTarget
from domain.catalog import Provider, ProviderName
from domain.llm import LlmRequest, LlmResponse, StreamEvent
from domain.outbound import DEVELOPMENT_POLICY, AddressPolicy


@contextlib.asynccontextmanager
async def open_provider_clients(
    *,
    timeout_s: float,
    max_retries: int,
    transport: Transport = "aiohttp",
    retry: RetryPolicy | None = None,
    max_connections: int = 100,
    address_policy: AddressPolicy = DEVELOPMENT_POLICY,
    demo_provider: bool = True,
) -> AsyncIterator[dict[ProviderName, ProviderClient]]:
    """``timeout_s`` is ``PROVIDER_TIMEOUT_S``, ``max_retries`` ``PROVIDER_MAX_RETRIES``;
    ``retry`` replaces the whole retry policy (tests use tiny delays); ``address_policy``
    is checked on every connection (``Settings.api_base_policy``); without
    ``demo_provider`` calls through a stored ``fake`` target are refused."""
    timeouts = Timeouts.from_setting(timeout_s)
    policy = retry or RetryPolicy(max_retries=max_retries)
    pools: list[httpx.AsyncClient] = []

    def client(dialect: Dialect) -> HttpProviderClient:
        pool = create_http_client(
            timeouts=timeouts, transport=transport, max_connections=max_connections, policy=address_policy
        )
        pools.append(pool)
        return HttpProviderClient(dialect, pool, timeouts=timeouts, retry=policy)

    try:
        yield {
            Provider.OPENAI: client(OpenAIDialect()),
            Provider.ANTHROPIC: client(AnthropicDialect()),
            Provider.GEMINI: client(GeminiDialect()),
            Provider.FIREWORKS: client(FireworksDialect()),
            FAKE_PROVIDER: FakeProviderClient(http=client(FakeUpstreamDialect()))
            if demo_provider
            else NotOfferedClient(FAKE_PROVIDER),
        }
    finally:
        for pool in pools:
            with contextlib.suppress(Exception):
                await pool.aclose()


def offered_providers(*, demo_provider: bool) -> frozenset[ProviderName]:
    """The provider names this instance accepts for credentials and alias targets."""
    known: frozenset[ProviderName] = frozenset(Provider)
    return known | {FAKE_PROVIDER} if demo_provider else known


class NotOfferedClient:
    """Stands in for a provider the instance does not offer, so that targets stored while it
    was (a ``fake`` alias from a development run) are refused before anything is held."""

    def __init__(self, provider: ProviderName) -> None:
        self._provider = provider

    def check(self, model: str, request: LlmRequest) -> None:
        raise self._refused()

    async def complete(self, target: ProviderTarget, request: LlmRequest) -> LlmResponse:
        raise self._refused()

    def stream(self, target: ProviderTarget, request: LlmRequest) -> AsyncIterator[StreamEvent]:
        raise self._refused()

    def _refused(self) -> ProviderNotOfferedError:
        return ProviderNotOfferedError(f"provider {self._provider!r} is not offered by this instance")
