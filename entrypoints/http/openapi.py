"""The OpenAPI document at ``/schema``, made to say what the server does.

Litestar generates the paths, bodies and 2xx answers from the handlers; this module adds,
in one place and without touching the controllers:

- every operation's error answers: ``application/problem+json`` (OpenAI's envelope,
  ``application/json``, under ``/v1``) with a body schema whose ``code`` lists the
  problem codes the operation can answer with at that status. The codes come from the
  registry of ``entrypoints/http/errors.py`` (``PROBLEMS``); which operation answers
  which is the table ``EXTRA_CODES`` below plus what the operation's shape implies (who
  authenticates, whether it takes a body, a path id, ``If-Match``);
- the answers Litestar cannot see: 200 for a reused ``external_id``, ``/metrics`` as
  Prometheus text, the ``If-Match`` header, the ``Allow`` header of 405;
- the field bounds the server checks in use cases rather than in the structs
  (``FIELD_RULES``), so a client generated from the schema sends what will be accepted;
- component names without module paths (Litestar names colliding or generic structs
  after their module: ``Page_entrypoints.http.schemas.admin.UserOut_`` → ``UserOutPage``);
- a Swagger UI page whose assets the service serves itself (``/docs/assets``): no CDN.
"""

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from litestar import Litestar
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.openapi.spec import (
    Components,
    OpenAPI,
    OpenAPIHeader,
    OpenAPIMediaType,
    OpenAPIResponse,
    OpenAPIType,
    Operation,
    Parameter,
    Reference,
    Schema,
    SecurityScheme,
)
from litestar.routes import HTTPRoute
from litestar.static_files import create_static_files_router

from application.services.admin_auth import MIN_PASSWORD_LENGTH
from entrypoints.http.dependencies import provide_admin, provide_admin_context, provide_caller, provide_principal
from entrypoints.http.errors import PROBLEM_JSON, PROBLEMS, PROBLEMS_PAGE

ASSETS = "/docs/assets"
_ASSETS_DIR = Path(__file__).parent / "static"

# ---- which operation answers which problem ---------------------------------------------

_CALL = (
    "insufficient_credits",
    "team_suspended",
    "model_not_allowed",
    "rate_limited",
    "provider_error",
    "provider_timeout",
    "provider_not_configured",
    "provider_not_offered",
    "unsupported_feature",
    "payload_too_large",
)
_IN_JOB = ("not_found", "job_not_active", "job_call_limit", "team_suspended")
_ADMIN_WRITE = ("conflict", "not_found")
_NAMES_PROVIDER = (*_ADMIN_WRITE, "provider_not_offered")  # the demo provider is refused in production

# What an operation answers besides what its shape implies (see ``_codes``).
EXTRA_CODES: dict[str, tuple[str, ...]] = {
    "POST /api/jobs/create": ("insufficient_credits", "team_suspended", "not_found"),
    "POST /api/jobs/{job_id}/llm-call": (*_CALL, *_IN_JOB),
    "POST /api/jobs/{job_id}/llm-call-stream": (*_CALL, *_IN_JOB),
    "POST /api/jobs/create-and-call": _CALL,
    "POST /api/jobs/create-and-call-stream": _CALL,
    "POST /api/jobs/{job_id}/complete": ("calls_in_flight", "conflict", "payload_too_large"),
    "PATCH /api/jobs/{job_id}/metadata": ("job_not_active", "payload_too_large"),
    "POST /api/quotes": ("model_not_allowed", "not_found"),
    "GET /api/teams/{team_id}/quote": ("no_history",),
    "POST /v1/chat/completions": (*_CALL, *_IN_JOB),
    "GET /v1/models/{model}": ("model_not_allowed",),
    "POST /api/auth/login": ("unauthorized", "rate_limited"),
    "POST /api/setup": ("conflict",),
    "POST /api/users/create": ("conflict", "not_found"),
    "PUT /api/users/{user_id}": ("conflict",),
    "DELETE /api/users/{user_id}": ("conflict",),
    "POST /api/organizations/create": ("conflict",),
    "PUT /api/organizations/{org_id}": ("conflict",),
    "DELETE /api/organizations/{org_id}": ("conflict",),
    "POST /api/teams/create": _ADMIN_WRITE,
    "PUT /api/teams/{team_id}": ("conflict",),
    "POST /api/teams/{team_id}/credits": ("insufficient_credits", "conflict"),
    "POST /api/provider-credentials/create": _NAMES_PROVIDER,
    "PUT /api/provider-credentials/{credential_id}": ("conflict", "provider_not_offered"),
    "PUT /api/provider-credentials/{credential_id}/activate": ("conflict",),
    "POST /api/models/create": _NAMES_PROVIDER,
    "PUT /api/models/{alias}": ("conflict", "provider_not_offered"),
    "DELETE /api/models/{alias}": ("conflict",),
    "POST /api/model-access-groups/create": _ADMIN_WRITE,
    "PUT /api/model-access-groups/{name}": ("conflict",),
    "DELETE /api/model-access-groups/{name}": ("conflict",),
    "POST /api/webhooks/create": _ADMIN_WRITE,
    "GET /api/teams/{team_id}/credits/transactions": (),
    "GET /api/analytics/job-types": ("not_found",),
    "GET /api/jobs/export.csv": ("not_found",),
    "GET /api/analytics/overview": ("not_found",),
    "GET /api/jobs": ("not_found",),
    "GET /api/teams": ("not_found",),
    "GET /api/webhooks": ("not_found",),
    "GET /api/audit-log": (),
}

# Conditional updates (entrypoints/http/preconditions.py): If-Match, 412 when it is stale.
CONDITIONAL = frozenset(
    {
        "PUT /api/organizations/{org_id}",
        "PUT /api/teams/{team_id}",
        "PUT /api/teams/{team_id}/suspend",
        "PUT /api/teams/{team_id}/resume",
        "PUT /api/models/{alias}",
        "PUT /api/model-access-groups/{name}",
        "PUT /api/provider-credentials/{credential_id}",
        "PUT /api/provider-credentials/{credential_id}/activate",
        "PUT /api/provider-credentials/{credential_id}/deactivate",
    }
)

# Server-sent events (entrypoints/http/sse.py, openai_sse.py; the format is in docs/api.md).
_JOB_EVENTS = (
    "text/event-stream: event: start {call_id, model, provider, ...}, event: delta {content} (zero or more), then "
    "event: done {call_id, finish_reason, usage, latency_ms, ttft_ms, ...} or event: error {code, detail, call_id}"
)
STREAMS: dict[str, str] = {
    "POST /api/jobs/{job_id}/llm-call-stream": _JOB_EVENTS,
    "POST /api/jobs/create-and-call-stream": f"{_JOB_EVENTS}; job_id in start, the job's costs and credits in done",
    "POST /v1/chat/completions": "with stream: true, chat.completion.chunk events ending with data: [DONE]",
}

# Routes that touch nothing that can be down.
_NO_DEPENDENCY = frozenset({"GET /health", f"GET {PROBLEMS_PAGE}", "GET /metrics"})


@dataclass(frozen=True)
class FieldRule:
    """Bounds a use case checks on a body field, said in the schema too."""

    component: str
    field: str
    bounds: dict[str, Any]


FIELD_RULES: tuple[FieldRule, ...] = (
    # application/services/admin_auth.py: check_password (login takes any non-empty one).
    FieldRule("CreateUserBody", "password", {"minLength": MIN_PASSWORD_LENGTH, "maxLength": 1024}),
    FieldRule("UpdateUserBody", "password", {"minLength": MIN_PASSWORD_LENGTH, "maxLength": 1024}),
    FieldRule("SetupBody", "password", {"minLength": MIN_PASSWORD_LENGTH, "maxLength": 1024}),
)
# POST /api/setup decodes a LoginBody but creates an owner, whose password has the
# owner's bounds: it gets a component of its own.
_OWN_BODIES = {"POST /api/setup": ("LoginBody", "SetupBody")}


def _caller(handler: HTTPRouteHandler) -> str | None:
    dependencies = handler.resolve_dependencies()
    kinds = {
        provide_principal: "team",
        provide_admin: "admin",
        provide_admin_context: "admin",
        provide_caller: "either",
    }
    for name in handler.parsed_fn_signature.parameters:
        provide = dependencies.get(name)
        if provide is not None and provide.dependency in kinds:
            return kinds[provide.dependency]
    return None


def _codes(key: str, handler: HTTPRouteHandler, path: str) -> set[str]:
    """The problem codes one operation can answer with."""
    codes = {"internal_error", "invalid_request"}  # every path and query is screened (inputs.py)
    if key not in _NO_DEPENDENCY:
        codes.add("unavailable")
    caller = _caller(handler)
    if caller is not None:
        codes.add("unauthorized")
    if caller in ("admin", "either"):
        codes |= {"forbidden", "not_found"} if "{" in path or handler.http_methods != {"GET"} else {"forbidden"}
    if "{" in path:
        codes.add("not_found")
    if "data" in handler.parsed_fn_signature.parameters:
        codes.add("payload_too_large")
    if key in CONDITIONAL:
        codes.add("precondition_failed")
    if key == "GET /metrics":
        codes.add("unauthorized")
    codes.update(EXTRA_CODES.get(key, ()))
    return codes


def _statuses(codes: Iterable[str], *, has_body: bool) -> dict[int, list[str]]:
    by_status: dict[int, list[str]] = {}
    for code in sorted(codes):
        kind = PROBLEMS[code]
        statuses = set(kind.statuses)
        if code == "invalid_request" and not has_body:
            statuses.discard(400)  # only a JSON body can be malformed (or refused by a provider)
        for status in statuses:
            by_status.setdefault(status, []).append(code)
    return by_status


# ---- the document ------------------------------------------------------------------


def openapi_config() -> OpenAPIConfig:
    return OpenAPIConfig(
        title="SaaS LLM gateway",
        version="0.1.0",
        path="/schema",
        description=(
            f"Errors are application/problem+json; every code, its status and what to do: {PROBLEMS_PAGE}. "
            "The contract in prose: docs/api.md."
        ),
        components=Components(
            security_schemes={
                "TeamKey": SecurityScheme(type="http", scheme="bearer", description="team virtual key"),
                "AdminJWT": SecurityScheme(type="http", scheme="bearer", bearer_format="JWT"),
            }
        ),
        render_plugins=[
            SwaggerRenderPlugin(
                path=["/", "/swagger"],
                js_url=f"{ASSETS}/swagger-ui/swagger-ui-bundle.js",
                css_url=f"{ASSETS}/swagger-ui/swagger-ui.css",
                standalone_preset_js_url=f"{ASSETS}/swagger-ui/swagger-ui-standalone-preset.js",
                favicon="",
            )
        ],
    )


def asset_routes() -> list[Any]:
    """The docs UI's vendored assets (Swagger UI, Apache-2.0: ``static/swagger-ui/LICENSE.txt``)."""
    return [create_static_files_router(path=ASSETS, directories=[_ASSETS_DIR], include_in_schema=False)]


def document(app: Litestar) -> OpenAPI:
    """Complete the app's OpenAPI document in place (built once, when the app is)."""
    openapi = app.openapi_schema
    schemas = openapi.components.schemas
    schemas["Problem"] = _problem_schema()
    handlers = dict(_operations(app))
    for path, item in (openapi.paths or {}).items():
        for method in ("get", "post", "put", "patch", "delete"):
            operation: Operation | None = getattr(item, method)
            if operation is None:
                continue
            key = f"{method.upper()} {path}"
            handler = handlers.get(key)
            if handler is None:
                continue
            _own_body(key, operation, schemas)
            _document_errors(key, path, operation, handler)
            _document_extras(key, operation)
    for rule in FIELD_RULES:
        schema = schemas[rule.component]
        assert schema.properties is not None, rule
        field = schema.properties[rule.field]
        assert isinstance(field, Schema), rule
        for name, value in rule.bounds.items():
            setattr(field, _SCHEMA_ATTRS[name], value)
    _clean_component_names(openapi)
    return openapi


_SCHEMA_ATTRS = {"minLength": "min_length", "maxLength": "max_length"}


def _operations(app: Litestar) -> Iterator[tuple[str, HTTPRouteHandler]]:
    for route in app.routes:
        if isinstance(route, HTTPRoute):
            for handler in route.route_handlers:
                if handler.resolve_include_in_schema():
                    for method in handler.http_methods:
                        yield f"{method} {route.path_format}", handler


def _problem_schema() -> Schema:
    text = Schema(type=OpenAPIType.STRING)
    return Schema(
        type=OpenAPIType.OBJECT,
        title="Problem",
        description=f"RFC 9457 problem details; every code is explained at {PROBLEMS_PAGE}",
        required=["type", "title", "status", "detail", "code"],
        properties={
            "type": Schema(
                type=OpenAPIType.STRING,
                format="uri-reference",  # type: ignore[arg-type]
                description=f"{PROBLEMS_PAGE}#<code>, relative to the service's address",
            ),
            "title": text,
            "status": Schema(type=OpenAPIType.INTEGER),
            "detail": Schema(type=OpenAPIType.STRING, description="for people; never a stack trace"),
            "code": Schema(type=OpenAPIType.STRING, enum=sorted(PROBLEMS), description="stable: branch on it"),
            "errors": Schema(
                type=OpenAPIType.ARRAY,
                items=Schema(type=OpenAPIType.OBJECT),
                description="on a schema violation: the fields at fault",
            ),
        },
    )


def _error_body(path: str, codes: list[str]) -> dict[str, OpenAPIMediaType]:
    code = Schema(type=OpenAPIType.STRING, enum=codes)
    if path.startswith("/v1"):  # OpenAI's error envelope (entrypoints/http/openai_errors.py)
        envelope = Schema(
            all_of=[
                Reference(ref="#/components/schemas/ErrorOut"),
                Schema(properties={"error": Schema(properties={"code": code})}),
            ]
        )
        return {"application/json": OpenAPIMediaType(schema=envelope)}
    problem = Schema(all_of=[Reference(ref="#/components/schemas/Problem"), Schema(properties={"code": code})])
    return {PROBLEM_JSON: OpenAPIMediaType(schema=problem)}


_RETRY_AFTER: dict[str, OpenAPIHeader | Reference] = {
    "Retry-After": OpenAPIHeader(schema=Schema(type=OpenAPIType.INTEGER), description="seconds to wait")
}


def _document_errors(key: str, path: str, operation: Operation, handler: HTTPRouteHandler) -> None:
    responses = operation.responses or {}
    has_body = "data" in handler.parsed_fn_signature.parameters
    for documented in [s for s in responses if s.startswith(("4", "5"))]:
        del responses[documented]  # Litestar's own 400 (its validation shape), a controller's guesses
    for status, codes in sorted(_statuses(_codes(key, handler, path), has_body=has_body).items()):
        titles = "; ".join(f"{code}: {PROBLEMS[code].title}" for code in codes)
        responses[str(status)] = OpenAPIResponse(
            description=f"{titles} (see {PROBLEMS_PAGE})",
            content=_error_body(path, codes),
            headers=_RETRY_AFTER if status == 429 else None,
        )
    operation.responses = responses


def _document_extras(key: str, operation: Operation) -> None:
    responses = operation.responses or {}
    if key == "POST /api/jobs/create":
        created = responses["201"]
        assert isinstance(created, OpenAPIResponse)
        responses["200"] = OpenAPIResponse(
            description="The job already created with this external_id (idempotent retry): nothing new",
            content=created.content,
        )
    if key == "GET /metrics":
        responses["200"] = OpenAPIResponse(
            description="Prometheus text exposition format",
            content={"text/plain": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))},
        )
    if key in STREAMS:
        answer = responses["200"]
        assert isinstance(answer, OpenAPIResponse)
        events = {"text/event-stream": OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING))}
        plain = {} if key.startswith("POST /api/jobs") else dict(answer.content or {})  # /v1: JSON unless stream
        answer.content = {**plain, **events}
        if not plain:  # /v1's own description already tells its stream
            answer.description = STREAMS[key]
    if key in CONDITIONAL:
        operation.parameters = [
            *(operation.parameters or []),
            Parameter(
                name="If-Match",
                param_in="header",
                required=False,
                description='the ETag as read ("3") or *: 412 precondition_failed when the resource changed since',
                schema=Schema(type=OpenAPIType.STRING),
            ),
        ]


def _own_body(key: str, operation: Operation, schemas: dict[str, Schema]) -> None:
    if key not in _OWN_BODIES or operation.request_body is None:
        return
    shared, own = _OWN_BODIES[key]
    original = schemas[shared]
    schemas[own] = Schema(
        type=original.type,
        required=original.required,
        title=own,
        properties={name: _copy(prop) for name, prop in (original.properties or {}).items()},
    )
    body = operation.request_body
    assert not isinstance(body, Reference)
    for media in body.content.values():
        media.schema = Reference(ref=f"#/components/schemas/{own}")


def _copy(schema: Schema | Reference) -> Schema | Reference:
    if isinstance(schema, Schema):
        return Schema(**{k: v for k, v in vars(schema).items()})
    return schema


# ---- component names -----------------------------------------------------------------

_GENERIC = re.compile(r"^(?P<outer>\w+?)_(?:\w+\.)+(?P<inner>\w+)_$")  # Page_entrypoints.http.schemas.x.UserOut_
_MODULE_PREFIX = re.compile(r"^(?P<module>[a-z][a-z0-9]*)_(?P<name>[A-Z]\w*)$")  # chat_TextPart


def clean_name(name: str) -> str:
    """A component name without the module path Litestar adds on collisions."""
    if generic := _GENERIC.match(name):
        return f"{generic['inner']}{generic['outer']}"
    if prefixed := _MODULE_PREFIX.match(name):
        return f"{prefixed['module'].capitalize()}{prefixed['name']}"
    return name


def _clean_component_names(openapi: OpenAPI) -> None:
    schemas = openapi.components.schemas
    renamed = {name: clean_name(name) for name in schemas if clean_name(name) != name}
    if not renamed:
        return
    clashes = set(renamed.values()) & (set(schemas) - set(renamed))
    assert not clashes and len(set(renamed.values())) == len(renamed), clashes
    for old, new in renamed.items():
        schema = schemas.pop(old)
        if isinstance(schema, Schema) and schema.title == old:
            schema.title = new
        schemas[new] = schema
    refs = {f"#/components/schemas/{old}": f"#/components/schemas/{new}" for old, new in renamed.items()}
    seen: set[int] = set()
    for value in [openapi.paths, schemas]:
        _rename_refs(value, refs, seen)


def _rename_refs(value: object, refs: dict[str, str], seen: set[int]) -> None:
    if id(value) in seen or isinstance(value, str | int | float | bool) or value is None:
        return
    seen.add(id(value))
    if isinstance(value, Reference):
        value.ref = refs.get(value.ref, value.ref)
        return
    if isinstance(value, dict):
        for item in value.values():
            _rename_refs(item, refs, seen)
    elif isinstance(value, list | tuple):
        for item in value:
            _rename_refs(item, refs, seen)
    elif hasattr(value, "__dataclass_fields__"):
        for name in value.__dataclass_fields__:
            _rename_refs(getattr(value, name), refs, seen)
