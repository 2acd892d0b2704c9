"""What of a provider's error body may reach a client: only its own message field, redacted
and truncated; a body that is not the provider's error format is never echoed at all."""

import msgspec
import pytest

from application.errors import ProviderBadRequestError, ProviderUnavailableError
from tests.integration.providers.conftest import KEY, Upstream, fail
from tests.support.fake_provider import Reply

LABELS = {"openai": "OpenAI", "anthropic": "Anthropic", "gemini": "Gemini", "fireworks": "Fireworks"}
OTHER_TOKEN = "sk-proj-someone-elses-key-5d41402abc4b2a76"
BEARER = "Bearer eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.sig"
BASE64_RUN = "Q2xhdWRlIGlzIGEgZ3JlYXQgbW9kZWwK9xYzAbC"
MESSAGE_LIMIT = 300  # characters of the provider's own message
HTML_PAGE = (
    b"<html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1>"
    b"<pre>upstream sent Authorization: Bearer " + KEY.encode() + b" to 10.0.3.7:8443</pre>"
    b"<script>var internal = 'db-primary.internal';</script></body></html>"
)


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_an_html_error_page_is_never_echoed(upstream: Upstream, stream: bool) -> None:
    upstream.server.push(*[Reply(status=502, body=HTML_PAGE, headers={"content-type": "text/html"})] * 5)
    error = await fail(upstream, stream=stream)
    assert isinstance(error, ProviderUnavailableError)
    assert error.detail == f"{LABELS[str(upstream.provider)]} returned an unreadable response (HTTP 502)"


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_only_the_providers_message_reaches_the_caller_redacted(upstream: Upstream, stream: bool) -> None:
    message = (
        f"Invalid request for key {KEY}; retried with {BEARER} and {OTHER_TOKEN}, trace {BASE64_RUN}; "
        "the model accounts/fireworks/models/llama-v3p1-8b-instruct has a context of 8192 tokens."
    )
    body = {
        "type": "error",
        "error": {"message": message, "type": "invalid_request_error", "code": 400, "status": "INVALID_ARGUMENT"},
        "debug": "<html>stack trace from internal-host-17</html>",
    }
    upstream.server.push(Reply(status=400, body=msgspec.json.encode(body)))
    error = await fail(upstream, stream=stream)
    assert isinstance(error, ProviderBadRequestError)
    detail = error.detail
    assert detail.startswith(f"{LABELS[str(upstream.provider)]} answered 400: Invalid request for key [redacted]")
    for secret in (KEY, OTHER_TOKEN, "eyJhbGciOiJIUzI1NiJ9", BASE64_RUN, "internal-host-17", "<html>"):
        assert secret not in detail
    assert "accounts/fireworks/models/llama-v3p1-8b-instruct" in detail  # what helps the caller survives
    assert "8192 tokens" in detail


async def test_a_long_message_is_cut_after_redaction(upstream: Upstream) -> None:
    message = "x " * 20 + KEY + " " + "context too long " * 200
    body = {"error": {"message": message, "type": "invalid_request_error", "status": "INVALID_ARGUMENT"}}
    upstream.server.push(Reply(status=400, body=msgspec.json.encode(body)))
    error = await fail(upstream, stream=False)
    prefix = f"{LABELS[str(upstream.provider)]} answered 400: "
    assert error.detail.startswith(prefix)
    assert len(error.detail) <= len(prefix) + MESSAGE_LIMIT + 1  # the cut is marked with "…"
    assert error.detail.endswith("…")
    assert KEY not in error.detail and KEY[:12] not in error.detail


async def test_json_without_a_message_field_says_only_the_status(upstream: Upstream) -> None:
    upstream.server.push(Reply(status=400, body=b'{"detail": "raw internal dump ' + KEY.encode() + b'"}'))
    error = await fail(upstream, stream=False)
    assert error.detail == f"{LABELS[str(upstream.provider)]} returned an unreadable response (HTTP 400)"


async def test_a_malformed_success_body_is_not_quoted(upstream: Upstream) -> None:
    upstream.server.push(Reply(status=200, body=b'{"choices": "' + KEY.encode() + b'", "candidates": 7, "content": 1}'))
    error = await fail(upstream, stream=False)
    assert error.detail == f"{LABELS[str(upstream.provider)]} returned an unreadable response (HTTP 200)"
