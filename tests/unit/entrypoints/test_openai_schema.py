"""OpenAI request bodies → calls: what is mapped, what is refused by name."""

import msgspec
import pytest

from domain.content import ImageDetail, ImagePart, TextPart
from domain.errors import InvalidValueError, UnsupportedFeatureError
from domain.llm import ChatMessage, Role, ToolCall, ToolChoice, ToolChoiceMode, ToolSpec
from entrypoints.http.schemas.openai import ChatCompletionBody


def body(**fields: object) -> ChatCompletionBody:
    raw = {"model": "smart", "messages": [{"role": "user", "content": "Hi"}], **fields}
    return msgspec.json.decode(msgspec.json.encode(raw), type=ChatCompletionBody)


def test_roles_and_text_parts_map_onto_chat_messages() -> None:
    request = body(
        messages=[
            {"role": "developer", "content": "Be brief."},
            {"role": "system", "content": [{"type": "text", "text": "No emoji."}]},
            {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}], "name": "x"},
            {"role": "assistant", "content": "ok", "refusal": None},
        ],
        stop="END",
        response_format={"type": "json_object"},
        max_completion_tokens=20,
    ).to_request()
    assert request.messages == [
        ChatMessage(Role.SYSTEM, "Be brief."),
        ChatMessage(Role.SYSTEM, "No emoji."),
        ChatMessage(Role.USER, "a\nb"),
        ChatMessage(Role.ASSISTANT, "ok"),
    ]
    assert request.stop == ["END"] and request.json_mode and request.max_tokens == 20


def test_max_tokens_and_max_completion_tokens_must_agree() -> None:
    assert body(max_tokens=7, max_completion_tokens=7).to_request().max_tokens == 7
    with pytest.raises(InvalidValueError):
        body(max_tokens=7, max_completion_tokens=8).to_request()


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 2}, "n"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"function_call": "auto"}, "function_call"),
        ({"presence_penalty": 0.1}, "presence_penalty"),
        ({"messages": [{"role": "assistant", "content": None, "function_call": {"name": "f"}}]}, "messages[0]"),
        ({"messages": [{"role": "function", "content": "1", "name": "f"}]}, "messages[0]"),
        (
            {"messages": [{"role": "user", "content": [{"type": "input_audio", "input_audio": {}}]}]},
            "messages[0].content",
        ),
    ],
)
def test_what_cannot_be_honoured_is_refused_by_name(fields: dict[str, object], param: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as refused:
        body(**fields).to_request()
    assert refused.value.param == param and refused.value.code == "unsupported_feature"


def test_an_assistant_message_without_content_is_invalid() -> None:
    with pytest.raises(InvalidValueError):
        body(messages=[{"role": "assistant"}]).to_request()


def test_fields_openai_does_not_define_are_schema_errors() -> None:
    with pytest.raises(msgspec.ValidationError, match="temprature"):
        body(temprature=1)


PNG = "data:image/png;base64,iVBORw0KGgoAAAAAAAAAAA=="
TOOL = {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {}}}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}


def test_tools_calls_results_and_images_map_onto_the_request() -> None:
    request = body(
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "see"},
                    {"type": "image_url", "image_url": {"url": PNG, "detail": "low"}},
                ],
            },
            {"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "21C"}]},
        ],
        tools=[TOOL],
        tool_choice={"type": "function", "function": {"name": "get_weather"}},
        parallel_tool_calls=False,
    ).to_request()
    user, assistant, tool = request.messages
    assert user == ChatMessage(Role.USER, "see", parts=(TextPart("see"), ImagePart(url=PNG, detail=ImageDetail.LOW)))
    assert assistant == ChatMessage(
        Role.ASSISTANT, "", tool_calls=(ToolCall(id="call_1", name="get_weather", arguments='{"city":"Paris"}'),)
    )
    assert tool == ChatMessage(Role.TOOL, "21C", tool_call_id="call_1")
    assert request.tools == (ToolSpec(name="get_weather", parameters={"type": "object", "properties": {}}),)
    assert request.tool_choice == ToolChoice(mode=ToolChoiceMode.REQUIRED, name="get_weather")
    assert request.parallel_tool_calls is False


def called(name: str, arguments: str) -> dict[str, object]:
    call = {**CALL, "function": {"name": name, "arguments": arguments}}
    return {"messages": [{"role": "assistant", "tool_calls": [call]}]}


def image(url: str) -> dict[str, object]:
    return {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": url}}]}]}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"messages": [{"role": "tool", "tool_call_id": "nope", "content": "x"}]}, "does not name a tool call"),
        (called("f", "{"), "JSON object"),
        (called("f", "[1]"), "JSON object"),
        (called("bad name", "{}"), "letters"),
        ({"tools": [{"type": "function", "function": {"name": "a b"}}]}, "letters"),
        ({"tools": [TOOL, TOOL]}, "unique"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "str"}}}]}, "type 'object'"),
        ({"tool_choice": "required"}, "needs tools"),
        ({"tools": [TOOL], "tool_choice": {"type": "function", "function": {"name": "other"}}}, "not among the tools"),
        (image("ftp://x/y.png"), "http"),
        (image("data:image/png;base64,!!!!"), "base64"),
        (image("data:image/jpeg;base64,iVBORw0KGgoAAAAAAAAAAA=="), "not a jpeg"),
        (image("data:image/svg+xml;base64,PHN2Zz4="), "not supported"),
        (image("https://a.example/x y.png"), "without spaces"),
    ],
)  # fmt: skip
def test_odd_tools_calls_and_images_are_invalid_with_a_clear_message(fields: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidValueError, match=message):
        body(**fields).to_request()


def test_a_tool_message_without_tool_call_id_is_a_schema_error() -> None:
    with pytest.raises(msgspec.ValidationError, match="tool_call_id"):
        body(messages=[{"role": "tool", "content": "x"}])
