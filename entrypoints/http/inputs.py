"""The validated decode step: what the API accepts from the wire, checked before any use case.

Every JSON body goes through ``decode_json_body`` (Litestar asks the request for its
JSON, and ``ScreenedRequest`` answers with it):

1. msgspec decodes the bytes: malformed JSON or invalid UTF-8 → 400; a lone surrogate
   (``"\\ud800"`` without its partner), which msgspec refuses too, → 422;
2. the tree is checked: at most ``MAX_JSON_DEPTH`` nested arrays/objects, and no string
   or object key holds NUL (U+0000) → 422. NUL and lone surrogates are the two things
   Postgres text cannot store;
3. decimal fields are checked on their raw JSON value against the rule their type
   declares (``schemas/amounts.py``) → 422;

then Litestar converts the tree into the handler's typed struct (schema violations →
422). Paths and query strings get the same text rule from the ``screen_url_text``
guard. Both run after ``authenticate_first``: a stranger's body is never decoded.

Cost: the walk of step 2 visits each array and object once, in a loop (no recursion),
and looks for NUL in each string with ``in`` (C speed, memchr): a 1 MiB prompt costs tens
of microseconds on top of decoding it. Step 3 visits the decimal fields only.
"""

import functools
import re
from dataclasses import dataclass
from typing import Any

import msgspec
import msgspec.inspect as mi
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.connection.base import empty_receive, empty_send
from litestar.exceptions import ClientException
from litestar.handlers import BaseRouteHandler
from litestar.types import Empty, Receive, Scope, Send
from litestar.types.empty import EmptyType

from domain.errors import InvalidValueError
from entrypoints.http.schemas.amounts import RULE_KEY, DecimalRule

MAX_JSON_DEPTH = 32  # nested arrays and objects, the body itself counting as one
TEXT_RULE = "must not contain NUL (\\u0000) or lone surrogates (\\ud800-\\udfff)"

_SURROGATE = re.compile("[\ud800-\udfff]")
# A \uD800–\uDFFF escape not paired as high + low (and not itself an escaped backslash):
# msgspec refuses those as malformed, but the JSON is well-formed, the text is what we refuse.
_LONE_SURROGATE_ESCAPE = re.compile(
    rb"(?<!\\)(?:\\\\)*(?:\\u[dD][89abAB][0-9a-fA-F]{2}(?!\\u[dD][c-fC-F][0-9a-fA-F]{2})"
    rb"|(?<!\\u[dD][89abAB][0-9a-fA-F]{2})\\u[dD][c-fC-F][0-9a-fA-F]{2})"
)
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def is_storable_text(text: str) -> bool:
    """Whether Postgres can store ``text``: no NUL, no lone surrogate."""
    # Surrogates only live in non-ASCII strings, and ``isascii`` is O(1) in CPython.
    return "\x00" not in text and (text.isascii() or _SURROGATE.search(text) is None)


def text_error(where: str) -> InvalidValueError:
    return InvalidValueError(f"{where} {TEXT_RULE}")


def depth_error() -> InvalidValueError:
    return InvalidValueError(f"JSON is nested more than {MAX_JSON_DEPTH} levels deep")


# ---- decimal fields, found once per body type ----------------------------------------


@dataclass(frozen=True)
class _Fields:
    by_name: dict[str, "_Plan"]


@dataclass(frozen=True)
class _Each:
    plan: "_Plan"  # every element of an array, or every value of an object


_Plan = DecimalRule | _Fields | _Each


@functools.cache
def decimal_plan(annotation: Any) -> _Plan | None:
    """Where the decimal fields of a body type are, with their rules; None: it has none."""
    return _plan(mi.type_info(annotation), 0)


def _plan(info: mi.Type, depth: int) -> _Plan | None:
    if depth > MAX_JSON_DEPTH:  # a recursive type: deeper values are refused anyway
        return None
    match info:
        case mi.Metadata(type=inner, extra=extra):
            rule = (extra or {}).get(RULE_KEY)
            return rule if isinstance(rule, DecimalRule) else _plan(inner, depth)
        case mi.StructType(fields=fields) | mi.DataclassType(fields=fields) | mi.TypedDictType(fields=fields):
            found = {f.encode_name: p for f in fields if (p := _plan(f.type, depth + 1)) is not None}
            return _Fields(found) if found else None
        case mi.ListType(item_type=item) | mi.SetType(item_type=item) | mi.FrozenSetType(item_type=item):
            return _each(_plan(item, depth + 1))
        case mi.VarTupleType(item_type=item) | mi.DictType(value_type=item):
            return _each(_plan(item, depth + 1))
        case mi.UnionType(types=members):
            plans = [p for m in members if (p := _plan(m, depth)) is not None]
            if len(plans) > 1 and all(isinstance(p, _Fields) for p in plans):
                return _Fields({k: v for p in plans if isinstance(p, _Fields) for k, v in p.by_name.items()})
            return plans[0] if plans else None
        case _:
            return None


def _each(plan: _Plan | None) -> _Each | None:
    return _Each(plan) if plan is not None else None


def _check_decimals(value: Any, plan: _Plan, name: str) -> None:
    match plan:
        case DecimalRule():
            plan.check(value, name)
        case _Fields(by_name=fields) if isinstance(value, dict):
            for key, sub in fields.items():
                if key in value:
                    _check_decimals(value[key], sub, f"{name}.{key}" if name else key)
        case _Each(plan=sub) if isinstance(value, list | dict):
            for item in value.values() if isinstance(value, dict) else value:
                _check_decimals(item, sub, name or "an item")
        case _:
            pass  # another JSON type than the schema's: msgspec refuses it next


# ---- the tree walk --------------------------------------------------------------------


def _check_tree(value: Any) -> None:
    """Depth at most ``MAX_JSON_DEPTH`` and no NUL in any string or key: one pass, no recursion.

    Lone surrogates need no look: msgspec refuses them while decoding. Messages name the
    top-level field a bad value sits under, and only when it looks like one of our field
    names: a client's own keys are never echoed.
    """
    if type(value) is str:
        if "\x00" in value:
            raise text_error("text")
        return
    if type(value) is not dict and type(value) is not list:
        return
    stack: list[tuple[Any, int, str]] = [(value, 1, "")]
    while stack:
        node, level, field = stack.pop()
        if level > MAX_JSON_DEPTH:
            raise depth_error()
        if type(node) is dict:
            for key, item in node.items():
                if "\x00" in key:
                    raise text_error(f"{field} keys" if field else "object keys")
                name = field if level > 1 else (key if _FIELD_NAME.fullmatch(key) else "")
                kind = type(item)
                if kind is str:
                    if "\x00" in item:
                        raise text_error(name or "text")
                elif kind is dict or kind is list:
                    stack.append((item, level + 1, name))
        else:
            for item in node:
                kind = type(item)
                if kind is str:
                    if "\x00" in item:
                        raise text_error(field or "text")
                elif kind is dict or kind is list:
                    stack.append((item, level + 1, field))


def decode_json_body(body: bytes, plan: _Plan | None = None) -> Any:
    """The JSON value of ``body``, with depth, text and decimal rules checked (see the module doc)."""
    try:
        value = msgspec.json.decode(body)
    except RecursionError:  # nested deeper than the interpreter's limit: refused all the same
        raise depth_error() from None
    except msgspec.ValidationError:  # well-formed, but a number no float can hold (1e400)
        raise InvalidValueError("a JSON number is out of range") from None
    except msgspec.DecodeError as exc:
        if _LONE_SURROGATE_ESCAPE.search(body):
            raise text_error("text") from None
        raise ClientException(detail=f"the body is not valid JSON ({exc})"[:300]) from None
    except UnicodeDecodeError:
        raise ClientException(detail="the body is not valid JSON (it is not UTF-8)") from None
    _check_tree(value)
    if plan is not None:
        _check_decimals(value, plan, "")
    return value


class ScreenedRequest(Request[Any, Any, Any]):
    """The app's request class: its JSON body comes from the validated decode step."""

    __slots__ = ("_screened_json",)

    def __init__(self, scope: Scope, receive: Receive = empty_receive, send: Send = empty_send) -> None:
        super().__init__(scope, receive, send)
        self._screened_json: Any | EmptyType = Empty

    async def json(self) -> Any:
        if self._screened_json is Empty:
            data = self.route_handler.parsed_data_field
            plan = decimal_plan(data.annotation) if data is not None else None
            self._screened_json = decode_json_body(await self.body() or b"null", plan)
        return self._screened_json


async def screen_url_text(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """App-level guard: the text rule for the path (hence path parameters) and the query string."""
    if not is_storable_text(connection.scope["path"]):
        raise text_error("the path")
    for key, value in connection.query_params.multi_items():
        if not (is_storable_text(key) and is_storable_text(value)):
            raise text_error("a query parameter")
