"""Tools and images on both surfaces, over real HTTP: the ``openai`` SDK on ``/v1``, plain
HTTP on the job API, each provider behind the fake upstream speaking its own format.

Every test asserts what the client got (tool calls, finish reason, usage, cost) and what
the upstream was sent, so a mapping that breaks on either side fails here.
"""

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import openai
import pytest

from domain.budgets import BudgetMode
from domain.catalog import Provider
from tests.e2e.conftest import Server, job_of, openai_usage
from tests.support.fake_provider import Reply, ToolCallReply
from tests.support.seeding import seed_other_providers
from tests.support.sse import sse_events

D = Decimal
PNG = "data:image/png;base64,iVBORw0KGgoAAAAAAAAAAA=="
SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": SCHEMA}}]
CALLED = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}
PNG_PART = {"type": "image_url", "image_url": {"url": PNG}}
MESSAGES: list[dict[str, Any]] = [
    {"role": "user", "content": [{"type": "text", "text": "Weather where this is?"}, PNG_PART]},
    {"role": "assistant", "content": None, "tool_calls": [CALLED]},
    {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
    {"role": "user", "content": "And in Lyon?"},
]  # fmt: skip
ALIASES = {
    "smart": Provider.OPENAI,
    "claude": Provider.ANTHROPIC,
    "flash": Provider.GEMINI,
    "llama": Provider.FIREWORKS,
}
# 1000 prompt and 500 completion tokens in each provider's own usage block
USAGE: dict[Provider, dict[str, Any]] = {
    Provider.OPENAI: openai_usage(1000, 500),
    Provider.FIREWORKS: {"prompt_tokens": 1000, "total_tokens": 1500, "completion_tokens": 500},
    Provider.ANTHROPIC: {
        "input_tokens": 1000,
        "cache_creation_input_tokens": 0,
        "cache_read_input_tokens": 0,
        "output_tokens": 500,
    },
    Provider.GEMINI: {"promptTokenCount": 1000, "candidatesTokenCount": 500, "totalTokenCount": 1500},
}


@pytest.fixture(scope="module", autouse=True)
async def other_providers(server: Server) -> AsyncIterator[None]:
    """An alias per other provider, each with a credential pointing at the fake upstream."""
    await seed_other_providers(server.services, server.organization, server.upstream.api_base)
    yield


def tool_reply(provider: Provider, *, text: tuple[str, ...] = ()) -> Reply:
    call = ToolCallReply(name="get_weather", arguments='{"city":"Lyon"}', id="call_9")
    return Reply(chunks=text, tool_calls=(call,), usage=USAGE[provider])


def sent_tools(provider: Provider, body: dict[str, Any]) -> Any:
    """The tool definitions as the upstream received them, in the neutral terms of the test."""
    match provider:
        case Provider.ANTHROPIC:
            return body["tools"]
        case Provider.GEMINI:
            return body["tools"][0]["functionDeclarations"]
        case _:
            return [tool["function"] for tool in body["tools"]]


EXPECTED_TOOLS = {
    Provider.OPENAI: [{"name": "get_weather", "description": "Weather", "parameters": SCHEMA}],
    Provider.FIREWORKS: [{"name": "get_weather", "description": "Weather", "parameters": SCHEMA}],
    Provider.ANTHROPIC: [{"name": "get_weather", "description": "Weather", "input_schema": SCHEMA}],
    Provider.GEMINI: [{"name": "get_weather", "description": "Weather", "parametersJsonSchema": SCHEMA}],
}


def sent_history(provider: Provider, body: dict[str, Any]) -> Any:
    """The image, the replayed call and its result as the upstream received them."""
    match provider:
        case Provider.ANTHROPIC:
            turns = body["messages"]
            return turns[0]["content"][1], turns[1]["content"][0], turns[2]["content"][0]
        case Provider.GEMINI:
            turns = body["contents"]
            return turns[0]["parts"][1], turns[1]["parts"][0], turns[2]["parts"][0]
        case _:
            turns = body["messages"]
            return turns[0]["content"][1], turns[1]["tool_calls"][0], turns[2]


EXPECTED_HISTORY = {
    Provider.OPENAI: (
        {"type": "image_url", "image_url": {"url": PNG}},
        CALLED,
        {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 21}'},
    ),
    Provider.ANTHROPIC: (
        {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG.split(",")[1]}},
        {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
        {"type": "tool_result", "tool_use_id": "call_1", "content": '{"temp_c": 21}'},
    ),
    Provider.GEMINI: (
        {"inlineData": {"mimeType": "image/png", "data": PNG.split(",")[1]}},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
        {"functionResponse": {"name": "get_weather", "response": {"temp_c": 21}}},
    ),
}
EXPECTED_HISTORY[Provider.FIREWORKS] = EXPECTED_HISTORY[Provider.OPENAI]
# Anthropic and Gemini send an object, which reaches the client as compact JSON (the fake's own text is compact too)
ARGUMENTS = '{"city":"Lyon"}'


def sdk(server: Server, key: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=10)


# ---- /v1 with the openai SDK ------------------------------------------------------------


@pytest.mark.parametrize("alias", list(ALIASES))
async def test_sdk_tool_call_round_trip_on_every_provider(server: Server, alias: str) -> None:
    provider = ALIASES[alias]
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(tool_reply(provider))
    raw = await sdk(server, key).chat.completions.with_raw_response.create(
        model=alias,
        messages=MESSAGES,
        tools=TOOLS,
        tool_choice="required",  # type: ignore[arg-type]
    )
    completion = raw.parse()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    calls = choice.message.tool_calls or []
    assert [(c.id, c.type, c.function.name, c.function.arguments) for c in calls] == [  # type: ignore[union-attr]
        ("call_9", "function", "get_weather", ARGUMENTS)
    ]
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (1000, 500)
    body = server.upstream.received[-1].body
    assert sent_tools(provider, body) == EXPECTED_TOOLS[provider]
    assert sent_history(provider, body) == EXPECTED_HISTORY[provider]
    # tool-call tokens are output like any other: 1000 × 2 + 500 × 8 per 1M, 10 credits per USD
    job = await job_of(server, key, raw.headers["x-job-id"])
    assert job["costs"]["customer_cost_usd"] == "0.006" and job["credits_deducted"] == "0.06"


@pytest.mark.parametrize("alias", list(ALIASES))
async def test_sdk_streamed_tool_call_deltas_assemble_into_the_call(server: Server, alias: str) -> None:
    provider = ALIASES[alias]
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(tool_reply(provider, text=("Checking",)))
    stream = await sdk(server, key).chat.completions.create(
        model=alias,
        messages=MESSAGES,  # type: ignore[arg-type]
        tools=TOOLS,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    text, calls, finish, usage = "", {}, None, None
    async for chunk in stream:
        if chunk.usage is not None:
            usage = chunk.usage
        for choice in chunk.choices:
            text += choice.delta.content or ""
            finish = choice.finish_reason or finish
            for delta in choice.delta.tool_calls or []:
                call = calls.setdefault(delta.index, {"id": None, "name": None, "arguments": ""})
                if delta.id:
                    call["id"] = delta.id
                if delta.function and delta.function.name:
                    call["name"] = delta.function.name
                if delta.function and delta.function.arguments:
                    call["arguments"] += delta.function.arguments
    assert text == "Checking"
    assert calls == {0: {"id": "call_9", "name": "get_weather", "arguments": ARGUMENTS}}
    assert finish == "tool_calls"
    assert usage is not None and (usage.prompt_tokens, usage.completion_tokens) == (1000, 500)


async def test_sdk_gemini_image_by_url_is_refused_before_anything_is_held_or_sent(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http:
        job_id = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
    server.upstream.reset()
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        await sdk(server, key).chat.completions.create(
            model="flash",
            messages=[{"role": "user", "content": [{"type": "text", "text": "What?"}, image]}],  # type: ignore[list-item]
            extra_headers={"X-Job-Id": job_id},
        )
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "unsupported_feature"
    assert error["param"] == "messages[0].content" and "data URI" in error["message"]
    assert list(server.upstream.received) == []
    job = await job_of(server, key, job_id)
    assert job["calls"] == []
    async with server.client(key) as http:
        credits = (await http.get(f"/api/teams/{team.id}/credits")).json()
    assert credits["held"] == "0" and credits["used"] == "0"


async def test_sdk_invalid_tool_input_is_a_422_in_openai_shape(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    bad_arguments = [{**MESSAGES[1], "tool_calls": [{**CALLED, "function": {"name": "f", "arguments": "{oops"}}]}]
    with pytest.raises(openai.UnprocessableEntityError) as refused:
        await sdk(server, key).chat.completions.create(model="smart", messages=[MESSAGES[0], *bad_arguments])  # type: ignore[list-item]
    assert "JSON object" in str(refused.value)


# ---- the job API --------------------------------------------------------------------------


async def test_job_api_call_and_stream_carry_tool_calls(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    body = {"model": "claude", "messages": MESSAGES, "tools": TOOLS, "tool_choice": "auto"}
    server.upstream.push(tool_reply(Provider.ANTHROPIC), tool_reply(Provider.ANTHROPIC, text=("Hm",)))
    async with server.client(key) as http:
        job_id = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
        answer = await http.post(f"/api/jobs/{job_id}/llm-call", json=body)
        assert answer.status_code == 200, answer.text
        assert answer.json()["response"] == {
            "role": "assistant",
            "content": "",
            "finish_reason": "tool_calls",
            "tool_calls": [
                {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}
            ],
        }
        assert answer.json()["usage"]["output_tokens"] == 500
        assert (
            sent_history(Provider.ANTHROPIC, server.upstream.received[-1].body) == EXPECTED_HISTORY[Provider.ANTHROPIC]
        )
        streamed = await http.post(f"/api/jobs/{job_id}/llm-call-stream", json=body)
        assert streamed.status_code == 200, streamed.text
    events = sse_events(streamed.text)
    assert [name for name, _ in events] == ["start", "delta", *["tool_call"] * 4, "done"]  # the name, 3 fragments
    pieces = [data for name, data in events if name == "tool_call"]
    assert pieces[0] == {"index": 0, "id": "call_9", "name": "get_weather", "arguments": ""}
    assert "".join(p["arguments"] for p in pieces) == ARGUMENTS
    done = events[-1][1]
    assert done["finish_reason"] == "tool_calls"
    assert done["tool_calls"] == [
        {"id": "call_9", "type": "function", "function": {"name": "get_weather", "arguments": ARGUMENTS}}
    ]
    assert done["customer_cost_usd"] == "0.006"


async def test_create_and_call_with_an_image_url_on_fireworks(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    image = {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg", "detail": "low"}}
    body = {"job_type": "vision", "model": "llama", "messages": [{"role": "user", "content": [image]}]}
    server.upstream.push(Reply(chunks=("A cat",), usage=USAGE[Provider.FIREWORKS]))
    async with server.client(key) as http:
        answer = await http.post("/api/jobs/create-and-call", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["response"] == {"role": "assistant", "content": "A cat", "finish_reason": "stop"}
    assert server.upstream.received[-1].body["messages"] == [{"role": "user", "content": [image]}]


STRING_ARGS = {"name": "f", "arguments": '"x"'}
NOT_PNG = "data:image/png;base64,AAAA"


@pytest.mark.parametrize(
    ("message", "detail"),
    [
        ({"role": "tool", "content": "21"}, "needs the tool_call_id"),
        ({"role": "robot", "content": "hi"}, "robot"),
        ({"role": "tool", "tool_call_id": "nope", "content": "21"}, "does not name a tool call"),
        ({"role": "assistant", "content": None}, "content is required"),
        ({"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}, "only user messages"),
        ({"role": "user", "content": "x", "tool_call_id": "call_1"}, "only tool messages"),
        ({"role": "assistant", "content": None, "tool_calls": [{**CALLED, "function": STRING_ARGS}]}, "JSON object"),
        ({"role": "user", "content": [{"type": "image_url", "image_url": {"url": NOT_PNG}}]}, "not a png"),
    ],
)  # fmt: skip
async def test_job_api_refuses_odd_tool_and_image_input_with_a_clear_422(
    server: Server, message: dict[str, Any], detail: str
) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.reset()
    async with server.client(key) as http:
        job_id = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
        refused = await http.post(f"/api/jobs/{job_id}/llm-call", json={"model": "smart", "messages": [message]})
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert detail in refused.text  # the detail, or the schema error listed under "errors"
    assert list(server.upstream.received) == []


async def test_job_api_unsupported_feature_is_a_problem_before_the_hold(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.reset()
    gif = {"type": "image_url", "image_url": {"url": "data:image/gif;base64,R0lGODlhAQABAAAAACw="}}
    async with server.client(key) as http:
        job_id = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
        refused = await http.post(
            f"/api/jobs/{job_id}/llm-call-stream",
            json={"model": "flash", "messages": [{"role": "user", "content": [gif]}]},
        )
        credits = (await http.get(f"/api/teams/{team.id}/credits")).json()
    assert refused.status_code == 422 and refused.json()["code"] == "unsupported_feature", refused.text
    assert "image/gif" in refused.json()["detail"]
    assert list(server.upstream.received) == [] and credits["held"] == "0"


async def test_images_and_tool_definitions_count_in_the_hold(server: Server) -> None:
    """0.5 credits pays a short text call (a hold of about 0.01) but not the hold of one image
    (48,200 tokens at $2 per 1M: 0.964 credits) nor of 43 kB of tool schema (about 0.87 credits)."""
    _, key = await server.team(BudgetMode.CONSUMPTION_USD, credits=D("0.5"))
    image = {"type": "image_url", "image_url": {"url": PNG}}
    schema = {
        "type": "object",
        "properties": {f"p{i}": {"type": "string", "description": "x" * 40} for i in range(500)},
    }
    big_tool = [{"type": "function", "function": {"name": "big", "parameters": schema}}]
    server.upstream.reset()
    async with server.client(key) as http:
        job_id = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
        url = f"/api/jobs/{job_id}/llm-call"
        with_image = await http.post(url, json={"model": "smart", "messages": [{"role": "user", "content": [image]}]})
        with_tool = await http.post(url, json={"model": "smart", "messages": MESSAGES[3:], "tools": big_tool})
        server.upstream.push(Reply(chunks=("ok",), usage=openai_usage(10, 2)))
        text = await http.post(url, json={"model": "smart", "messages": MESSAGES[3:]})
    assert with_image.status_code == 402 and with_image.json()["code"] == "insufficient_credits", with_image.text
    assert with_tool.status_code == 402, with_tool.text
    assert text.status_code == 200, text.text
    assert len(server.upstream.received) == 1


async def test_concurrent_tool_streams_stay_apart(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(*[tool_reply(Provider.OPENAI) for _ in range(4)])
    client = sdk(server, key)

    async def one() -> str:
        stream = await client.chat.completions.create(model="smart", messages=MESSAGES, tools=TOOLS, stream=True)  # type: ignore[arg-type]
        arguments = ""
        async for chunk in stream:
            for choice in chunk.choices:
                for delta in choice.delta.tool_calls or []:
                    arguments += (delta.function.arguments if delta.function else None) or ""
        return arguments

    assert await asyncio.gather(*[one() for _ in range(4)]) == [ARGUMENTS] * 4
