"""The provider clients of one running service: one pooled httpx client per provider.

``open_provider_clients`` is entered once, in the lifespan; every call of the process
shares its connection pools, and leaving it closes them.
"""

import contextlib
from collections.abc import AsyncIterator

import httpx

from adapters.providers._http import Dialect, HttpProviderClient, RetryPolicy, Timeouts, Transport, create_http_client
from adapters.providers.anthropic import AnthropicDialect
from adapters.providers.fake import FakeProviderClient, FakeUpstreamDialect
from adapters.providers.fireworks import FireworksDialect
from adapters.providers.gemini import GeminiDialect
from adapters.providers.openai import OpenAIDialect
from application.ports.providers import ProviderClient
from domain.catalog import Provider
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
) -> AsyncIterator[dict[Provider, ProviderClient]]:
    """``timeout_s`` is ``PROVIDER_TIMEOUT_S``, ``max_retries`` ``PROVIDER_MAX_RETRIES``;
    ``retry`` replaces the whole retry policy (tests use tiny delays); ``address_policy``
    is checked on every connection (``Settings.api_base_policy``)."""
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
            Provider.FAKE: FakeProviderClient(http=client(FakeUpstreamDialect())),
        }
    finally:
        for pool in pools:
            with contextlib.suppress(Exception):
                await pool.aclose()
