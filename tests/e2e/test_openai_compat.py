"""The OpenAI-compatible surface with the official ``openai`` SDK as the client, over real HTTP.

The app runs under uvicorn with real Postgres; the providers are the fake upstream. Sync
SDK calls run in a thread (the server shares this event loop).
"""

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from typing import Any, TypeVar

import httpx
import openai
import pytest

from domain.budgets import BudgetMode
from domain.organizations import TeamStatus
from tests.e2e.conftest import Server, job_of, openai_usage
from tests.support.fake_provider import Reply
from tests.support.seeding import seed_other_providers

D = Decimal
T = TypeVar("T")
HELLO = [{"role": "user", "content": "Hello"}]


@pytest.fixture(scope="module", autouse=True)
async def other_providers(server: Server) -> AsyncIterator[None]:
    """An alias per other provider, each with a credential pointing at the fake upstream."""
    await seed_other_providers(server.services, server.organization, server.upstream.api_base)
    yield


def sdk(server: Server, key: str, **options: Any) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=10, **options)


def async_sdk(server: Server, key: str, **options: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0, timeout=10, **options)


async def in_thread(work: Callable[[], T]) -> T:
    return await asyncio.to_thread(work)


async def test_plain_completion_returns_content_usage_and_the_created_job(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("Hi", " there"), usage=openai_usage(1000, 500)))
    client = sdk(server, key)
    raw = await in_thread(
        lambda: client.chat.completions.with_raw_response.create(model="smart", messages=HELLO, user="u-1", seed=7)
    )
    completion = raw.parse()
    assert completion.object == "chat.completion"
    assert completion.model == "smart"
    assert completion.choices[0].message.content == "Hi there"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens, completion.usage.total_tokens) == (
        1000,
        500,
        1500,
    )
    job_id = raw.headers["x-job-id"]
    assert completion.id == "chatcmpl-" + raw.headers["x-call-id"].replace("-", "")
    job = await job_of(server, key, job_id)
    assert job["status"] == "completed" and job["job_type"] == "chat.completions"
    assert [c["id"] for c in job["calls"]] == [raw.headers["x-call-id"]]
    # 1000 × 2 + 500 × 8 per 1M (customer), 1000 × 1 + 500 × 4 (provider); 10 credits per USD.
    assert job["costs"]["customer_cost_usd"] == "0.006"
    assert job["costs"]["provider_cost_usd"] == "0.003"
    assert job["credits_deducted"] == "0.06"
    sent = server.upstream.received[-1].body
    assert sent["model"] == "gpt-test" and sent["max_completion_tokens"] == 100  # the alias's default max_tokens
    assert "user" not in sent and "seed" not in sent  # ignored fields are not forwarded
    async with server.client(key) as http:
        credits = (await http.get(f"/api/teams/{team.id}/credits")).json()
    assert credits["used"] == "0.06" and credits["held"] == "0"


async def test_async_completion_in_a_named_job_keeps_it_open_and_costs_as_the_job_api(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http:
        job_id = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
    server.upstream.push(Reply(chunks=("a",), usage=openai_usage(1000, 500)))
    server.upstream.push(Reply(chunks=("b",), usage=openai_usage(1000, 500)))
    client = async_sdk(server, key)
    raw = await client.chat.completions.with_raw_response.create(
        model="smart",
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "text", "text": "again"}]},
        ],
        max_completion_tokens=50,
        extra_headers={"X-Job-Id": job_id},
    )
    assert raw.headers["x-job-id"] == job_id
    assert raw.parse().choices[0].message.content == "a"
    sent = server.upstream.received[-1].body
    assert sent["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello\nagain"},
    ]
    assert sent["max_completion_tokens"] == 50
    job = await job_of(server, key, job_id)
    assert job["status"] == "in_progress" and len(job["calls"]) == 1
    # The same call on the job API costs exactly the same.
    async with server.client(key) as http:
        call = await http.post(f"/api/jobs/{job_id}/llm-call", json={"model": "smart", "messages": HELLO})
        assert call.status_code == 200
        done = (await http.post(f"/api/jobs/{job_id}/complete")).json()
    assert done["costs"]["total_calls"] == 2
    assert done["costs"]["customer_cost_usd"] == "0.012"
    assert {c["customer_cost_usd"] for c in job["calls"]} == {"0.006"}


async def test_stream_with_include_usage_relays_chunks_then_usage_then_done(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(
        Reply(chunks=("The", " capital", " is"), usage=openai_usage(4020, 87, cached=4012, reasoning=64))
    )
    client = sdk(server, key)

    def read() -> tuple[Any, list[Any]]:
        raw = client.chat.completions.with_raw_response.create(
            model="smart", messages=HELLO, stream=True, stream_options={"include_usage": True}
        )
        return raw.headers, list(raw.parse())

    headers, chunks = await in_thread(read)
    assert headers["content-type"].startswith("text/event-stream")
    assert chunks[0].choices[0].delta.role == "assistant"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "The capital is"
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert all(c.usage is None for c in chunks[:-1])
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None
    assert (last.usage.prompt_tokens, last.usage.completion_tokens, last.usage.total_tokens) == (4020, 87, 4107)
    assert last.usage.prompt_tokens_details is not None and last.usage.prompt_tokens_details.cached_tokens == 4012
    assert last.usage.completion_tokens_details is not None
    assert last.usage.completion_tokens_details.reasoning_tokens == 64
    assert {c.id for c in chunks} == {"chatcmpl-" + headers["x-call-id"].replace("-", "")}
    assert server.upstream.received[-1].body["stream_options"] == {"include_usage": True}
    job = await job_of(server, key, headers["x-job-id"])
    assert job["status"] == "completed"
    call = job["calls"][0]
    assert call["streamed"] is True and call["usage"]["cached_input_tokens"] == 4012
    # 8 uncached × 2 + 4012 cached × 2 (no cached price: the input price) + 87 × 8, per 1M.
    assert call["customer_cost_usd"] == str((D(8) * 2 + D(4012) * 2 + D(87) * 8) / D(1_000_000))


async def test_stream_without_include_usage_has_no_usage_and_ends_with_done(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("x", "y")))
    async with server.client(key) as http:
        body = {"model": "smart", "messages": HELLO, "stream": True}
        response = await http.post("/v1/chat/completions", json=body)
    assert response.status_code == 200
    events = [block.removeprefix("data: ") for block in response.text.strip().split("\n\n")]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all("usage" not in c for c in chunks)
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"content": "x"},
        {"content": "y"},
        {},
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}


async def test_async_stream_in_a_named_job(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_TOKENS)
    async with server.client(key) as http:
        job_id = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
    server.upstream.push(Reply(chunks=("p", "q"), usage=openai_usage(3000, 2000)))
    client = async_sdk(server, key)
    stream = await client.chat.completions.create(
        model="smart",
        messages=HELLO,
        stream=True,
        stream_options={"include_usage": True},
        extra_headers={"X-Job-Id": job_id},
    )
    text, usage = "", None
    async for chunk in stream:
        if chunk.choices:
            text += chunk.choices[0].delta.content or ""
        if chunk.usage is not None:
            usage = chunk.usage
    assert text == "pq" and usage is not None and usage.total_tokens == 5000
    job = await job_of(server, key, job_id)
    assert job["status"] == "in_progress"
    assert job["calls"][0]["credits"] == "0.5"  # 5000 tokens / 10,000 per credit


async def test_five_concurrent_calls_are_each_recorded_and_charged_exactly(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(*[Reply(chunks=(f"r{i}",), usage=openai_usage(1000, 500)) for i in range(5)])
    client = async_sdk(server, key)
    results = await asyncio.gather(
        *[client.chat.completions.with_raw_response.create(model="smart", messages=HELLO) for _ in range(5)]
    )
    assert sorted(r.parse().choices[0].message.content or "" for r in results) == [f"r{i}" for i in range(5)]
    jobs = [await job_of(server, key, r.headers["x-job-id"]) for r in results]
    assert len({j["job_id"] for j in jobs}) == 5
    assert {j["costs"]["customer_cost_usd"] for j in jobs} == {"0.006"}
    async with server.client(key) as http:
        credits = (await http.get(f"/api/teams/{team.id}/credits")).json()
    assert credits["used"] == "0.3" and credits["held"] == "0" and credits["remaining"] == "99.7"


@pytest.mark.parametrize(
    ("model", "native", "expected"),
    [
        # Anthropic: input excludes cache reads and writes; OpenAI's prompt_tokens counts them.
        (
            "claude",
            {
                "input_tokens": 3,
                "cache_creation_input_tokens": 418,
                "cache_read_input_tokens": 1111,
                "output_tokens": 33,
            },
            (1532, 33, 1565, 1111, 418, 0),
        ),
        # Gemini: candidates exclude thoughts; OpenAI's completion_tokens counts them.
        (
            "flash",
            {
                "promptTokenCount": 3520,
                "cachedContentTokenCount": 3512,
                "candidatesTokenCount": 2,
                "thoughtsTokenCount": 42,
                "totalTokenCount": 3564,
            },
            (3520, 44, 3564, 3512, 0, 42),
        ),
        ("llama", {"prompt_tokens": 14, "total_tokens": 40, "completion_tokens": 26}, (14, 26, 40, 0, 0, 0)),
        ("smart", openai_usage(7, 87, reasoning=64), (7, 87, 94, 0, 0, 64)),
    ],
)
async def test_usage_is_in_openai_convention_whichever_provider_served(
    server: Server, model: str, native: dict[str, Any], expected: tuple[int, ...]
) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    for stream in (False, True):
        server.upstream.push(Reply(chunks=("ok",), usage=native))
        async with server.client(key) as http:
            body: dict[str, Any] = {"model": model, "messages": HELLO}
            if stream:
                body |= {"stream": True, "stream_options": {"include_usage": True}}
            response = await http.post("/v1/chat/completions", json=body)
        assert response.status_code == 200, response.text
        if stream:
            usage = json.loads(response.text.strip().split("\n\n")[-2].removeprefix("data: "))["usage"]
        else:
            usage = response.json()["usage"]
        assert (
            usage["prompt_tokens"],
            usage["completion_tokens"],
            usage["total_tokens"],
            usage["prompt_tokens_details"]["cached_tokens"],
            usage["prompt_tokens_details"]["cache_write_tokens"],
            usage["completion_tokens_details"]["reasoning_tokens"],
        ) == expected


async def test_models_lists_exactly_the_aliases_the_team_may_use(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    _, premium_key = await server.team(BudgetMode.CONSUMPTION_USD, groups=("premium",))
    client = async_sdk(server, key)
    listed = await client.models.list()
    assert [m.id for m in listed.data] == ["claude", "flash", "llama", "smart"]
    assert {m.id: m.owned_by for m in listed.data}["claude"] == "anthropic"
    assert (await client.models.retrieve("smart")).id == "smart"
    with pytest.raises(openai.NotFoundError):
        await client.models.retrieve("premium")  # exists, but not for this team
    premium = await async_sdk(server, premium_key).models.list()
    assert [m.id for m in premium.data] == ["premium"]


async def test_errors_raise_the_sdk_classes_with_openai_bodies(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    _, broke_key = await server.team(BudgetMode.CONSUMPTION_USD, credits=D(0))
    other, other_key = await server.team(BudgetMode.CONSUMPTION_USD)
    client = async_sdk(server, key)
    async with server.client(key) as http:
        finished = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]
        assert (await http.post(f"/api/jobs/{finished}/complete")).status_code == 200
    async with server.client(other_key) as http:
        others = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()["job_id"]

    async def fails(error: type[openai.APIStatusError], client: openai.AsyncOpenAI = client, **kw: Any) -> Any:
        with pytest.raises(error) as caught:
            await client.chat.completions.create(**{"model": "smart", "messages": HELLO, **kw})
        return caught.value

    bad_key = await fails(openai.AuthenticationError, async_sdk(server, "sk-job-wrong"))
    assert bad_key.status_code == 401 and bad_key.code == "unauthorized" and bad_key.type == "authentication_error"
    forbidden = await fails(openai.PermissionDeniedError, model="premium")
    assert forbidden.code == "model_not_allowed" and "premium" in forbidden.message
    assert (await fails(openai.NotFoundError, extra_headers={"X-Job-Id": others})).code == "not_found"
    unknown = "00000000-0000-7000-8000-000000000000"
    assert (await fails(openai.NotFoundError, extra_headers={"X-Job-Id": unknown})).code == "not_found"
    conflict = await fails(openai.ConflictError, extra_headers={"X-Job-Id": finished})
    assert conflict.code == "job_not_active" and conflict.response.headers["x-should-retry"] == "false"
    malformed = await fails(openai.UnprocessableEntityError, extra_headers={"X-Job-Id": "not-a-uuid"})
    assert malformed.code == "invalid_request"
    refused = await fails(openai.UnprocessableEntityError, functions=[{"name": "f"}])
    assert (refused.code, refused.param, refused.type) == ("unsupported_feature", "functions", "invalid_request_error")
    assert (await fails(openai.UnprocessableEntityError, n=2)).param == "n"
    unknown_field = await fails(openai.UnprocessableEntityError, extra_body={"temprature": 1})
    assert unknown_field.code == "invalid_request" and "temprature" in unknown_field.message
    mistyped = await fails(openai.UnprocessableEntityError, extra_body={"max_tokens": "many"})
    assert mistyped.param == "max_tokens"
    broke = await fails(openai.APIStatusError, async_sdk(server, broke_key))
    assert broke.status_code == 402 and broke.code == "insufficient_credits"
    too_big = await fails(openai.APIStatusError, messages=[{"role": "user", "content": "x" * 70_000}])
    assert too_big.status_code == 413 and too_big.code == "payload_too_large"
    provider_faults: list[tuple[list[Reply], type[openai.APIStatusError], int, str]] = [
        ([Reply(status=429, error="rate_limit", retry_after="7")], openai.RateLimitError, 429, "rate_limited"),
        ([Reply(status=500, error="server")] * 2, openai.InternalServerError, 502, "provider_error"),
        ([Reply(fault="timeout")] * 2, openai.InternalServerError, 504, "provider_timeout"),
        ([Reply(status=400, error="bad_request")], openai.BadRequestError, 400, "invalid_request"),
    ]
    for replies, error, status, code in provider_faults:
        server.upstream.push(*replies)
        caught = await fails(error)
        assert (caught.status_code, caught.code) == (status, code), caught
        if status == 429:
            assert caught.response.headers["retry-after"] == "7"
    await server.services.organizations.set_status(other.id, TeamStatus.SUSPENDED)
    suspended = await fails(openai.PermissionDeniedError, async_sdk(server, other_key))
    assert suspended.code == "team_suspended"
    # Refused before the provider: no call recorded, nothing held; failed at it: recorded.
    async with server.client(key) as http:
        jobs = (await http.get(f"/api/teams/{team.id}/jobs", params={"limit": 200})).json()["items"]
        credits = (await http.get(f"/api/teams/{team.id}/credits")).json()
    calls = [c for j in jobs for c in (await job_of(server, key, j["job_id"]))["calls"]]
    assert len(calls) == 4 and {c["status"] for c in calls} == {"failed"}
    assert credits["held"] == "0"


async def test_a_stream_cut_after_the_first_byte_raises_in_the_sdk_and_is_billed(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("abcd", "efgh", "ijkl"), fault="cut", fault_after=2))
    client = sdk(server, key)

    def read() -> tuple[Any, str]:
        raw = client.chat.completions.with_raw_response.create(model="smart", messages=HELLO, stream=True)
        text = ""
        with pytest.raises(openai.APIError) as caught:
            for chunk in raw.parse():
                text += chunk.choices[0].delta.content or "" if chunk.choices else ""
        assert caught.value.code == "provider_error"
        return raw.headers, text

    headers, text = await in_thread(read)
    assert text == "abcdefgh"
    job = await job_of(server, key, headers["x-job-id"])
    assert job["status"] == "failed"
    call = job["calls"][0]
    assert call["status"] == "failed" and call["usage_estimated"] is True
    assert D(call["customer_cost_usd"]) > 0  # the provider generated (and bills) what was relayed


async def test_disconnect_mid_stream_bills_what_was_streamed_and_finishes_the_job(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("abcd",) * 100, chunk_delay_s=0.02))
    async with (
        server.client(key) as http,
        http.stream("POST", "/v1/chat/completions", json={"model": "smart", "messages": HELLO, "stream": True}) as r,
    ):
        job_id = r.headers["x-job-id"]
        async for line in r.aiter_lines():
            if "abcd" in line:
                break
    for _ in range(100):
        job = await job_of(server, key, job_id)
        if job["status"] != "in_progress":
            break
        await asyncio.sleep(0.05)
    assert job["status"] == "failed"  # as on the job API: the abandoned call is recorded failed
    assert job["calls"][0]["usage_estimated"] is True
    async with server.client(key) as http:
        assert (await http.get(f"/api/teams/{team.id}/credits")).json()["held"] == "0"


async def test_fields_we_cannot_honour_are_refused_by_name_and_harmless_ones_ignored(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    refused = {
        "functions": [{"name": "f"}],
        "function_call": "auto",
        "n": 3,
        "logprobs": True,
        "top_logprobs": 2,
        "frequency_penalty": 0.5,
        "presence_penalty": -1,
        "logit_bias": {"50256": -100},
        "service_tier": "flex",
        "modalities": ["text", "audio"],
        "audio": {"voice": "alloy", "format": "mp3"},
        "prediction": {"type": "content", "content": "x"},
        "reasoning_effort": "high",
        "verbosity": "low",
        "web_search_options": {},
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
    }
    audio = [{"type": "text", "text": "what is it?"}, {"type": "input_audio", "input_audio": {"data": "x"}}]
    messages = {
        "messages[0].content": [{"role": "user", "content": audio}],
        "messages[1]": [{"role": "user", "content": "hi"}, {"role": "function", "content": "42", "name": "f"}],
    }
    async with server.client(key) as http:
        for field, value in refused.items():
            response = await http.post("/v1/chat/completions", json={"model": "smart", "messages": HELLO, field: value})
            assert response.status_code == 422, (field, response.text)
            assert response.json()["error"]["code"] == "unsupported_feature"
            assert response.json()["error"]["param"] == field
        for param, chat in messages.items():
            response = await http.post("/v1/chat/completions", json={"model": "smart", "messages": chat})
            assert response.status_code == 422 and response.json()["error"]["param"] == param, response.text
        assert server.upstream.pending == 0
        ignored = {
            "user": "u",
            "seed": 1,
            "store": False,
            "safety_identifier": "s",
            "prompt_cache_key": "k",
            "parallel_tool_calls": True,
            "n": 1,
            "logprobs": False,
            "frequency_penalty": 0,
            "service_tier": "auto",
            "modalities": ["text"],
            "tool_choice": "none",
            "stream_options": None,
            "metadata": {"ticket": "T-1"},
            "response_format": {"type": "json_object"},
            "stop": "END",
            "temperature": 0.2,
            "top_p": 0.9,
        }
        server.upstream.push(Reply(chunks=("{}",)))
        response = await http.post(
            "/v1/chat/completions", json={"model": "smart", "messages": HELLO, **ignored}, headers={"X-Job-Type": "faq"}
        )
        assert response.status_code == 200, response.text
        job = await job_of(server, key, response.headers["x-job-id"])
    assert job["job_type"] == "faq" and job["metadata"] == {"ticket": "T-1"}
    sent = server.upstream.received[-1].body
    assert sent["response_format"] == {"type": "json_object"} and sent["stop"] == ["END"]
    assert sent["temperature"] == 0.2 and sent["top_p"] == 0.9
    assert not {"user", "seed", "store", "metadata", "n", "logprobs"} & set(sent)


async def test_malformed_json_is_400_in_openai_shape(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http:
        response = await http.post(
            "/v1/chat/completions", content=b"{not json", headers={"content-type": "application/json"}
        )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_request"
    assert response.headers["content-type"].startswith("application/json")


async def test_schema_documents_the_v1_routes(server: Server) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        schema = (await http.get("/schema/openapi.json")).json()
    assert {"/v1/chat/completions", "/v1/models", "/v1/models/{model}"} <= set(schema["paths"])
    post = schema["paths"]["/v1/chat/completions"]["post"]
    assert {p["name"] for p in post["parameters"]} >= {"X-Job-Id", "X-Job-Type"}
    assert {"200", "401", "402", "403", "404", "409", "413", "422", "429", "502", "504"} <= set(post["responses"])


async def test_the_job_api_keeps_problem_details(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http:
        response = await http.post("/api/jobs/create-and-call", json={"job_type": "x", "model": "premium"})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")
