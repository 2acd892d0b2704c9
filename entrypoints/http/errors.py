"""The one place where exceptions become RFC 9457 problem+json responses.

Every error that reaches a client carries a stable ``code`` (API.md "Errors"); no stack
trace and no exception text from a library ever reaches a response. Every 5xx is logged
here, with the error's type and where it was raised, never its message (messages may
carry input).
"""

import traceback
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

STATUS_BY_CODE: dict[str, int] = {
    "invalid_request": 422,
    "unauthorized": 401,
    "forbidden": 403,
    "not_found": 404,
    "no_history": 404,
    "conflict": 409,
    "precondition_failed": 412,
    "insufficient_credits": 402,
    "team_suspended": 403,
    "model_not_allowed": 403,
    "job_not_active": 409,
    "job_call_limit": 409,
    "calls_in_flight": 409,
    "payload_too_large": 413,
    "rate_limited": 429,
    "provider_error": 502,
    "provider_not_configured": 409,
    "provider_not_offered": 422,
    "provider_timeout": 504,
    "unavailable": 503,
    "unsupported_feature": 422,
    "method_not_allowed": 405,
    "internal_error": 500,
}

TITLES: dict[str, str] = {
    "invalid_request": "Invalid request",
    "unauthorized": "Unauthorized",
    "forbidden": "Forbidden",
    "not_found": "Not found",
    "no_history": "No history",
    "conflict": "Conflict",
    "precondition_failed": "Precondition failed",
    "insufficient_credits": "Insufficient credits",
    "team_suspended": "Team suspended",
    "model_not_allowed": "Model not allowed",
    "job_not_active": "Job not active",
    "job_call_limit": "Job call limit reached",
    "calls_in_flight": "Calls in flight",
    "payload_too_large": "Payload too large",
    "rate_limited": "Rate limited",
    "provider_error": "Provider error",
    "provider_not_configured": "Provider not configured",
    "provider_not_offered": "Provider not offered",
    "provider_timeout": "Provider timeout",
    "unavailable": "Service unavailable",
    "unsupported_feature": "Unsupported feature",
    "method_not_allowed": "Method not allowed",
    "internal_error": "Internal error",
}


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
        type=f"https://docs.saasllm.dev/problems/{code}",
        title=TITLES.get(code, "Error"),
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
    detail = _safe_detail(str(exc.detail)) if status < 500 else TITLES[code]
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

__all__ = ["EXCEPTION_HANDLERS", "PROBLEM_JSON", "MediaType", "problem_response"]
