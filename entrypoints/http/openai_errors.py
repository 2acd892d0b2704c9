"""Errors on ``/v1`` in OpenAI's shape: ``{"error": {"message", "type", "code", "param"}}``.

Each handler runs the service's own mapper (``entrypoints/http/errors.py``) and only
re-wraps its answer, so an error on ``/v1`` has exactly the status code, headers
(``Retry-After``, ``X-RateLimit-*``) and stable ``code`` it has on the job API; the
``openai`` SDK then raises the exception class of that status.
"""

import re
from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from litestar import MediaType, Request, Response

from entrypoints.http.schemas.openai import ErrorDetail, ErrorOut

Handler = Callable[[Request[Any, Any, Any], Exception], Response[Any]]

# OpenAI's error types where it has one for the status; ours otherwise.
_TYPES = {
    401: "authentication_error",
    402: "insufficient_quota",
    403: "permission_error",
    404: "not_found_error",
    409: "conflict_error",
    429: "rate_limit_error",
}
_UNKNOWN_FIELD = re.compile(r"unknown field `([^`]+)`")
_encoder = msgspec.json.Encoder()


def error_type(status: int) -> str:
    return _TYPES.get(status) or ("server_error" if status >= 500 else "invalid_request_error")


def openai_error(
    status: int, code: str, message: str, *, param: str | None = None, headers: Mapping[str, str] | None = None
) -> Response[bytes]:
    body = ErrorOut(error=ErrorDetail(message=message, type=error_type(status), code=code, param=param))
    out = dict(headers or {})
    if status == 409:
        # A finished job stays finished, a job's call limit stays reached: the SDK's
        # automatic retry of a 409 could only fail again.
        out["x-should-retry"] = "false"
    return Response(content=_encoder.encode(body), status_code=status, media_type=MediaType.JSON, headers=out)


def in_openai_shape(handler: Handler) -> Handler:
    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
        problem = handler(request, exc)
        decoded = msgspec.json.decode(problem.content) if isinstance(problem.content, bytes) else {}
        fields = decoded if isinstance(decoded, dict) else {}
        headers = {k: v for k, v in problem.headers.items() if k.lower() not in ("content-type", "content-length")}
        return openai_error(
            problem.status_code or 500,
            str(fields.get("code") or "internal_error"),
            _message(fields),
            param=_param(exc, fields),
            headers=headers,
        )

    return handle


def _first_error(problem: Mapping[str, Any]) -> tuple[str | None, str]:
    """(field, message) of a schema violation's first error; (None, "") when there is none."""
    for error in problem.get("errors") or []:
        if isinstance(error, dict):
            key, message = error.get("key"), str(error.get("message", ""))
            unknown = _UNKNOWN_FIELD.search(message)
            if unknown:  # reported against the whole body: name the field itself
                return unknown.group(1), message
            return (key if isinstance(key, str) and key and key != "data" else None), message
    return None, ""


def _message(problem: Mapping[str, Any]) -> str:
    field, message = _first_error(problem)
    if message:
        return f"{field}: {message}" if field and field not in message else message
    return str(problem.get("detail") or "error")


def _param(exc: Exception, problem: Mapping[str, Any]) -> str | None:
    """The request field the error is about, when it is known."""
    param = getattr(exc, "param", None)
    return param if isinstance(param, str) else _first_error(problem)[0]


def openai_exception_handlers(handlers: Mapping[type[Exception] | int, Handler]) -> dict[type[Exception] | int, Any]:
    """The same keys as the service's handlers (so they win on ``/v1`` whatever the
    exception's class), each answering in OpenAI's shape."""
    return {key: in_openai_shape(handler) for key, handler in handlers.items()}
