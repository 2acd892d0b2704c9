"""The address policy at connect time, over real HTTP: a provider call never reaches an
address the policy refuses, whatever the name resolved to when the URL was stored."""

import socket
from collections.abc import AsyncIterator

import httpx
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult

from adapters.network.guard import guarded_aiohttp_transport
from adapters.providers._http import HttpProviderClient, Timeouts, Transport
from adapters.providers.openai import OpenAIDialect
from adapters.providers.registry import open_provider_clients
from application.errors import ProviderError
from application.ports.providers import ProviderClient, ProviderTarget
from application.services._outbound import OutboundUrlCheck
from domain.catalog import Provider
from domain.outbound import DEVELOPMENT_POLICY, AddressPolicy
from tests.integration.providers.conftest import KEY, RETRY, TIMEOUT_S, chat, on_both_transports
from tests.support.fake_provider import FakeUpstream

# Private addresses refused, plain http allowed: the fake upstream speaks no TLS.
NO_PRIVATE = AddressPolicy(require_https=False, allow_private=False)


@pytest.fixture(scope="module")
async def guarded() -> AsyncIterator[dict[Transport, dict[Provider, ProviderClient]]]:
    async with (
        open_provider_clients(timeout_s=TIMEOUT_S, max_retries=2, retry=RETRY, address_policy=NO_PRIVATE) as aiohttp_,
        open_provider_clients(
            timeout_s=TIMEOUT_S, max_retries=2, retry=RETRY, address_policy=NO_PRIVATE, transport="httpx"
        ) as httpx_,
    ):
        yield {"aiohttp": aiohttp_, "httpx": httpx_}


def target(api_base: str) -> ProviderTarget:
    return ProviderTarget(provider=Provider.OPENAI, model="gpt-4o", api_key=KEY, api_base=api_base)


async def refusal(client: ProviderClient, api_base: str) -> ProviderError:
    with pytest.raises(ProviderError) as caught:
        await client.complete(target(api_base), chat())
    return caught.value


async def test_a_name_resolving_to_loopback_is_refused_at_connect_time(
    server: FakeUpstream,
    guarded: dict[Transport, dict[Provider, ProviderClient]],
    clients: dict[Transport, dict[Provider, ProviderClient]],
) -> None:
    api_base = f"http://localhost:{server.port}/v1"
    # the name does lead to the upstream: with private addresses allowed the call goes through
    assert (await clients["aiohttp"][Provider.OPENAI].complete(target(api_base), chat())).content == "Hello world"
    server.reset()
    error = await refusal(guarded["aiohttp"][Provider.OPENAI], api_base)
    assert type(error) is ProviderError and not error.retryable and error.attempts == 1
    assert error.detail == "OpenAI endpoint is not allowed: the endpoint resolves to a loopback address"
    assert len(server.received) == 0  # refused before a connection was opened


@on_both_transports
async def test_an_ip_literal_the_policy_refuses_is_never_connected_to(
    server: FakeUpstream, guarded: dict[Transport, dict[Provider, ProviderClient]], transport: Transport
) -> None:
    error = await refusal(guarded[transport][Provider.OPENAI], f"http://127.0.0.1:{server.port}/v1")
    assert error.detail == "OpenAI endpoint is not allowed: the endpoint resolves to a loopback address"
    assert len(server.received) == 0


async def test_plain_http_is_refused_at_connect_time_when_https_is_required(server: FakeUpstream) -> None:
    strict = AddressPolicy(require_https=True, allow_private=True)
    async with open_provider_clients(timeout_s=TIMEOUT_S, max_retries=2, retry=RETRY, address_policy=strict) as c:
        error = await refusal(c[Provider.OPENAI], f"http://127.0.0.1:{server.port}/v1")
    assert error.detail == "OpenAI endpoint is not allowed: the endpoint must be an https URL"
    assert len(server.received) == 0


class Rebinding(AbstractResolver):
    """A name whose record changes after the URL was checked: it now answers 127.0.0.1."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        return None


class PublicAnswer:
    """What the same name answered when the URL was stored."""

    async def resolve(self, host: str, port: int) -> list[str]:
        return ["93.184.216.34"]


async def test_a_name_rebound_to_loopback_after_its_check_is_refused_on_connect(server: FakeUpstream) -> None:
    api_base = f"http://models.example.test:{server.port}/v1"
    stored = await OutboundUrlCheck(policy=NO_PRIVATE, resolver=PublicAnswer())(api_base, field="api_base")
    assert stored == api_base  # accepted when stored: the name pointed at a public address then

    def client(http: httpx.AsyncClient) -> ProviderClient:
        return HttpProviderClient(OpenAIDialect(), http, timeouts=Timeouts.from_setting(TIMEOUT_S), retry=RETRY)

    limits = httpx.Limits(max_connections=4)
    lenient = guarded_aiohttp_transport(DEVELOPMENT_POLICY, limits=limits, resolver=Rebinding())
    strict = guarded_aiohttp_transport(NO_PRIVATE, limits=limits, resolver=Rebinding())
    async with httpx.AsyncClient(transport=lenient) as open_http, httpx.AsyncClient(transport=strict) as guarded_http:
        # the rebound name does reach the upstream when nothing refuses it
        assert (await client(open_http).complete(target(stored), chat())).content == "Hello world"
        server.reset()
        error = await refusal(client(guarded_http), stored)
    assert error.detail == "OpenAI endpoint is not allowed: the endpoint resolves to a loopback address"
    assert len(server.received) == 0


@on_both_transports
async def test_a_refused_address_stays_refused_on_every_call(
    guarded: dict[Transport, dict[Provider, ProviderClient]], server: FakeUpstream, transport: Transport
) -> None:
    """The transport remembers its verdict per host: the second call is refused as the first."""
    client = guarded[transport][Provider.OPENAI]
    for _ in range(3):
        with pytest.raises(ProviderError) as caught:
            await client.complete(target(server.api_base("openai")), chat())
        assert "private" in caught.value.detail or "loopback" in caught.value.detail
    assert not server.received
