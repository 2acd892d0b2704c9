"""The validated decode step on its own: the cheap pre-checks never let a violation through,
decimal rules are found in every body type, and the rules themselves."""

import json
from pathlib import Path
from typing import Any

import msgspec.inspect as mi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from litestar.exceptions import ClientException

from domain.errors import InvalidValueError
from entrypoints.http.app import create_app
from entrypoints.http.dependencies import authenticator_for
from entrypoints.http.inputs import MAX_JSON_DEPTH, decimal_plan, decode_json_body
from entrypoints.http.schemas.amounts import CREDITS_PER_USD, PRICE_PER_MILLION, RULE_KEY, SIGNED_CREDITS
from entrypoints.http.schemas.tenants import CreditsBody
from entrypoints.runtime import open_memory_runtime
from entrypoints.settings import load_settings

# Text that may hold NUL and lone surrogates, as JSON strings and object keys.
texts = st.text(st.characters() | st.sampled_from(["\x00", "\ud800", "\udbff", "\udc00", "\udfff"]), max_size=8)
trees = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=40,
)


def depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in [k, *strings(v)]]
    return []


def unstorable(text: str) -> bool:
    return "\x00" in text or any(0xD800 <= ord(c) <= 0xDFFF for c in text)


def wrap(value: Any, levels: int) -> Any:
    for _ in range(levels):
        value = [value]
    return value


@settings(max_examples=300)
@given(tree=trees, extra_levels=st.integers(0, 40), ascii_only=st.booleans())
def test_a_body_is_refused_exactly_when_it_breaks_the_depth_or_text_rule(
    tree: Any, extra_levels: int, ascii_only: bool
) -> None:
    value = wrap(tree, extra_levels)
    text = json.dumps(value, ensure_ascii=ascii_only)
    body = text.encode("utf-8", errors="surrogatepass")  # raw surrogates: not UTF-8, refused as malformed
    breaks = depth(value) > MAX_JSON_DEPTH or any(unstorable(s) for s in strings(value))
    try:
        decoded = decode_json_body(body)
    except (InvalidValueError, ClientException):
        assert breaks
    else:
        assert not breaks and decoded == value


@pytest.mark.parametrize(
    ("body", "refused"),
    [
        (b'"\\ud83d\\ude00"', False),  # a pair is one character
        (b'"\\\\ud800"', False),  # an escaped backslash, then plain text
        (b'"\\\\\\ud800"', True),  # an escaped backslash, then a lone surrogate
        (b'"\\ude00\\ud83d"', True),  # low before high
        (b'"x\\\\u0000"', False),
        (b'{"\\u0000": 1}', True),
    ],
)
def test_escapes_are_judged_by_what_they_decode_to(body: bytes, refused: bool) -> None:
    if refused:
        with pytest.raises(InvalidValueError):
            decode_json_body(body)
    else:
        decode_json_body(body)


def test_depth_counts_the_body_itself_as_one_level() -> None:
    decode_json_body(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)
    for levels in (MAX_JSON_DEPTH + 1, 5_000, 200_000):  # far beyond any recursion limit, too
        with pytest.raises(InvalidValueError, match="nested more than"):
            decode_json_body(b"[" * levels + b"]" * levels)


def test_malformed_json_is_a_400_and_an_unrepresentable_number_a_422() -> None:
    for body in (b"{bad", b'{"a": 1', b"\xff", b'"\xed\xa0\x80"'):
        with pytest.raises(ClientException):
            decode_json_body(body)
    with pytest.raises(InvalidValueError, match="out of range"):
        decode_json_body(b'{"amount": 1e400}')


@pytest.mark.parametrize(
    ("rule", "accepted", "refused"),
    [
        (
            SIGNED_CREDITS,
            ["0", "-0.5", "10.123456", "1000000000000", "-1000000000000", 5, -5],
            ["1e3", "0.0000001", "1000000000000.000001", "NaN", "Infinity", "1_000", "\uff15", " 5", "+5", ".5",
             "5.", "", "0x10", 2.5, True, 10**40, -(10**40)],
        ),
        (
            PRICE_PER_MILLION,
            ["0", "0.000000001", "1000000", "2.5"],
            ["-1", "0.0000000001", "1000000.000000001", "1e6", "-0.5", -1],
        ),
        (CREDITS_PER_USD, ["0.000001", "10", "1000000000"], ["0", "-1", "1000000000.000001", "0.0000001", 0]),
    ],
)  # fmt: skip
def test_decimal_rules_accept_plain_notation_within_bounds_only(
    rule: Any, accepted: list[Any], refused: list[Any]
) -> None:
    for value in accepted:
        rule.check(value, "x")
    for value in refused:
        with pytest.raises(InvalidValueError):
            rule.check(value, "x")


def test_decimal_fields_are_checked_on_their_raw_json_value() -> None:
    plan = decimal_plan(CreditsBody)
    assert decode_json_body(b'{"amount": "1.5", "reason": "1e5"}', plan) == {"amount": "1.5", "reason": "1e5"}
    with pytest.raises(InvalidValueError, match="amount"):
        decode_json_body(b'{"amount": "1e5"}', plan)


def decimals_without_rule(info: mi.Type, seen: set[int]) -> list[str]:
    if id(info) in seen:
        return []
    seen.add(id(info))
    match info:
        case mi.Metadata(type=mi.DecimalType(), extra=extra) if RULE_KEY in (extra or {}):
            return []
        case mi.DecimalType():
            return ["Decimal"]
        case mi.Metadata(type=inner):
            return decimals_without_rule(inner, seen)
        case mi.StructType(fields=fields):
            return [f"{f.name}: {d}" for f in fields for d in decimals_without_rule(f.type, seen)]
        case mi.UnionType(types=members):
            return [d for m in members for d in decimals_without_rule(m, seen)]
        case mi.ListType(item_type=item) | mi.DictType(value_type=item):
            return decimals_without_rule(item, seen)
        case _:
            return []


def test_every_decimal_field_of_every_request_body_declares_its_rule(tmp_path: Path) -> None:
    app = create_app(load_settings({"DATA_DIR": str(tmp_path)}), runtime=open_memory_runtime)
    bodies = {
        handler.parsed_data_field.annotation
        for route in app.routes
        for handler in getattr(route, "route_handlers", [])
        if handler.parsed_data_field is not None
    }
    assert len(bodies) > 15
    missing = {str(body): found for body in bodies if (found := decimals_without_rule(mi.type_info(body), set()))}
    assert missing == {}


def test_every_secured_route_authenticates_before_it_reads_its_input(tmp_path: Path) -> None:
    app = create_app(load_settings({"DATA_DIR": str(tmp_path)}), runtime=open_memory_runtime)
    handlers = [
        (route.path, h)
        for route in app.routes
        for h in getattr(route, "route_handlers", [])
        if h.http_methods != {"OPTIONS"}
    ]
    secured = [(path, h) for path, h in handlers if h.resolve_security()]
    assert len(secured) > 40
    assert [path for path, h in secured if authenticator_for(h) is None] == []
    # and the open routes are the ones meant to be open
    open_api = {path for path, h in handlers if authenticator_for(h) is None and path.startswith("/api/")}
    assert open_api == {"/api/auth/login", "/api/setup", "/api/setup/status"}
