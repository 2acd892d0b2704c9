"""Redaction of provider messages: key-like text goes, what explains the error stays."""

import httpx
import pytest

from adapters.providers._http import HttpProviderClient, RetryPolicy, Timeouts, redact
from adapters.providers.openai import OpenAIDialect
from application.errors import ProviderError
from application.ports.providers import ProviderTarget
from domain.catalog import Provider
from domain.llm import ChatMessage, LlmRequest, Role


@pytest.mark.parametrize(
    "secret",
    [
        "sk-proj-Abc123def456ghi789",
        "sk-ant-api03-xyzXYZ0123456789",
        "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY",
        "fw_3ZkQ9b7mP2xR8sT1vW4yA6cE",
        "Bearer abc.def.ghi",
        "bearer some-opaque-token",
        "5d41402abc4b2a76b9719d911017c592",  # hex
        "Q2xhdWRlIGlzIGEgZ3JlYXQgbW9kZWwK9xYzAbC",  # base64, mixed case and digits
    ],
)
def test_key_like_text_is_redacted(secret: str) -> None:
    redacted = redact(f"rejected credential {secret} for this request", api_key="")
    assert secret not in redacted
    assert redacted.startswith("rejected credential [redacted]")


def test_key_query_parameters_are_redacted() -> None:
    redacted = redact("GET /v1beta/models/x:generateContent?alt=sse&key=plain123 failed", api_key="")
    assert "plain123" not in redacted and "alt=sse" in redacted


@pytest.mark.parametrize(
    "text",
    [
        "The model `accounts/fireworks/models/llama-v3p1-8b-instruct` does not exist",
        "This model's maximum context length is 128000 tokens. However, you requested 130000 tokens.",
        "Unsupported parameter: 'max_tokens' is not supported with this model. Use 'max_completion_tokens'.",
        "models/gemini-2.5-flash-preview-05-20 is not found for API version v1beta",
    ],
)
def test_ordinary_error_messages_survive(text: str) -> None:
    assert redact(text, api_key="") == text


def test_the_credentials_own_key_is_redacted_even_without_a_known_shape() -> None:
    assert redact("key plainsecretvalue42 is invalid", api_key="plainsecretvalue42") == "key [redacted] is invalid"


def test_control_characters_are_collapsed_and_the_text_is_cut() -> None:
    redacted = redact("line one\r\n\x1b[31mline two\x00" + "y" * 1000, api_key="")
    assert "\n" not in redacted and "\x1b" not in redacted and "\x00" not in redacted
    assert len(redacted) == 300 + 1 and redacted.endswith("…")


async def test_a_key_inside_a_stream_error_event_never_leaves_the_engine() -> None:
    key = "plainsecretvalue42"  # no known key shape: only the engine's last check can catch it
    event = b'data: {"error": {"message": "key plainsecretvalue42 was revoked", "type": "invalid_request_error"}}\n\n'
    transport = httpx.MockTransport(
        lambda request: httpx.Response(200, headers={"content-type": "text/event-stream"}, content=event)
    )
    target = ProviderTarget(provider=Provider.OPENAI, model="gpt-4o", api_key=key, api_base="http://upstream/v1")
    request = LlmRequest(messages=[ChatMessage(role=Role.USER, content="hi")], max_tokens=10)
    async with httpx.AsyncClient(transport=transport) as http:
        client = HttpProviderClient(OpenAIDialect(), http, timeouts=Timeouts.from_setting(5), retry=RetryPolicy())
        with pytest.raises(ProviderError) as caught:
            async for _ in client.stream(target, request):
                pass
    assert key not in caught.value.detail and key not in str(caught.value)
    assert "was revoked" in caught.value.detail
