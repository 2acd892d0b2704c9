"""Errors under ``/admin`` as pages, not problem+json: the panel router's exception handlers.

The JSON API keeps the one mapper of ``entrypoints/http/errors.py``; the codes and their
statuses are the same, only the body is an HTML page a person can read. A missing or
expired session is not an error page but a redirect to the login (or, on first run, to
the setup page).
"""

from typing import Any

import structlog
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, PermissionDeniedException
from litestar.response import Redirect

from domain.errors import DomainError
from entrypoints.http.admin.pages import NO_STORE, client_redirect, is_htmx, page
from entrypoints.http.admin.session import PANEL, LoginRequired, expired_cookie, login_url
from entrypoints.http.errors import STATUS_BY_CODE

log = structlog.get_logger(__name__)

CSRF_REFUSED = (
    "This form could not be accepted: its security token is missing or stale. Reload the page and submit it again."
)
HEADLINES = {
    401: "Sign in required",
    403: "Not allowed",
    404: "Not found",
    409: "Conflict",
    412: "Changed meanwhile",
    429: "Too many requests",
    503: "Service unavailable",
}


def login_required(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, LoginRequired)
    url = f"{PANEL}/setup" if exc.setup else login_url(exc.next_path, expired=exc.expired)
    response: Response[Any] = (
        client_redirect(url) if is_htmx(request) else Redirect(path=url, status_code=303, headers=NO_STORE)
    )
    if exc.expired:
        response.set_cookie(expired_cookie(request))
    return response


def _error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    admin = request.scope.get("state", {}).get("panel_admin")
    return page(
        "error.html",
        admin,
        request,
        status=status,
        headline=HEADLINES.get(status, "Something went wrong" if status >= 500 else "Not accepted"),
        message=message,
    )


def domain_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, DomainError)
    return _error_page(request, STATUS_BY_CODE.get(exc.code, 400), exc.detail)


def http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    assert isinstance(exc, HTTPException)
    if isinstance(exc, PermissionDeniedException):
        return _error_page(request, 403, CSRF_REFUSED)
    if isinstance(exc, NotFoundException):
        return _error_page(request, 404, "There is no such page.")
    status = exc.status_code
    return _error_page(request, status, str(exc.detail)[:300] if status < 500 else "The request failed.")


def internal_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.error("panel_error", path=request.url.path, error_type=type(exc).__name__, exc_info=exc)
    return _error_page(request, 500, "An unexpected error occurred; it has been logged.")


EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    LoginRequired: login_required,
    DomainError: domain_error,
    HTTPException: http_error,
    Exception: internal_error,
}
