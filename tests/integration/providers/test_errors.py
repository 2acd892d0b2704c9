"""Every failure leaves the adapter as a typed ProviderError; only retryable ones are retried."""

import asyncio
import socket
import time

import pytest

from adapters.providers._http import Transport
from application.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderContentFilteredError,
    ProviderError,
    ProviderModelNotFoundError,
    ProviderQuotaError,
    ProviderRateLimitedError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from domain.catalog import Provider
from domain.llm import StreamEnd
from tests.integration.providers.conftest import (
    KEY,
    RETRY,
    ClientsByTransport,
    Upstream,
    UpstreamFor,
    chat,
    fail,
    for_every_provider,
    on_both_transports,
)
from tests.support.fake_provider import FakeUpstream, Reply

RETRIED = RETRY.max_retries + 1
OA, A, G, F = Provider.OPENAI, Provider.ANTHROPIC, Provider.GEMINI, Provider.FIREWORKS
Case = tuple[str, Provider, Reply, type[ProviderError], int]


def on_every_provider(case: str, reply: Reply, family: type[ProviderError], attempts: int) -> list[Case]:
    """The same case on all four providers, in the order OA, A, G, F."""
    return [(case, provider, reply, family, attempts) for provider in (OA, A, G, F)]


CASES: list[Case] = [
    # (case, provider, scripted reply, error family, attempts made)
    ("auth-401", OA, Reply(error="auth"), ProviderAuthError, 1),
    ("auth-401", A, Reply(error="auth"), ProviderAuthError, 1),
    ("auth-400-api-key-invalid", G, Reply(error="auth"), ProviderAuthError, 1),
    ("auth-401", F, Reply(error="auth"), ProviderAuthError, 1),
    ("auth-403", F, Reply(error="auth", status=403), ProviderAuthError, 1),
    *on_every_provider("model-404", Reply(error="not_found"), ProviderModelNotFoundError, 1),
    *on_every_provider("bad-request-400", Reply(error="bad_request"), ProviderBadRequestError, 1),
    ("content-policy-400", OA, Reply(error="content_filter"), ProviderContentFilteredError, 1),
    ("insufficient-quota-429", OA, Reply(error="quota"), ProviderQuotaError, 1),
    ("credit-balance-400", A, Reply(error="quota"), ProviderQuotaError, 1),
    ("payment-required-402", F, Reply(error="quota", status=402), ProviderQuotaError, 1),
    (
        "rate-limit-429-retry-after",
        OA,
        Reply(error="rate_limit", retry_after="0.002"),
        ProviderRateLimitedError,
        RETRIED,
    ),
    ("rate-limit-429-bare", OA, Reply(error="rate_limit"), ProviderRateLimitedError, RETRIED),
    (
        "rate-limit-429-retry-after",
        A,
        Reply(error="rate_limit", retry_after="0.002"),
        ProviderRateLimitedError,
        RETRIED,
    ),
    ("rate-limit-429-bare", A, Reply(error="rate_limit"), ProviderRateLimitedError, RETRIED),
    ("rate-limit-429-retry-info", G, Reply(error="rate_limit", retry_after="0.002"), ProviderRateLimitedError, RETRIED),
    ("rate-limit-429-bare", G, Reply(error="rate_limit"), ProviderRateLimitedError, RETRIED),
    ("rate-limit-429", F, Reply(error="rate_limit"), ProviderRateLimitedError, RETRIED),
    *on_every_provider("server-500", Reply(error="server"), ProviderUnavailableError, RETRIED),
    ("unavailable-503", OA, Reply(error="overloaded"), ProviderUnavailableError, RETRIED),
    ("overloaded-529", A, Reply(error="overloaded", status=529), ProviderUnavailableError, RETRIED),
    ("unavailable-503", G, Reply(error="overloaded"), ProviderUnavailableError, RETRIED),
    ("unavailable-503", F, Reply(error="overloaded"), ProviderUnavailableError, RETRIED),
    *on_every_provider("connection-reset", Reply(fault="reset"), ProviderUnavailableError, RETRIED),
    ("html-error-page-502", OA, Reply(status=502, body=b"<html>Bad gateway</html>"), ProviderUnavailableError, RETRIED),
]
MALFORMED_CASES = [(p, Reply(fault="malformed"), ProviderResponseError, 1) for p in (OA, A, G, F)]


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize(
    ("provider", "reply", "family", "attempts"), [case[1:] for case in CASES], ids=[f"{c[1]}-{c[0]}" for c in CASES]
)
async def test_error_families_and_retries(
    upstream_for: UpstreamFor,
    provider: Provider,
    reply: Reply,
    family: type[ProviderError],
    attempts: int,
    stream: bool,
) -> None:
    upstream = upstream_for(provider)
    upstream.server.push(*[reply] * 5)
    error = await fail(upstream, stream=stream)
    assert type(error) is family
    assert error.attempts == attempts
    assert len(upstream.server.received) == attempts  # the retries really went out, and no more
    assert error.usage is None
    assert KEY not in str(error)


@pytest.mark.parametrize(("provider", "reply", "family", "attempts"), MALFORMED_CASES, ids=str)
async def test_a_malformed_json_answer_is_a_response_error_and_not_retried(
    upstream_for: UpstreamFor, provider: Provider, reply: Reply, family: type[ProviderError], attempts: int
) -> None:
    upstream = upstream_for(provider)
    upstream.server.push(reply)
    error = await fail(upstream, stream=False)
    assert type(error) is family
    assert len(upstream.server.received) == attempts


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_a_transient_failure_then_success_counts_attempts(upstream: Upstream, stream: bool) -> None:
    upstream.server.push(Reply(error="server"), Reply(fault="reset"), Reply(chunks=("ok",)))
    if stream:
        end = [event async for event in upstream.client.stream(upstream.target, chat())][-1]
        assert isinstance(end, StreamEnd)
        attempts = end.attempts
    else:
        response = await upstream.client.complete(upstream.target, chat())
        assert response.content == "ok"
        attempts = response.attempts
    assert attempts == 3
    assert len(upstream.server.received) == 3


async def test_retry_after_is_honoured(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.ANTHROPIC)
    upstream.server.push(Reply(error="rate_limit", retry_after="0.1"), Reply(error="rate_limit", retry_after="0.1"))
    started = time.monotonic()
    response = await upstream.client.complete(upstream.target, chat())
    assert time.monotonic() - started >= 0.2
    assert response.attempts == 3


@pytest.mark.parametrize(
    ("provider", "reply", "wait_s"),
    [
        (OA, Reply(error="rate_limit", retry_after="30"), 30.0),
        # no retry-after: the reset of the exhausted limit (a tokens limit here), Go-style durations
        (
            OA,
            Reply(
                error="rate_limit", headers={"x-ratelimit-reset-tokens": "1m6s", "x-ratelimit-reset-requests": "1ms"}
            ),
            66.0,
        ),
        (A, Reply(error="rate_limit", retry_after="23"), 23.0),
        (G, Reply(error="rate_limit", retry_after="22"), 22.0),  # RetryInfo.retryDelay "22s"
    ],
    ids=["openai-retry-after", "openai-reset-headers", "anthropic-retry-after", "gemini-retry-info"],
)
async def test_a_wait_beyond_the_cap_is_passed_on_instead_of_retried(
    upstream_for: UpstreamFor, provider: Provider, reply: Reply, wait_s: float
) -> None:
    upstream = upstream_for(provider)
    upstream.server.push(reply)
    error = await fail(upstream, stream=False)
    assert isinstance(error, ProviderRateLimitedError)
    assert error.retry_after_s == pytest.approx(wait_s)
    assert error.attempts == 1


async def test_x_should_retry_false_stops_retries(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.ANTHROPIC)
    upstream.server.push(Reply(error="overloaded", status=529, headers={"x-should-retry": "false"}))
    error = await fail(upstream, stream=False)
    assert isinstance(error, ProviderUnavailableError)
    assert error.attempts == 1


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_the_api_key_never_appears_in_an_error(upstream: Upstream, stream: bool) -> None:
    echo = b'{"error": {"message": "key ' + KEY.encode() + b' is not valid", "type": "authentication_error"}}'
    upstream.server.push(Reply(status=401, body=echo))
    error = await fail(upstream, stream=stream)
    assert isinstance(error, ProviderAuthError)
    assert KEY not in str(error)
    assert KEY not in repr(error.args)
    assert KEY not in repr(upstream.target)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@on_both_transports
async def test_a_refused_connection_is_unavailable_and_retried(upstream_for: UpstreamFor, transport: Transport) -> None:
    upstream = upstream_for(Provider.OPENAI, transport)
    target = upstream.target_for(Provider.OPENAI, api_base=f"http://127.0.0.1:{closed_port()}/v1")
    with pytest.raises(ProviderUnavailableError) as caught:
        await upstream.client.complete(target, chat())
    assert caught.value.attempts == RETRIED


async def test_a_misconfigured_api_base_is_a_provider_error(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.OPENAI)
    target = upstream.target_for(Provider.OPENAI, api_base="ftp://example.invalid/v1")
    with pytest.raises(ProviderError) as caught:
        await upstream.client.complete(target, chat())
    assert not caught.value.retryable


# -- timeouts: a client with a very short timeout and a single retry ----------------------


@on_both_transports
@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@for_every_provider
async def test_no_answer_in_time_is_a_timeout_and_retried(
    server: FakeUpstream,
    impatient: ClientsByTransport,
    provider: Provider,
    stream: bool,
    transport: Transport,
) -> None:
    upstream = Upstream(provider=provider, client=impatient[transport][provider], server=server)
    server.push(Reply(fault="timeout"), Reply(fault="timeout"))
    started = time.monotonic()
    error = await fail(upstream, stream=stream)
    assert isinstance(error, ProviderTimeoutError)
    assert error.attempts == 2
    assert time.monotonic() - started < 2.0
    # On a loaded machine a 0.15 s timeout can fire before the server has even read the
    # request: the client's attempt count is the retry's proof; the server saw no more.
    for _ in range(100):
        if len(server.received) >= 2:
            break
        await asyncio.sleep(0.01)
    assert len(server.received) <= 2
