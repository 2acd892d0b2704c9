"""Tools through the call use cases on fakes: threaded to the provider and back, refused before the hold."""

from decimal import Decimal

import pytest

from adapters.memory.providers import Reply
from application.services.calls import CallFinished, CallRequest
from domain.budgets import BudgetMode
from domain.errors import InvalidValueError, UnsupportedFeatureError
from domain.llm import ChatMessage, Role, ToolCall, ToolCallDelta, ToolChoice, ToolChoiceMode, ToolSpec
from domain.usage import TokenUsage
from tests.unit.application.conftest import World

D = Decimal
CALL = ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}')
TOOLS = (ToolSpec(name="get_weather", parameters={"type": "object"}),)


def ask() -> CallRequest:
    return CallRequest(
        model="smart",
        messages=[ChatMessage(Role.USER, "Weather?")],
        tools=TOOLS,
        tool_choice=ToolChoice(mode=ToolChoiceMode.REQUIRED),
        parallel_tool_calls=False,
    )


async def test_tools_reach_the_provider_and_its_calls_come_back(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    usage = TokenUsage(input=1000, output=500)
    world.provider.push(Reply(chunks=(), tool_calls=(CALL,), usage=usage), Reply(chunks=(), tool_calls=(CALL,)))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    result = await world.services.calls.call(me, job.id, ask())
    assert result.tool_calls == (CALL,)
    assert result.call.credits == D("0.06")  # tool-call tokens are output: 1000×2 + 500×8 per 1M, ×10
    _, sent = world.provider.requests[-1]
    assert sent.tools == TOOLS and sent.tool_choice == ToolChoice(mode=ToolChoiceMode.REQUIRED)
    assert sent.parallel_tool_calls is False
    stream = await world.services.calls.open_stream(me, job.id, ask())
    items = [item async for item in stream.items]
    await stream.close()
    assert items[0] == ToolCallDelta(index=0, id="call_1", name="get_weather", arguments='{"city":"Paris"}')
    assert isinstance(items[-1], CallFinished) and items[-1].tool_calls == (CALL,)


async def test_what_the_provider_cannot_take_is_refused_before_anything_is_held(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.unsupported = "no tools here"
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    before = world.store.balances[team.id]
    with pytest.raises(UnsupportedFeatureError, match="no tools here"):
        await world.services.calls.call(me, job.id, ask())
    assert world.store.balances[team.id] == before
    assert world.provider.requests == [] and len(world.provider.checked) == 1


def test_a_conversation_no_provider_could_take_is_refused_on_construction() -> None:
    with pytest.raises(InvalidValueError, match="does not name a tool call"):
        CallRequest(model="smart", messages=[ChatMessage(Role.TOOL, "21", tool_call_id="call_1")])
    with pytest.raises(InvalidValueError, match="needs tools"):
        CallRequest(
            model="smart", messages=[ChatMessage(Role.USER, "x")], tool_choice=ToolChoice(mode=ToolChoiceMode.AUTO)
        )
