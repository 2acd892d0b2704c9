"""The one place where exceptions become RFC 9457 problem+json responses.

Every error that reaches a client carries a stable ``code`` (API.md "Errors"); no stack
trace and no exception text from a library ever reaches a response. Every 5xx is logged
here, with the error's type and where it was raised, never its message (messages may
carry input).
"""

import traceback
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import msgspec
import structlog
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    NotAuthorizedException,
    NotFoundException,
    PermissionDeniedException,
    ValidationException,
)
from litestar.exceptions.http_exceptions import ClientException, MethodNotAllowedException
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from application.errors import LoginRateLimitedError, ProviderError
from domain.errors import DomainError

log = structlog.get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
UNEXPECTED = "an unexpected error occurred"  # the detail of every 500

PROBLEMS_PAGE = "/docs/problems"  # served by the app itself (entrypoints/http/controllers/docs.py)


@dataclass(frozen=True)
class ProblemKind:
    """One problem code: its status, its title, and what a client should do about it."""

    status: int
    title: str
    advice: str
    also: tuple[int, ...] = ()  # other statuses it comes with

    @property
    def statuses(self) -> tuple[int, ...]:
        return tuple(sorted({self.status, *self.also}))


# The one registry of problem codes: the handlers below answer with these, the page at
# PROBLEMS_PAGE and the OpenAPI document (entrypoints/http/openapi.py) list them.
PROBLEMS: dict[str, ProblemKind] = {
    "invalid_request": ProblemKind(
        422,
        "Invalid request",
        "Fix the request and send it again. 400: the JSON is malformed (or a provider refused the request "
        "itself, e.g. a context too long: the provider's message is in detail); 422: a field is missing, "
        "unknown, mistyped or out of its bounds (errors names it).",
        also=(400,),
    ),
    "unauthorized": ProblemKind(
        401,
        "Unauthorized",
        "Send the right credential as Authorization: Bearer ...: a team virtual key (sk-job-...) on the client "
        "API and /v1, an admin access token from POST /api/auth/login on the admin API. detail says which one "
        "the route needs. A revoked key or an expired token answers this too: get a new one.",
    ),
    "forbidden": ProblemKind(
        403,
        "Forbidden",
        "The credential is valid but its role may not do this (a viewer writing, an admin managing users). "
        "Ask an owner; retrying does not help.",
    ),
    "not_found": ProblemKind(
        404,
        "Not found",
        "The resource does not exist or the caller may not see it (another team's job, another organization). "
        "Check the id.",
    ),
    "no_history": ProblemKind(
        404,
        "No history",
        "Nothing to estimate from yet: the team has no finished job of that type. Finish some jobs first.",
    ),
    "conflict": ProblemKind(
        409,
        "Conflict",
        "The request clashes with the current state (a name already taken, a job already finished in another "
        "state, the first owner already created). Read the resource again before deciding.",
    ),
    "precondition_failed": ProblemKind(
        412,
        "Precondition failed",
        "The If-Match version is not the stored one: someone changed the resource since you read it. Read it "
        "again, re-apply your change, retry with the new ETag.",
    ),
    "insufficient_credits": ProblemKind(
        402,
        "Insufficient credits",
        "The team's available credits cannot cover the job or the call's hold. Add credits (an admin's "
        "POST /api/teams/{team_id}/credits) or lower max_tokens.",
    ),
    "team_suspended": ProblemKind(
        403,
        "Team suspended",
        "The team is suspended and may not start jobs or calls. An admin must resume it.",
    ),
    "model_not_allowed": ProblemKind(
        403,
        "Model not allowed",
        "The team's access groups do not contain this model alias. Use an alias the team may call "
        "(GET /v1/models lists them) or ask an admin to grant it.",
    ),
    "job_not_active": ProblemKind(
        409,
        "Job not active",
        "The job is finished (completed, failed, cancelled, expired) or closing: create a new job.",
    ),
    "job_call_limit": ProblemKind(
        409,
        "Job call limit reached",
        "The job has started as many calls as its team allows per job: finish it and start another.",
    ),
    "calls_in_flight": ProblemKind(
        409,
        "Calls in flight",
        "Some of the job's calls were still running when the completion stopped waiting. Retry the same "
        "completion shortly: it answers the final result once they settle.",
    ),
    "payload_too_large": ProblemKind(
        413,
        "Payload too large",
        "The body (default limit 1 MiB) or a value (job metadata over 16 KiB) is over its size bound. Send less.",
    ),
    "rate_limited": ProblemKind(
        429,
        "Rate limited",
        "Too many requests or tokens for now (the team's own limit, the provider's, or failed logins). Wait "
        "Retry-After seconds, then retry; with x-should-retry: false the request can never fit.",
    ),
    "provider_error": ProblemKind(
        502,
        "Provider error",
        "The model's provider failed after the gateway's retries (an error, quota, a malformed or cut answer). "
        "Retrying later may work; detail carries the provider's redacted message.",
    ),
    "provider_not_configured": ProblemKind(
        409,
        "Provider not configured",
        "The organization has no active credential for the alias's providers. An admin must add or activate "
        "one; nothing was held or sent.",
    ),
    "provider_timeout": ProblemKind(
        504,
        "Provider timeout",
        "The provider did not answer in time. Retry, possibly with a shorter request.",
    ),
    "unavailable": ProblemKind(
        503,
        "Service unavailable",
        "One of the gateway's own dependencies (the database) is down. Retry with backoff.",
    ),
    "unsupported_feature": ProblemKind(
        422,
        "Unsupported feature",
        "The request asks for something the gateway or the alias's provider cannot honour (n > 1, an image by "
        "URL on Gemini, ...). Drop the field named in detail (param on /v1).",
    ),
    "method_not_allowed": ProblemKind(
        405,
        "Method not allowed",
        "The path does not take this method: the Allow header lists those it takes.",
    ),
    "internal_error": ProblemKind(
        500,
        "Internal error",
        "A bug on the gateway's side; nothing of it is shown. Retry later and report the x-request-id header.",
    ),
}
STATUS_BY_CODE: dict[str, int] = {code: kind.status for code, kind in PROBLEMS.items()}


def problem_type(code: str) -> str:
    """The problem's ``type``: a relative URI reference to its entry on the page the service
    serves (RFC 9457 resolves it against the request's URI, so it works behind any host)."""
    return f"{PROBLEMS_PAGE}#{code}"


class Problem(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    title: str
    status: int
    detail: str
    code: str
    errors: list[dict[str, Any]] | None = None


def problem_response(
    code: str,
    detail: str,
    *,
    status: int | None = None,
    headers: dict[str, str] | None = None,
    errors: list[dict[str, Any]] | None = None,
) -> Response[bytes]:
    status = status or STATUS_BY_CODE.get(code, 400)
    problem = Problem(
        type=problem_type(code),
        title=PROBLEMS[code].title if code in PROBLEMS else "Error",
        status=status,
        detail=detail,
        code=code,
        errors=errors,
    )
    return Response(
        content=msgspec.json.encode(problem),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers or {},
    )


def domain_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, DomainError)
    headers: dict[str, str] = {}
    status = None
    if exc.code == "internal_error":  # a bug behind a port error (PersistenceError): nothing of it is shown
        _log_unexpected(request, exc, cause=getattr(exc, "cause", None))
        return problem_response("internal_error", UNEXPECTED, status=HTTP_500_INTERNAL_SERVER_ERROR)
    if exc.code == "unavailable":
        log.warning("dependency_unavailable", path=request.url.path, error_type=type(exc).__name__)
    if exc.code == "rate_limited" and isinstance(exc, ProviderError | LoginRateLimitedError):
        headers["Retry-After"] = str(max(1, round(exc.retry_after_s or 1)))
    if isinstance(exc, ProviderError) and exc.code == "invalid_request":
        status = 400  # the provider refused the request itself: a client error, not a schema one
    return problem_response(exc.code, exc.detail, status=status, headers=headers)


def validation_error_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, ValidationException)
    detail = str(exc.detail or "invalid request")
    extra = exc.extra if isinstance(exc.extra, list) else None
    # Litestar reports undecodable JSON and schema violations alike; tell them apart.
    malformed = "malformed" in detail.lower() or "json is malformed" in detail.lower()
    return problem_response("invalid_request", _safe_detail(detail), status=400 if malformed else 422, errors=extra)


def http_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, HTTPException)
    status = exc.status_code
    if status >= 500 and status != 503:
        _log_unexpected(request, exc)
    if isinstance(exc, NotFoundException):
        code = "not_found"
    elif isinstance(exc, NotAuthorizedException):
        code = "unauthorized"
    elif isinstance(exc, PermissionDeniedException):
        code = "forbidden"
    elif isinstance(exc, MethodNotAllowedException):
        code = "method_not_allowed"
    elif status == 413:
        code = "payload_too_large"
    elif status == 429:
        code = "rate_limited"
    elif status == 503:
        code = "unavailable"
    elif isinstance(exc, ClientException):
        code = "invalid_request"
    else:
        code = "internal_error"
    detail = _safe_detail(str(exc.detail)) if status < 500 else PROBLEMS[code].title
    headers = dict(exc.headers or {})
    return problem_response(code, detail, status=status, headers=headers)


def internal_error_handler(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    # The log gets the error's type and origin, the client a stable, detail-free 500.
    _log_unexpected(request, exc)
    return problem_response("internal_error", UNEXPECTED, status=HTTP_500_INTERNAL_SERVER_ERROR)


def _log_unexpected(request: Request[Any, Any, Any], exc: BaseException, *, cause: str | None = None) -> None:
    """One error line: the type, the cause's type and the frames it came from (file, line,
    function), never the message or the locals, which may hold a client's input."""
    frames = traceback.extract_tb(exc.__traceback__)[-3:]
    where = [f"{PurePath(f.filename).name}:{f.lineno} {f.name}" for f in frames]
    log.error(
        "unhandled_error",
        path=request.url.path,
        method=request.method,
        error_type=type(exc).__name__,
        cause=cause or (type(exc.__cause__).__name__ if exc.__cause__ is not None else None),
        where=where,
    )


def _safe_detail(detail: str) -> str:
    return detail[:500]


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    DomainError: domain_error_handler,
    ValidationException: validation_error_handler,
    HTTPException: http_error_handler,
    Exception: internal_error_handler,
}

__all__ = ["EXCEPTION_HANDLERS", "PROBLEMS", "PROBLEM_JSON", "MediaType", "problem_response"]
