"""Tools and content parts in OpenAI's shapes, shared by the job API and ``/v1``.

Both surfaces take the same JSON for these (OpenAI's Chat Completions): ``tools``,
``tool_choice``, assistant ``tool_calls``, ``tool`` messages and ``image_url`` content
parts. Decoding checks the shapes and sizes (422 ``invalid_request`` for anything odd:
unknown fields, a name outside ``[A-Za-z0-9_-]{1,64}``, arguments that are not a JSON
object, a bad image URL or data URI); the domain types check the conversation.
"""

from typing import Annotated, Any, Literal

import msgspec

from domain.content import ContentPart
from domain.content import ImagePart as DomainImagePart
from domain.content import TextPart as DomainTextPart
from domain.errors import InvalidValueError
from domain.llm import ChatMessage, Role
from domain.tools import (
    MAX_DESCRIPTION_LENGTH,
    MAX_TOOL_CALL_ID_LENGTH,
    MAX_TOOL_CALLS,
    MAX_TOOLS,
    ToolCall,
    ToolChoice,
    ToolChoiceMode,
    ToolSpec,
    check_tool_call,
)

MAX_CONTENT = 4_000_000
MAX_PARTS = 512
Text = Annotated[str, msgspec.Meta(max_length=MAX_CONTENT)]
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]


class ImageUrl(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_CONTENT)]
    detail: Literal["auto", "low", "high"] | None = None


class TextPart(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type", tag="text"):
    text: Text


class ImagePart(msgspec.Struct, frozen=True, forbid_unknown_fields=True, tag_field="type", tag="image_url"):
    image_url: ImageUrl


class FunctionCall(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    arguments: Text  # JSON text of an object


class ToolCallIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    id: Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_TOOL_CALL_ID_LENGTH)]
    type: Literal["function"]
    function: FunctionCall


class FunctionDef(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name
    description: Annotated[str, msgspec.Meta(max_length=MAX_DESCRIPTION_LENGTH)] | None = None
    parameters: dict[str, Any] | None = None  # a JSON Schema of an object
    strict: bool | None = None


class ToolIn(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: Literal["function"]
    function: FunctionDef


class NamedFunction(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    name: Name


class NamedToolChoice(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    type: Literal["function"]
    function: NamedFunction


Tools = Annotated[list[ToolIn], msgspec.Meta(max_length=MAX_TOOLS)]
ToolCalls = Annotated[list[ToolCallIn], msgspec.Meta(min_length=1, max_length=MAX_TOOL_CALLS)]
ToolChoiceIn = Literal["auto", "none", "required"] | NamedToolChoice
UserParts = Annotated[list[TextPart | ImagePart], msgspec.Meta(max_length=MAX_PARTS)]
TextParts = Annotated[list[TextPart], msgspec.Meta(max_length=MAX_PARTS)]


def user_message(content: str | list[Any], where: str) -> ChatMessage:
    """A user turn: plain text, or text and image parts in order."""
    if isinstance(content, str):
        return ChatMessage(Role.USER, content)
    parts: list[ContentPart] = []
    for index, part in enumerate(content):
        if isinstance(part, ImagePart):
            parts.append(image_part(part.image_url, f"{where}.content[{index}]"))
        else:
            parts.append(DomainTextPart(part.text))
    return ChatMessage.of_parts(Role.USER, parts)


def image_part(image: ImageUrl, where: str) -> DomainImagePart:
    try:
        return DomainImagePart(url=image.url, detail=image.detail)  # type: ignore[arg-type]
    except InvalidValueError as exc:
        raise InvalidValueError(f"{where}.image_url: {exc.detail}") from None


def tool_calls_in(calls: list[ToolCallIn], where: str) -> tuple[ToolCall, ...]:
    found = []
    for index, call in enumerate(calls):
        converted = ToolCall(id=call.id, name=call.function.name, arguments=call.function.arguments)
        check_tool_call(converted, f"{where}.tool_calls[{index}]")
        found.append(converted)
    return tuple(found)


def tools_in(tools: list[ToolIn] | None) -> tuple[ToolSpec, ...]:
    specs = []
    for index, tool in enumerate(tools or []):
        function = tool.function
        try:
            specs.append(
                ToolSpec(
                    name=function.name,
                    description=function.description,
                    parameters=function.parameters,
                    strict=function.strict,
                )
            )
        except InvalidValueError as exc:
            raise InvalidValueError(f"tools[{index}]: {exc.detail}") from None
    return tuple(specs)


def tool_choice_in(choice: ToolChoiceIn | None) -> ToolChoice | None:
    if choice is None:
        return None
    if isinstance(choice, NamedToolChoice):
        return ToolChoice(mode=ToolChoiceMode.REQUIRED, name=choice.function.name)
    return ToolChoice(mode=ToolChoiceMode(choice))


# ---- responses --------------------------------------------------------------------------


class FunctionOut(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    arguments: str


class ToolCallOut(msgspec.Struct, frozen=True, kw_only=True):
    """A call the model made, in OpenAI's shape (so a client can send it back as is)."""

    id: str
    type: Literal["function"]
    function: FunctionOut


def tool_calls_out(calls: tuple[ToolCall, ...]) -> list[ToolCallOut]:
    return [
        ToolCallOut(id=c.id, type="function", function=FunctionOut(name=c.name, arguments=c.arguments)) for c in calls
    ]
