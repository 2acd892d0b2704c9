"""Provider clients keep no cookies: a Set-Cookie from a provider is never sent back."""

from adapters.providers._http import Transport
from domain.catalog import Provider
from tests.integration.providers.conftest import UpstreamFor, chat, on_both_transports
from tests.support.fake_provider import Reply


@on_both_transports
async def test_a_providers_cookie_is_not_sent_back(upstream_for: UpstreamFor, transport: Transport) -> None:
    upstream = upstream_for(Provider.OPENAI, transport)
    upstream.server.push(Reply(headers={"set-cookie": "__cf_bm=tracking; Path=/; HttpOnly"}), Reply())
    await upstream.client.complete(upstream.target, chat())
    await upstream.client.complete(upstream.target, chat())
    first, second = upstream.server.received
    assert "cookie" not in {k.lower() for k in first.headers}
    assert "cookie" not in {k.lower() for k in second.headers}
