"""Requests go out in each provider's shape; answers come back normalized."""

import pytest

from application.errors import ProviderContentFilteredError
from application.ports.providers import ProviderTarget
from domain.catalog import Provider
from domain.llm import ChatMessage, FinishReason, LlmRequest, Role, StreamEnd, TextDelta
from tests.integration.providers.conftest import KEY, MODELS, Upstream, UpstreamFor, chat
from tests.support.fake_provider import Received, Reply


async def collect(upstream: Upstream, request: LlmRequest) -> tuple[list[str], list[StreamEnd]]:
    texts, ends = [], []
    async for event in upstream.client.stream(upstream.target, request):
        if isinstance(event, TextDelta):
            assert not ends, "no delta may follow the end"
            texts.append(event.content)
        else:
            ends.append(event)
    return texts, ends


async def test_complete_returns_content_finish_and_model(upstream: Upstream) -> None:
    upstream.server.push(Reply(chunks=("The capital", " is Paris."), model="served-model-1"))
    response = await upstream.client.complete(upstream.target, chat())
    assert response.content == "The capital is Paris."
    assert response.finish_reason is FinishReason.STOP
    assert response.provider_model == "served-model-1"
    assert response.attempts == 1
    assert not response.usage_estimated


async def test_stream_yields_each_delta_then_exactly_one_end(upstream: Upstream) -> None:
    chunks = tuple(f" piece{index}" for index in range(25))
    upstream.server.push(Reply(chunks=chunks, model="served-model-2"))
    texts, ends = await collect(upstream, chat())
    assert texts == list(chunks)
    assert len(ends) == 1
    assert ends[0].finish_reason is FinishReason.STOP
    assert ends[0].provider_model == "served-model-2"
    assert not ends[0].usage_estimated
    assert ends[0].usage.output == 25


@pytest.mark.parametrize(
    ("provider", "native", "finish"),
    [
        (Provider.OPENAI, "length", FinishReason.LENGTH),
        (Provider.FIREWORKS, "length", FinishReason.LENGTH),
        (Provider.ANTHROPIC, "max_tokens", FinishReason.LENGTH),
        (Provider.GEMINI, "MAX_TOKENS", FinishReason.LENGTH),
        (Provider.OPENAI, "content_filter", FinishReason.CONTENT_FILTER),
        (Provider.ANTHROPIC, "refusal", FinishReason.CONTENT_FILTER),
        (Provider.GEMINI, "SAFETY", FinishReason.CONTENT_FILTER),
        (Provider.GEMINI, "RECITATION", FinishReason.CONTENT_FILTER),
    ],
    ids=str,
)
async def test_truncated_and_filtered_answers_finish_the_same_on_both_paths(
    upstream_for: UpstreamFor, provider: Provider, native: str, finish: FinishReason
) -> None:
    """A truncated answer finishes with ``length``, a filtered one with ``content_filter``."""
    upstream = upstream_for(provider)
    upstream.server.push(Reply(finish=native), Reply(finish=native))
    assert (await upstream.client.complete(upstream.target, chat())).finish_reason is finish
    _, ends = await collect(upstream, chat())
    assert ends[0].finish_reason is finish


async def test_anthropic_stop_sequence_and_tool_use_map_to_stop_and_tool_calls(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.ANTHROPIC)
    upstream.server.push(Reply(finish="stop_sequence"), Reply(finish="tool_use"))
    assert (await upstream.client.complete(upstream.target, chat())).finish_reason is FinishReason.STOP
    assert (await upstream.client.complete(upstream.target, chat())).finish_reason is FinishReason.TOOL_CALLS


async def test_gemini_blocked_prompt_is_a_content_filtered_error(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.GEMINI)
    upstream.server.push(Reply(error="blocked"), Reply(error="blocked"))
    with pytest.raises(ProviderContentFilteredError):
        await upstream.client.complete(upstream.target, chat())
    with pytest.raises(ProviderContentFilteredError):
        await collect(upstream, chat())
    assert len(upstream.server.received) == 2  # never retried


@pytest.mark.parametrize("provider", [Provider.ANTHROPIC, Provider.GEMINI], ids=str)
async def test_thinking_text_never_reaches_the_content(upstream_for: UpstreamFor, provider: Provider) -> None:
    upstream = upstream_for(provider)
    reply = Reply(thinking=("Let me think", " about it."), chunks=("Paris", "."))
    upstream.server.push(reply, reply)
    assert (await upstream.client.complete(upstream.target, chat())).content == "Paris."
    texts, _ = await collect(upstream, chat())
    assert "".join(texts) == "Paris."


async def test_fireworks_drops_think_blocks_and_reasoning_content(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.FIREWORKS)
    think = ("<thi", "nk>\nThe user wants", " a city.</th", "ink>\n\n", "Paris", ".")
    upstream.server.push(
        Reply(chunks=("<think>\nhmm, a capital\n</think>\n\nParis.",)),
        Reply(chunks=think),
        Reply(thinking=("reasoning", " here"), chunks=("Paris", ".")),
    )
    assert (await upstream.client.complete(upstream.target, chat())).content == "Paris."
    texts, _ = await collect(upstream, chat())
    assert "".join(texts) == "Paris."
    texts, _ = await collect(upstream, chat())
    assert "".join(texts) == "Paris."


async def test_fireworks_keeps_text_that_only_looks_like_a_tag(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.FIREWORKS)
    upstream.server.push(Reply(chunks=("<thi", "s is not thinking>", " ok")), Reply(chunks=("<",)))
    texts, _ = await collect(upstream, chat())
    assert "".join(texts) == "<this is not thinking> ok"
    texts, _ = await collect(upstream, chat())
    assert "".join(texts) == "<"


# -- what the upstream received ---------------------------------------------------------

KNOBS = {"temperature": 0.2, "top_p": 0.9, "stop": ["\n\n", "END"], "json_mode": True}
CONVERSATION = LlmRequest(
    messages=[
        ChatMessage(role=Role.SYSTEM, content="You are terse."),
        ChatMessage(role=Role.USER, content="Hello"),
        ChatMessage(role=Role.ASSISTANT, content="Hi."),
        ChatMessage(role=Role.USER, content="Capital of France?"),
    ],
    max_tokens=77,
    **KNOBS,  # type: ignore[arg-type]
)


async def sent_once(upstream: Upstream, stream: bool) -> Received:
    """The one request CONVERSATION made upstream, streamed or not."""
    if stream:
        await collect(upstream, CONVERSATION)
    else:
        await upstream.client.complete(upstream.target, CONVERSATION)
    (received,) = upstream.server.received
    return received


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
@pytest.mark.parametrize("provider", [Provider.OPENAI, Provider.FIREWORKS], ids=str)
async def test_openai_style_request_shape(upstream_for: UpstreamFor, provider: Provider, stream: bool) -> None:
    received = await sent_once(upstream_for(provider), stream)
    assert received.method == "POST"
    assert received.path == ("/v1" if provider is Provider.OPENAI else "/inference/v1") + "/chat/completions"
    assert received.headers["authorization"] == f"Bearer {KEY}"
    assert received.headers["content-type"] == "application/json"
    body = received.body
    assert body["model"] == MODELS[provider]
    assert body["messages"] == [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "Capital of France?"},
    ]
    max_field = "max_completion_tokens" if provider is Provider.OPENAI else "max_tokens"
    assert body[max_field] == 77
    assert body["temperature"] == 0.2
    assert body["top_p"] == 0.9
    assert body["stop"] == ["\n\n", "END"]
    assert body["response_format"] == {"type": "json_object"}
    if stream:
        assert body["stream"] is True
        assert body["stream_options"] == {"include_usage": True}
    else:
        assert "stream" not in body


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_anthropic_request_shape(upstream_for: UpstreamFor, stream: bool) -> None:
    received = await sent_once(upstream_for(Provider.ANTHROPIC), stream)
    assert received.path == "/v1/messages"
    assert received.headers["x-api-key"] == KEY
    assert received.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in received.headers
    body = received.body
    assert body["model"] == "claude-sonnet-4-5"
    assert body["system"].startswith("You are terse.")
    assert "JSON" in body["system"]  # no JSON mode in the Messages API: an instruction instead
    assert body["messages"] == [
        {"role": "user", "content": "Hello"},
        {"role": "assistant", "content": "Hi."},
        {"role": "user", "content": "Capital of France?"},
    ]
    assert body["max_tokens"] == 77
    assert (body["temperature"], body["top_p"], body["stop_sequences"]) == (0.2, 0.9, ["\n\n", "END"])
    assert body.get("stream", False) is stream


@pytest.mark.parametrize("stream", [False, True], ids=["complete", "stream"])
async def test_gemini_request_shape(upstream_for: UpstreamFor, stream: bool) -> None:
    received = await sent_once(upstream_for(Provider.GEMINI), stream)
    method = "streamGenerateContent" if stream else "generateContent"
    assert received.path == f"/v1beta/models/gemini-2.5-flash:{method}"
    assert received.query == ("alt=sse" if stream else "")
    assert received.headers["x-goog-api-key"] == KEY
    body = received.body
    assert body["systemInstruction"] == {"parts": [{"text": "You are terse."}]}
    assert body["contents"] == [
        {"role": "user", "parts": [{"text": "Hello"}]},
        {"role": "model", "parts": [{"text": "Hi."}]},
        {"role": "user", "parts": [{"text": "Capital of France?"}]},
    ]
    assert body["generationConfig"] == {
        "maxOutputTokens": 77,
        "temperature": 0.2,
        "topP": 0.9,
        "stopSequences": ["\n\n", "END"],
        "responseMimeType": "application/json",
    }


async def test_optional_knobs_are_left_out_when_not_given(upstream: Upstream) -> None:
    await upstream.client.complete(upstream.target, chat())
    body = upstream.server.received[0].body
    flat = str(body)
    for name in ("temperature", "top_p", "topP", "stop", "response_format", "responseMimeType"):
        assert f"'{name}'" not in flat


async def test_api_base_replaces_the_default_base_and_keeps_the_path(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.GEMINI)
    target = upstream.target_for(Provider.GEMINI, model="models/gemini-2.0-flash", api_base=upstream.server.url + "/")
    await upstream.client.complete(target, chat())
    assert upstream.server.received[0].path == "/v1beta/models/gemini-2.0-flash:generateContent"


def test_default_endpoints_follow_the_providers_documentation() -> None:
    from adapters.providers.anthropic import AnthropicDialect
    from adapters.providers.fireworks import FireworksDialect
    from adapters.providers.gemini import GeminiDialect
    from adapters.providers.openai import OpenAIDialect

    def target(provider: Provider) -> ProviderTarget:
        return ProviderTarget(provider=provider, model=MODELS[provider], api_key=KEY)

    assert OpenAIDialect().url(target(Provider.OPENAI), stream=True) == "https://api.openai.com/v1/chat/completions"
    assert AnthropicDialect().url(target(Provider.ANTHROPIC), stream=False) == "https://api.anthropic.com/v1/messages"
    assert (
        GeminiDialect().url(target(Provider.GEMINI), stream=True)
        == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    )
    assert (
        FireworksDialect().url(target(Provider.FIREWORKS), stream=False)
        == "https://api.fireworks.ai/inference/v1/chat/completions"
    )
