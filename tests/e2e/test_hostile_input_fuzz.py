"""Hostile values into every input of every endpoint, over real HTTP.

The endpoints, their parameters and body fields come from the app's own OpenAPI schema
(``/schema/openapi.json``), so a new endpoint is covered the day it is added. Each
request carries the credential its route asks for (the team key for client routes, the
owner's token for admin routes) around one value that is invalid wherever it is put: text
with NUL or a lone surrogate, 1 MiB strings, JSON nested thousands deep, numbers beyond
any float, NaN, exponents, odd unicode digits, out-of-range days. Every answer must be a
4xx problem document with a ``code`` that names no driver class and holds no secret, and
nothing may change: the team's credits and ledger, its job, and the audit log (every
admin write appends to it) are compared after each request.
"""

import asyncio
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.budgets import BudgetMode
from tests.e2e.admin_helpers import setup_owner
from tests.e2e.conftest import Server

DRIVER_WORDS = (
    "psycopg",
    "DataError",
    "UntranslatableCharacter",
    "CharacterNotInRepertoire",
    "NumericValueOutOfRange",
    "DatetimeFieldOverflow",
    "RecursionError",
    "OverflowError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "InvalidOperation",
    "Traceback",
)
MIB = 1 << 20


@dataclass(frozen=True)
class Raw:
    """A JSON text put into the body as it is (what ``json.dumps`` cannot or should not make)."""

    text: bytes


# ---- the endpoints, from the OpenAPI schema ------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    template: str
    auth: str | None  # "team", "admin" or None
    path_params: dict[str, dict[str, Any]]
    query_params: dict[str, dict[str, Any]]
    body: dict[str, Any] | None

    def __str__(self) -> str:
        return f"{self.method} {self.template} as {self.auth}"


@dataclass(frozen=True)
class Target:
    operation: Operation
    where: str  # "path", "query", "body" (``at`` is a path into it; () is the body itself)
    at: tuple[str | int, ...]
    kind: str

    def __str__(self) -> str:
        return f"{self.operation} {self.where}{list(self.at)} ({self.kind})"


class Schema:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        self.components = document.get("components", {}).get("schemas", {})

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        """The schema itself: references followed, ``X | None`` taken as ``X``."""
        while True:
            if "$ref" in schema:
                schema = self.components[schema["$ref"].rsplit("/", 1)[-1]]
            elif "oneOf" in schema or "anyOf" in schema:
                members = [m for m in schema.get("oneOf", schema.get("anyOf", [])) if m.get("type") != "null"]
                extra = {k: v for k, v in schema.items() if k not in ("oneOf", "anyOf")}
                schema = {**self.resolve(members[0]), **extra} if members else {}
            else:
                return schema

    def kind(self, schema: dict[str, Any]) -> str:
        s = self.resolve(schema)
        if s.get("format") == "decimal":
            return "decimal"
        if "enum" in s:
            return "enum"
        match s.get("type"):
            case "string":
                return {"uuid": "uuid", "date": "date", "date-time": "date"}.get(s.get("format", ""), "text")
            case "integer" | "number" | "boolean" | "array":
                return str(s["type"])
            case "object":
                return "struct" if s.get("properties") else "object"
            case _:
                return "text"  # an untyped path segment (alias names)

    def operations(self) -> Iterator[Operation]:
        for template, methods in self.document["paths"].items():
            for method, op in methods.items():
                schemes = {name for requirement in op.get("security") or [] for name in requirement}
                params = op.get("parameters", [])
                content = (op.get("requestBody") or {}).get("content", {}).get("application/json")
                body = self.resolve(content["schema"]) if content else None
                kinds = (["team"] if "TeamKey" in schemes else []) + (["admin"] if "AdminJWT" in schemes else [])
                for auth in kinds or [None]:
                    yield Operation(
                        method=method.upper(),
                        template=template,
                        auth=auth,
                        path_params={p["name"]: p.get("schema", {}) for p in params if p["in"] == "path"},
                        query_params={p["name"]: p.get("schema", {}) for p in params if p["in"] == "query"},
                        body=body,
                    )

    def targets(self) -> Iterator[Target]:
        for op in self.operations():
            for name, schema in op.path_params.items():
                yield Target(op, "path", (name,), self.kind(schema))
            for name, schema in op.query_params.items():
                yield Target(op, "query", (name,), self.kind(schema))
            if op.body is not None:
                yield Target(op, "body", (), "body")
                yield from self._fields(op, op.body, ())

    def _fields(self, op: Operation, schema: dict[str, Any], at: tuple[str | int, ...]) -> Iterator[Target]:
        s = self.resolve(schema)
        kind = self.kind(s)
        if kind == "struct" and len(at) < 4:
            for name, sub in s["properties"].items():
                yield from self._fields(op, sub, (*at, name))
        elif kind == "array" and len(at) < 4 and self.kind(s.get("items", {})) == "struct":
            yield Target(op, "body", at, "array")
            yield from self._fields(op, s["items"], (*at, 0))
        elif at:
            yield Target(op, "body", at, kind)


# ---- valid values around the hostile one ------------------------------------------------


@dataclass
class World:
    server: Server
    schema: Schema
    owner: str
    team_id: str
    team_key: str
    job_id: str
    ids: dict[str, str] = field(default_factory=dict)

    def sample(self, schema: dict[str, Any], name: str = "") -> Any:
        s = self.schema.resolve(schema)
        match self.schema.kind(s):
            case "decimal":
                return "1"
            case "uuid":
                return self.ids.get(name, str(uuid.uuid4()))
            case "date":
                return "2024-01-01"
            case "enum":
                return s["enum"][0]
            case "integer" | "number":
                return s.get("minimum", 1)
            case "boolean":
                return True
            case "object":
                return {}
            case "array":
                return [self.sample(s.get("items", {}), name) for _ in range(int(s.get("minItems", 0)))]
            case "struct":
                return {k: self.sample(v, k) for k, v in s["properties"].items() if k in s.get("required", [])}
            case _:
                if "email" in name:
                    return "someone@example.com"
                if name in ("url", "api_base"):
                    return "https://example.com/hook"
                return {"alias": "smart", "name": "standard", "model": "smart"}.get(name, "x")

    def body_with(self, target: Target, hostile: Any) -> bytes:
        op = target.operation
        assert op.body is not None
        if not target.at:
            return encode(hostile)
        body = self.sample(op.body)
        node, schema = body, op.body
        for key, nxt in zip(target.at, (*target.at[1:], None), strict=True):
            s = self.schema.resolve(schema)
            schema = s["items"] if isinstance(key, int) else s["properties"][str(key)]
            if nxt is None:
                node[key] = PLACEHOLDER
            else:
                if isinstance(key, int):
                    while len(node) <= key:
                        node.append(self.sample(schema))
                elif key not in node:
                    node[key] = self.sample(schema, str(key))
                node = node[key]
        return json.dumps(body).encode().replace(json.dumps(PLACEHOLDER).encode(), encode(hostile))

    def request(self, target: Target, hostile: Any, *, anonymous: bool) -> httpx.Request:
        op = target.operation
        path = op.template
        for name, schema in op.path_params.items():
            value = hostile if target.where == "path" and target.at == (name,) else self.sample(schema, name)
            path = path.replace("{" + name + "}", url_text(value))
        query = ""
        if target.where == "query":
            query = "?" + url_text(target.at[0]) + "=" + url_text(hostile)
        content = self.body_with(target, hostile) if target.where == "body" else None
        if content is None and op.body is not None:
            content = json.dumps(self.sample(op.body)).encode()
        headers = {"content-type": "application/json"}
        token = {"team": self.team_key, "admin": self.owner}.get(op.auth or "")
        if token and not anonymous:
            headers["authorization"] = f"Bearer {token}"
        return httpx.Request(op.method, self.server.url + path + query, content=content, headers=headers)

    def secrets(self) -> list[str]:
        settings_ = self.server.settings
        return [self.owner, self.team_key, "sk-upstream-secret-9876", settings_.jwt_secret, *settings_.fernet_keys]

    def snapshot(self, http: httpx.Client) -> list[Any]:
        team = {"authorization": f"Bearer {self.team_key}"}
        owner = {"authorization": f"Bearer {self.owner}"}
        reads = [
            http.get(f"/api/teams/{self.team_id}/credits", headers=team),
            http.get(f"/api/teams/{self.team_id}/credits/transactions", headers=team),
            http.get(f"/api/jobs/{self.job_id}", headers=team),
            http.get(f"/api/teams/{self.team_id}/jobs", headers=team),
            http.get("/api/audit-log", params={"limit": 1}, headers=owner),
        ]
        assert all(r.status_code == 200 for r in reads), [r.text for r in reads]
        return [r.json() for r in reads]


PLACEHOLDER = "\x01hostile\x01"


def encode(value: Any) -> bytes:
    return value.text if isinstance(value, Raw) else json.dumps(value).encode()


def url_text(value: Any) -> str:
    if isinstance(value, Raw):
        value = value.text.decode("utf-8", "surrogatepass")
    text = value if isinstance(value, str) else json.dumps(value)
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def check(world: World, target: Target, hostile: Any, response: httpx.Response, *, anonymous: bool) -> None:
    where = f"{target} <- {repr(hostile)[:80]}: {response.status_code} {response.text[:300]!r}"
    assert 400 <= response.status_code < 500, where
    if target.operation.template.startswith("/v1/"):  # the OpenAI-compatible surface answers in OpenAI's shape
        assert isinstance(response.json().get("error"), dict), where
    else:
        assert response.headers["content-type"].startswith("application/problem+json"), where
        problem = response.json()
        assert isinstance(problem.get("code"), str) and problem.get("status") == response.status_code, where
    if anonymous:  # the caller is settled first; only a path the router cannot match answers before
        assert response.status_code == 401 or (target.where == "path" and response.status_code == 404), where
    assert not any(word in response.text for word in DRIVER_WORDS), where
    assert not any(secret and secret in response.text for secret in world.secrets()), where


# ---- hostile values, by the kind of input they go into ----------------------------------

BAD_CHARS = ["\x00", "\ud800", "\udbff", "\udc00", "\udfff"]
TEXTUAL = ["a\x00b", "\x00", "\ud800", "x\udfff", "\udbff\udbff", "\udc00\ud800"]
# A URL cannot carry a lone surrogate: its percent-encoded bytes are not UTF-8, and the
# server decodes them to U+FFFD, which is fine text. NUL it can carry.
URL_TEXTUAL = ["a\x00b", "\x00", "\x00" * 2000]
BODY_ANYWHERE = [Raw(b"[" * 40 + b"]" * 40), Raw(b"[" * 20_000 + b"]" * 20_000), Raw(b"1e400"),
                 Raw(b"-1e1000000"), Raw(json.dumps("x" * MIB).encode())]  # fmt: skip
NOT_A_NUMBER = ["NaN", "-Infinity", "\uff15", "\u0663", "1e1000000", "0x10", " 5 ", "1_000", Raw(b"1e400")]
BY_KIND: dict[str, list[Any]] = {
    "decimal": [*NOT_A_NUMBER, "1e3", "1e999999", "-99999999999999999", "0.00000000001", "+1", ".5", Raw(b"2.5"),
                Raw(b"1" + b"0" * 40), Raw(b"-1" + b"0" * 40), True],
    "integer": [*NOT_A_NUMBER, Raw(b"1" + b"0" * 40), Raw(b"-1" + b"0" * 40), Raw(b"2.5"), True],
    "number": [*NOT_A_NUMBER, Raw(b"1" + b"0" * 40), Raw(b"-1" + b"0" * 40), True],
    "boolean": ["yes", "\u0661", Raw(b"1" + b"0" * 40)],
    "uuid": ["not-a-uuid", "\u0663" * 32, Raw(b"1" + b"0" * 40)],
    "enum": ["\u0663", "not-a-member", Raw(b"1" + b"0" * 40)],
    "date": ["9999-12-31", "0001-01-01", "1969-12-31", "2024-02-30", "\u0662\u0660\u0662\u0664-01-01"],
    "object": [{"k\x00": 1}, {"k": "v\x00"}, {"\ud800": 1}, {"k": ["\udfff"]}],
    "array": [["\x00"], [{"\x00": 1}]],
    "body": [Raw(b"{bad"), Raw(b"[]"), Raw(b'"x"'), Raw(b"\xff"), {"\x00": 1}, Raw(b"{" * 40 + b"}" * 40)],
    "text": [],
    "struct": [],
}  # fmt: skip


def fixed_hostiles(target: Target) -> list[Any]:
    if target.where != "body":
        numbers_as_text = [v for v in BY_KIND.get(target.kind, []) if isinstance(v, str)]
        return [*URL_TEXTUAL, *numbers_as_text]
    if target.kind == "body":
        return BY_KIND["body"]
    return [*TEXTUAL, *BODY_ANYWHERE, *BY_KIND[target.kind]]


def hostile_strategy(target: Target) -> st.SearchStrategy[Any]:
    bad_char = st.sampled_from(BAD_CHARS) | st.integers(0xD800, 0xDFFF).map(chr)
    textual = st.builds(lambda a, c, b: a + c + b, st.text(max_size=12), bad_char, st.text(max_size=12))
    odd_digits = st.text(st.characters(categories=["Nd"]).filter(lambda c: not c.isascii()), min_size=1, max_size=6)
    huge_json = st.builds(lambda e: Raw(f"1e{e}".encode()), st.integers(309, 10**7))
    deep = st.integers(33, 5_000).map(lambda n: Raw(b"[" * n + b"]" * n))
    # Invalid for every numeric field we have (all are bounded): not a number, or far too big.
    not_numbers = st.one_of(
        odd_digits,
        st.sampled_from(["NaN", "nan", "sNaN", "-NaN", "Infinity", "-inf", "inf"]),
        st.integers(10**13, 10**40).map(lambda n: Raw(str(n).encode())),
        st.integers(10**13, 10**40).map(lambda n: f"-{n}"),
    )
    # Exponents are no plain decimal; integer and float fields take "1e3" as 1000 (within
    # their bounds), so those only get far too many decimal places.
    exponents = st.builds(lambda m, e: f"{m}e{e}", st.integers(-9, 9), st.integers(-(10**7), 10**7))
    over_precise = st.integers(10, 40).map(lambda places: "0." + "0" * places + "1")
    as_text = st.one_of(not_numbers, over_precise).filter(lambda v: isinstance(v, str))
    if target.where != "body":
        nul_text = st.builds(lambda a, b: a + "\x00" + b, st.text(max_size=12), st.text(max_size=12))
        return nul_text if target.kind == "text" else nul_text | as_text
    if target.kind == "body":
        return st.sampled_from(BY_KIND["body"]) | deep | textual.map(lambda key: {key: 1})
    anywhere = textual | deep | huge_json | st.sampled_from(BODY_ANYWHERE)
    match target.kind:
        case "decimal":
            return anywhere | not_numbers | exponents | over_precise
        case "integer":
            return anywhere | not_numbers | over_precise
        case "number":
            return anywhere | not_numbers
        case "object":
            return anywhere | textual.map(lambda key: {key: 1}) | textual.map(lambda value: {"k": [value]})
        case "array":
            return anywhere | textual.map(lambda value: [value])
        case "text" | "struct":
            return anywhere
        case _:  # uuid, enum, boolean
            return anywhere | as_text


# ---- the tests ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def world(server: Server) -> World:
    owner = await setup_owner(server)
    team, key = await server.team(BudgetMode.CONSUMPTION_USD)
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc", "metadata": {"n": 1}})).json()
        schema = Schema((await http.get("/schema/openapi.json")).json())
    world = World(server, schema, owner, str(team.id), key, job["job_id"])
    org = str(server.organization.id)
    world.ids.update(team_id=world.team_id, job_id=world.job_id, org_id=org, organization_id=org)
    return world


def in_thread(world: World, run: Callable[[httpx.Client], None]) -> Any:
    """Run blocking requests off the event loop, which serves them meanwhile."""

    def blocking() -> None:
        with httpx.Client(base_url=world.server.url, timeout=30) as http:
            run(http)

    return asyncio.to_thread(blocking)


async def test_the_schema_lists_every_kind_of_input(world: World) -> None:
    targets = list(world.schema.targets())
    operations = {str(t.operation) for t in targets}
    assert len(operations) > 40 and {"team", "admin", None} <= {t.operation.auth for t in targets}
    kinds = {t.kind for t in targets}
    assert {"text", "decimal", "integer", "number", "uuid", "enum", "date", "object", "array", "body"} <= kinds
    assert {t.where for t in targets} == {"path", "query", "body"}


async def test_every_input_of_every_endpoint_refuses_each_hostile_value(world: World) -> None:
    def sweep(http: httpx.Client) -> None:
        before = world.snapshot(http)
        by_operation: dict[str, list[Target]] = {}
        for target in world.schema.targets():
            by_operation.setdefault(str(target.operation), []).append(target)
        for targets in by_operation.values():
            for target in targets:
                for hostile in fixed_hostiles(target):
                    response = http.send(world.request(target, hostile, anonymous=False))
                    check(world, target, hostile, response, anonymous=False)
            assert world.snapshot(http) == before, targets[0].operation

    await in_thread(world, sweep)


async def test_random_hostile_values_never_reach_a_use_case(world: World) -> None:
    targets = sorted(world.schema.targets(), key=str)

    def fuzz(http: httpx.Client) -> None:
        before = world.snapshot(http)

        @settings(
            max_examples=150,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(data=st.data())
        def property_(data: st.DataObject) -> None:
            target = data.draw(st.sampled_from(targets), label="target")
            hostile = data.draw(hostile_strategy(target), label="hostile")
            anonymous = target.operation.auth is not None and data.draw(st.booleans(), label="anonymous")
            response = http.send(world.request(target, hostile, anonymous=anonymous))
            check(world, target, hostile, response, anonymous=anonymous)
            assert world.snapshot(http) == before, str(target)

        property_()

    await in_thread(world, fuzz)


# ---- tools and images: the fields the schema walk above cannot reach (unions, deep paths) --

GOOD_CALL = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
GOOD_TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
IMG = "https://a.example/a.png"


def tool_conversation(*, call: Any = GOOD_CALL, result: Any = None, user: Any = "hi") -> list[Any]:
    tool = result if result is not None else {"role": "tool", "tool_call_id": "call_1", "content": "42"}
    return [{"role": "user", "content": user}, {"role": "assistant", "content": None, "tool_calls": [call]}, tool]


def with_arguments(arguments: Any) -> list[Any]:
    return tool_conversation(call={**GOOD_CALL, "function": {"name": "f", "arguments": arguments}})


def with_image(url: Any) -> list[Any]:
    return tool_conversation(user=[{"type": "text", "text": "x"}, {"type": "image_url", "image_url": {"url": url}}])


HOSTILE_TOOL_BODIES: list[dict[str, Any]] = [
    # the arguments' JSON text: malformed, not an object, odd bytes inside, nested too deep
    *({"messages": with_arguments(a)} for a in ["{bad", "[1]", '"x"', "1e400", '{"k": "\\u0000"}', '{"k": "\\ud800"}',
                                                 "a\x00b", '{"a":' * 40 + "1" + "}" * 40, "{" * 5000, 7, None]),
    # a call's id and name
    *({"messages": tool_conversation(call={**GOOD_CALL, "id": i})} for i in ["", "x" * 300, "\x00", "\ud800", 5]),
    *({"messages": tool_conversation(call={**GOOD_CALL, "function": {"name": n, "arguments": "{}"}})}
      for n in ["", "a b", "x" * 65, "f\x00", "\udfff", "ünïcode"]),
    {"messages": tool_conversation(call={**GOOD_CALL, "type": "code"})},
    {"messages": tool_conversation(call={**GOOD_CALL, "extra": 1})},
    # tool results: no id, an id no call made, odd ids, on the wrong role
    {"messages": tool_conversation(result={"role": "tool", "content": "42"})},
    {"messages": tool_conversation(result={"role": "tool", "tool_call_id": "other", "content": "42"})},
    {"messages": tool_conversation(result={"role": "tool", "tool_call_id": "", "content": "42"})},
    {"messages": tool_conversation(result={"role": "tool", "tool_call_id": "c\x00", "content": "42"})},
    {"messages": [{"role": "user", "content": "x", "tool_calls": [GOOD_CALL]}]},
    {"messages": [{"role": "robot", "content": "x"}]},
    {"messages": [{"role": "\x00", "content": "x"}]},
    # images: schemes, data URIs that lie, odd bytes
    *({"messages": with_image(u)} for u in ["javascript:alert(1)", "file:///etc/passwd", "http://", "ftp://a/b.png",
                                            "https://a/\x00.png", "data:image/png;base64,", "data:image/png,raw",
                                            "data:image/png;base64,@@@@", "data:image/png;base64,R0lGODlhAQABAAAAACw=",
                                            "data:text/html;base64,PGI+", "https://a.example/" + "x" * 9000, "", 3]),
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": IMG, "detail": "ultra"}}]}]},
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": IMG}]}]},
    {"messages": [{"role": "user", "content": [{"type": "video_url", "video_url": {"url": IMG}}]}]},
    {"messages": [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": IMG}}]}]},
    # tool definitions and the choice
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": "object"}}]},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "array"}}}]},
    {"tools": [{"type": "function", "function": {"name": "f", "parameters": {"\x00": 1}}}]},
    {"tools": [{"type": "function", "function": {"name": "f", "description": "d" * 20_000}}]},
    {"tools": [{"type": "retrieval"}]},
    {"tools": GOOD_TOOLS * 2},
    {"tools": [{"type": "function", "function": {"name": f"f{i}"}} for i in range(129)]},
    {"tools": GOOD_TOOLS, "tool_choice": "maybe"},
    {"tools": GOOD_TOOLS, "tool_choice": {"type": "function"}},
    {"tools": GOOD_TOOLS, "tool_choice": {"type": "function", "function": {"name": "missing"}}},
    {"tool_choice": "required"},
    {"tools": GOOD_TOOLS, "parallel_tool_calls": "yes"},
]  # fmt: skip


async def test_hostile_tool_and_image_input_is_refused_on_both_surfaces(world: World) -> None:
    routes = [
        f"/api/jobs/{world.job_id}/llm-call",
        f"/api/jobs/{world.job_id}/llm-call-stream",
        "/api/jobs/create-and-call",
        "/api/jobs/create-and-call-stream",
        "/v1/chat/completions",
    ]
    team = {"authorization": f"Bearer {world.team_key}", "content-type": "application/json"}
    # The control: the same body, valid, is served (on another team, so the snapshot stays).
    from tests.support.fake_provider import Reply

    _, other_key = await world.server.team(BudgetMode.CONSUMPTION_USD)
    world.server.upstream.push(Reply())
    valid = {"model": "smart", "messages": with_image("https://a.example/a.png"), "tools": GOOD_TOOLS}
    async with world.server.client(other_key) as http:
        control = await http.post("/api/jobs/create-and-call", json={**valid, "job_type": "doc"})
    assert control.status_code == 200, control.text

    def sweep(http: httpx.Client) -> None:
        before = world.snapshot(http)
        for route in routes:
            for hostile in HOSTILE_TOOL_BODIES:
                body = {"model": "smart", "messages": [{"role": "user", "content": "hi"}], **hostile}
                if "create-and-call" in route:
                    body["job_type"] = "doc"
                content = json.dumps(body).encode("utf-8", "surrogatepass")
                response = http.post(route, content=content, headers=team)
                where = f"{route} <- {repr(hostile)[:120]}: {response.status_code} {response.text[:300]!r}"
                assert 400 <= response.status_code < 500, where
                if route.startswith("/v1/"):
                    assert isinstance(response.json().get("error"), dict), where
                else:
                    assert response.headers["content-type"].startswith("application/problem+json"), where
                    assert response.json().get("code") == "invalid_request", where
                assert not any(word in response.text for word in DRIVER_WORDS), where
        assert world.snapshot(http) == before

    await in_thread(world, sweep)
