"""Tools and images over real HTTP: the exact body each provider receives, and what comes back.

One conversation exercises every new piece at once (an image in a user turn, an assistant
turn that called a tool, the tool's result, a follow-up question, tool definitions and a
tool choice); each provider's body is compared whole, so a mapping that drifts fails here.
"""

import re
from typing import Any

import pytest

from domain.catalog import Provider
from domain.content import ImagePart, TextPart
from domain.errors import UnsupportedFeatureError
from domain.llm import (
    ChatMessage,
    FinishReason,
    LlmRequest,
    Role,
    StreamEnd,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolChoiceMode,
    ToolSpec,
)
from tests.integration.providers.conftest import MODELS, Upstream, UpstreamFor
from tests.support.fake_provider import Reply, ToolCallReply

PNG = "data:image/png;base64,iVBORw0KGgoAAAAAAAAAAA=="  # the PNG signature and 8 zero bytes
PNG_DATA = "iVBORw0KGgoAAAAAAAAAAA=="
QUESTION = "What is in this picture, and what is the weather there?"
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
WEATHER = ToolSpec(name="get_weather", description="Weather for a city", parameters=SCHEMA)
ARGS = '{"city": "Paris"}'


def conversation(**knobs: Any) -> LlmRequest:
    messages = [
        ChatMessage(Role.SYSTEM, "Be brief."),
        ChatMessage.of_parts(Role.USER, [TextPart(QUESTION), ImagePart(url=PNG)]),
        ChatMessage(Role.ASSISTANT, "", tool_calls=(ToolCall(id="call_1", name="get_weather", arguments=ARGS),)),
        ChatMessage(Role.TOOL, '{"temp_c": 21}', tool_call_id="call_1"),
        ChatMessage(Role.USER, "And tomorrow?"),
    ]
    fields: dict[str, Any] = {"tools": (WEATHER,), "tool_choice": ToolChoice(mode=ToolChoiceMode.AUTO)} | knobs
    return LlmRequest(messages=messages, max_tokens=64, **fields)


def openai_body(provider: Provider) -> dict[str, Any]:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": ARGS}}
    max_field = "max_completion_tokens" if provider is Provider.OPENAI else "max_tokens"
    return {
        "model": MODELS[provider],
        "messages": [
            {"role": "system", "content": "Be brief."},
            {
                "role": "user",
                "content": [{"type": "text", "text": QUESTION}, {"type": "image_url", "image_url": {"url": PNG}}],
            },
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
            {"role": "user", "content": "And tomorrow?"},
        ],
        max_field: 64,
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "Weather for a city", "parameters": SCHEMA},
            }
        ],
        "tool_choice": "auto",
    }


ANTHROPIC_BODY = {
    "model": MODELS[Provider.ANTHROPIC],
    "max_tokens": 64,
    "messages": [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": QUESTION},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG_DATA}},
            ],
        },
        {
            "role": "assistant",
            "content": [{"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}}],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp_c": 21}'},
                {"type": "text", "text": "And tomorrow?"},
            ],
        },
    ],
    "tools": [{"name": "get_weather", "description": "Weather for a city", "input_schema": SCHEMA}],
    "tool_choice": {"type": "auto"},
    "system": "Be brief.",
}
GEMINI_BODY = {
    "contents": [
        {"role": "user", "parts": [{"text": QUESTION}, {"inlineData": {"mimeType": "image/png", "data": PNG_DATA}}]},
        {"role": "model", "parts": [{"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}}]},
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
                {"text": "And tomorrow?"},
            ],
        },
    ],
    "generationConfig": {"maxOutputTokens": 64},
    "systemInstruction": {"parts": [{"text": "Be brief."}]},
    "tools": [
        {
            "functionDeclarations": [
                {"name": "get_weather", "description": "Weather for a city", "parametersJsonSchema": SCHEMA}
            ]
        }
    ],
    "toolConfig": {"functionCallingConfig": {"mode": "AUTO"}},
}


def expected_body(provider: Provider, *, stream: bool) -> dict[str, Any]:
    if provider is Provider.ANTHROPIC:
        return ANTHROPIC_BODY | ({"stream": True} if stream else {})
    if provider is Provider.GEMINI:
        return GEMINI_BODY
    body = openai_body(provider)
    return body | ({"stream": True, "stream_options": {"include_usage": True}} if stream else {})


async def collect(upstream: Upstream, request: LlmRequest) -> tuple[str, list[ToolCallDelta], StreamEnd]:
    text, deltas, ends = "", [], []
    async for event in upstream.client.stream(upstream.target, request):
        assert not ends, "nothing may follow the end"
        if isinstance(event, TextDelta):
            text += event.content
        elif isinstance(event, ToolCallDelta):
            deltas.append(event)
        else:
            ends.append(event)
    assert len(ends) == 1
    return text, deltas, ends[0]


def call_reply(**fields: Any) -> Reply:
    call = ToolCallReply(name="get_weather", arguments=ARGS, id="call_abc")
    return Reply(chunks=(), tool_calls=(call,), **fields)


def returned_arguments(provider: Provider) -> str:
    """OpenAI-style providers pass the model's text on; Anthropic and Gemini send an object,
    which reaches the client as its compact JSON."""
    return ARGS if provider in (Provider.OPENAI, Provider.FIREWORKS) else '{"city":"Paris"}'


async def test_the_conversation_reaches_each_provider_in_its_own_format(upstream: Upstream) -> None:
    upstream.server.push(Reply(chunks=("Sunny",)), Reply(chunks=("Sunny",)))
    response = await upstream.client.complete(upstream.target, conversation())
    assert response.content == "Sunny" and response.tool_calls == ()
    assert upstream.server.received[-1].body == expected_body(upstream.provider, stream=False)
    text, deltas, _ = await collect(upstream, conversation())
    assert (text, deltas) == ("Sunny", [])
    assert upstream.server.received[-1].body == expected_body(upstream.provider, stream=True)


async def test_a_tool_call_comes_back_with_its_id_name_and_arguments(upstream: Upstream) -> None:
    upstream.server.push(call_reply())
    response = await upstream.client.complete(upstream.target, conversation())
    assert response.finish_reason is FinishReason.TOOL_CALLS
    assert response.content == ""
    assert response.tool_calls == (
        ToolCall(id="call_abc", name="get_weather", arguments=returned_arguments(upstream.provider)),
    )
    assert not response.usage_estimated and response.usage.output == 1


async def test_a_streamed_tool_call_arrives_as_deltas_and_assembled_at_the_end(upstream: Upstream) -> None:
    upstream.server.push(call_reply())
    text, deltas, end = await collect(upstream, conversation())
    assert text == ""
    assert deltas[0].index == 0 and deltas[0].id == "call_abc" and deltas[0].name == "get_weather"
    assert all(d.index == 0 and d.id is None and d.name is None for d in deltas[1:])
    arguments = "".join(d.arguments for d in deltas)
    # streamed, Anthropic's fragments are the model's own text; Gemini's call is an object
    assert arguments == ('{"city":"Paris"}' if upstream.provider is Provider.GEMINI else ARGS)
    if upstream.provider is not Provider.GEMINI:  # Gemini sends a call whole, the others in fragments
        assert len(deltas) == 4 and deltas[0].arguments == ""
    assert end.tool_calls == (ToolCall(id="call_abc", name="get_weather", arguments=arguments),)
    assert end.finish_reason is FinishReason.TOOL_CALLS
    assert not end.usage_estimated and end.usage.output == 1


async def test_text_then_two_parallel_calls_stream_in_order(upstream: Upstream) -> None:
    calls = (
        ToolCallReply(name="get_weather", arguments='{"city":"Paris"}', id="call_a"),
        ToolCallReply(name="get_time", arguments='{"tz":"CET"}', id="call_b", pieces=1),
    )
    upstream.server.push(Reply(chunks=("Let me", " check."), tool_calls=calls))
    text, deltas, end = await collect(upstream, conversation())
    assert text == "Let me check."
    assert [(c.id, c.name, c.arguments) for c in end.tool_calls] == [
        ("call_a", "get_weather", '{"city":"Paris"}'),
        ("call_b", "get_time", '{"tz":"CET"}'),
    ]
    assert sorted({d.index for d in deltas}) == [0, 1]


async def test_gemini_calls_without_an_id_get_one(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.GEMINI)
    call = ToolCallReply(name="get_weather", arguments='{"city":"Paris"}', id=None)
    upstream.server.push(Reply(chunks=(), tool_calls=(call,)), Reply(chunks=(), tool_calls=(call,)))
    response = await upstream.client.complete(upstream.target, conversation())
    assert re.fullmatch(r"call_[0-9a-f]{24}", response.tool_calls[0].id)
    _, deltas, end = await collect(upstream, conversation())
    assert re.fullmatch(r"call_[0-9a-f]{24}", deltas[0].id or "") and end.tool_calls[0].id == deltas[0].id


async def test_anthropic_streams_a_call_without_parameters_as_an_empty_object(upstream_for: UpstreamFor) -> None:
    upstream = upstream_for(Provider.ANTHROPIC)
    upstream.server.push(Reply(chunks=(), tool_calls=(ToolCallReply(name="now", id="toolu_1"),)))
    _, deltas, end = await collect(upstream, conversation())
    assert [(d.id, d.name, d.arguments) for d in deltas] == [("toolu_1", "now", ""), (None, None, "{}")]
    assert end.tool_calls == (ToolCall(id="toolu_1", name="now", arguments="{}"),)


OPENAI_CHOICES = {
    "required": "required",
    "none": "none",
    "named": {"type": "function", "function": {"name": "get_weather"}},
}
ANTHROPIC_CHOICES = {
    "required": {"type": "any", "disable_parallel_tool_use": True},
    "none": {"type": "none"},
    "named": {"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
}
GEMINI_CHOICES = {
    "required": {"mode": "ANY"},
    "none": {"mode": "NONE"},
    "named": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
}
CHOICES = {
    "required": ToolChoice(mode=ToolChoiceMode.REQUIRED),
    "none": ToolChoice(mode=ToolChoiceMode.NONE),
    "named": ToolChoice(mode=ToolChoiceMode.REQUIRED, name="get_weather"),
}


@pytest.mark.parametrize("choice", list(CHOICES))
async def test_tool_choice_and_parallel_calls_map_onto_each_format(upstream: Upstream, choice: str) -> None:
    upstream.server.push(Reply())
    await upstream.client.complete(
        upstream.target, conversation(tool_choice=CHOICES[choice], parallel_tool_calls=False)
    )
    body = upstream.server.received[-1].body
    match upstream.provider:
        case Provider.ANTHROPIC:
            assert body["tool_choice"] == ANTHROPIC_CHOICES[choice]
        case Provider.GEMINI:
            assert body["toolConfig"] == {"functionCallingConfig": GEMINI_CHOICES[choice]}
            assert "parallel_tool_calls" not in body  # Gemini has no such switch
        case _:
            assert body["tool_choice"] == OPENAI_CHOICES[choice]
            assert body["parallel_tool_calls"] is False


async def test_an_image_by_url_goes_as_a_url_where_the_provider_fetches_it(upstream_for: UpstreamFor) -> None:
    url = "https://example.com/cat.png?size=large"
    request = LlmRequest(
        messages=[ChatMessage.of_parts(Role.USER, [ImagePart(url=url, detail="high"), TextPart("What is it?")])],  # type: ignore[arg-type]
        max_tokens=64,
    )
    for provider in (Provider.OPENAI, Provider.FIREWORKS, Provider.ANTHROPIC):
        upstream = upstream_for(provider)
        upstream.server.push(Reply())
        await upstream.client.complete(upstream.target, request)
        sent = upstream.server.received[-1].body["messages"][0]["content"]
        if provider is Provider.ANTHROPIC:
            assert sent == [
                {"type": "image", "source": {"type": "url", "url": url}},
                {"type": "text", "text": "What is it?"},
            ]
        else:
            image = {"type": "image_url", "image_url": {"url": url, "detail": "high"}}
            assert sent == [image, {"type": "text", "text": "What is it?"}]


@pytest.mark.parametrize(
    ("part", "reason"),
    [
        (ImagePart(url="https://example.com/cat.png"), "only inline"),
        (ImagePart(url="data:image/gif;base64,R0lGODlhAQABAAAAACw="), "image/gif"),
    ],
    ids=["url", "gif"],
)
async def test_gemini_refuses_what_it_cannot_take_before_sending(
    upstream_for: UpstreamFor, part: ImagePart, reason: str
) -> None:
    upstream = upstream_for(Provider.GEMINI)
    request = LlmRequest(messages=[ChatMessage.of_parts(Role.USER, [TextPart("What is it?"), part])], max_tokens=8)
    with pytest.raises(UnsupportedFeatureError, match=reason) as raised:
        upstream.client.check(MODELS[Provider.GEMINI], request)
    assert raised.value.param == "messages[0].content"
    tools = LlmRequest(messages=[ChatMessage(Role.USER, "x")], max_tokens=8, tools=(ToolSpec(name="1st-tool"),))
    with pytest.raises(UnsupportedFeatureError, match="start with a letter"):
        upstream.client.check(MODELS[Provider.GEMINI], tools)
    assert list(upstream.server.received) == []


async def test_the_other_providers_take_urls_gifs_and_any_openai_tool_name(upstream_for: UpstreamFor) -> None:
    request = LlmRequest(
        messages=[
            ChatMessage.of_parts(
                Role.USER,
                [
                    ImagePart(url="https://example.com/a.png"),
                    ImagePart(url="data:image/gif;base64,R0lGODlhAQABAAAAACw="),
                ],
            )
        ],
        max_tokens=8,
        tools=(ToolSpec(name="1st-tool"),),
    )
    for provider in (Provider.OPENAI, Provider.FIREWORKS, Provider.ANTHROPIC):
        upstream_for(provider).client.check(MODELS[provider], request)  # no error
