"""OpenAI request bodies → calls: what is mapped, what is refused by name."""

import msgspec
import pytest

from domain.errors import InvalidValueError, UnsupportedFeatureError
from domain.llm import ChatMessage, Role
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
        ({"tools": [{"type": "function"}]}, "tools"),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"presence_penalty": 0.1}, "presence_penalty"),
        ({"messages": [{"role": "assistant", "content": None, "tool_calls": [{"id": "c"}]}]}, "messages[0]"),
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
