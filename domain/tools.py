"""Function calling, provider-neutral: tool definitions, the model's calls, the client's choice.

The shapes follow OpenAI's Chat Completions (the API's lingua franca): a tool is a
function with a name, a description and a JSON Schema for its parameters; a call carries
an id, the function's name and its arguments as a JSON **text** (kept as text, so what a
model produced reaches the client byte for byte). Adapters map these onto each
provider's own blocks and parts.
"""

import re
from enum import StrEnum
from typing import Any

import msgspec

from domain.errors import InvalidValueError
from domain.text import ensure_storable_json

MAX_TOOLS = 128  # OpenAI's own limit
MAX_TOOL_CALLS = 128
MAX_TOOL_CALL_ID_LENGTH = 256
MAX_DESCRIPTION_LENGTH = 16_384
TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # OpenAI's rule, which every provider accepts but Gemini (below)
TOOL_NAME_RULE = "1 to 64 letters, digits, '_' or '-'"


class ToolChoiceMode(StrEnum):
    AUTO = "auto"  # the model decides
    NONE = "none"  # no call
    REQUIRED = "required"  # at least one call (of ``name`` when set)


class ToolSpec(msgspec.Struct, frozen=True, kw_only=True):
    """A function the model may call; ``parameters`` is a JSON Schema of an object."""

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None

    def __post_init__(self) -> None:
        check_tool_name(self.name, "a tool's name")
        if self.description is not None and len(self.description) > MAX_DESCRIPTION_LENGTH:
            raise InvalidValueError(f"tool '{self.name}': description must be at most {MAX_DESCRIPTION_LENGTH} chars")
        if self.parameters is not None and self.parameters.get("type", "object") != "object":
            raise InvalidValueError(f"tool '{self.name}': parameters must be a JSON Schema with type 'object'")


class ToolChoice(msgspec.Struct, frozen=True, kw_only=True):
    """``auto``, ``none``, ``required``, or one named function (``required`` with ``name``)."""

    mode: ToolChoiceMode
    name: str | None = None

    def __post_init__(self) -> None:
        if self.name is not None:
            if self.mode is not ToolChoiceMode.REQUIRED:
                raise InvalidValueError("a named tool choice forces that tool (mode required)")
            check_tool_name(self.name, "tool_choice's function name")


class ToolCall(msgspec.Struct, frozen=True, kw_only=True):
    """One call the model made. ``arguments`` is JSON text, as the model wrote it."""

    id: str
    name: str
    arguments: str


class ToolCallDelta(msgspec.Struct, frozen=True, kw_only=True, tag="tool_call"):
    """A piece of a streamed tool call, OpenAI-style: the first piece of call ``index``
    carries its ``id`` and ``name``, later ones only fragments of ``arguments`` (which
    concatenate to the call's JSON text)."""

    index: int
    id: str | None = None
    name: str | None = None
    arguments: str = ""


def check_tool_name(name: str, what: str) -> None:
    if not TOOL_NAME.fullmatch(name):
        raise InvalidValueError(f"{what} must be {TOOL_NAME_RULE}")


def check_tool_call(call: ToolCall, where: str) -> None:
    """A client's (replayed) tool call: a sane id and name, arguments that are a JSON object."""
    if not 0 < len(call.id) <= MAX_TOOL_CALL_ID_LENGTH:
        raise InvalidValueError(f"{where}: a tool call id must be 1 to {MAX_TOOL_CALL_ID_LENGTH} characters")
    check_tool_name(call.name, f"{where}: a tool call's function name")
    # what it decodes to reaches providers as JSON: no NUL, no lone surrogate, 32 levels at most
    ensure_storable_json(arguments_object(call.arguments, where), f"{where}: a tool call's arguments")


def arguments_object(arguments: str, where: str) -> dict[str, Any]:
    """The arguments as a JSON object (Anthropic and Gemini take an object, not text)."""
    try:
        value = msgspec.json.decode(arguments) if arguments.strip() else {}
    except msgspec.DecodeError:
        raise InvalidValueError(f"{where}: a tool call's arguments must be a JSON object (text)") from None
    if not isinstance(value, dict):
        raise InvalidValueError(f"{where}: a tool call's arguments must be a JSON object (text)")
    return value


def tools_bytes(tools: tuple[ToolSpec, ...]) -> int:
    """The UTF-8 size of the tool definitions as sent (their JSON)."""
    return sum(len(msgspec.json.encode(tool)) for tool in tools)
