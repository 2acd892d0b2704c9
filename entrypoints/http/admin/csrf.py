"""CSRF for the panel: every state-changing request under ``/admin`` carries a token.

Litestar's CSRF middleware (a signed double-submit token: a cookie, and the same token in
a hidden ``_csrf_token`` form field or the ``X-CSRFToken`` header htmx sends) is mounted
on the panel's router only. The JSON API under ``/api`` and ``/v1`` authenticates with
``Authorization: Bearer`` and never reads a cookie, so a forged cross-site request carries
no credential there: it has no CSRF check and needs none. The session cookie is
SameSite=Strict as well, so the token is the second of two defences, not the only one.
"""

import hashlib
import hmac

from litestar.config.csrf import CSRFConfig
from litestar.exceptions import PermissionDeniedException
from litestar.middleware.csrf import CSRFMiddleware
from litestar.types import Receive, Scope, Send

from entrypoints.http.admin.failures import http_error
from entrypoints.http.admin.session import PANEL
from entrypoints.settings import Settings

CSRF_COOKIE = "saasllm_csrf"
CSRF_HEADER = "x-csrftoken"


def csrf_config(settings: Settings) -> CSRFConfig:
    # The secret is derived from JWT_SECRET, so every instance accepts every other's tokens.
    secret = hmac.new(settings.jwt_secret.encode(), b"saasllm admin panel csrf", hashlib.sha256).hexdigest()
    return CSRFConfig(
        secret=secret,
        cookie_name=CSRF_COOKIE,
        cookie_path=PANEL,
        header_name=CSRF_HEADER,
        cookie_secure=settings.is_production,
        cookie_httponly=True,  # pages embed the token; no script needs the cookie
        cookie_samesite="strict",
    )


class PanelCSRFMiddleware(CSRFMiddleware):
    """Litestar's check, answering a refusal with the panel's 403 page itself.

    The refusal is raised before any handler runs, outside the route's own exception
    handling; answered here, the request log and the request id header see it like any
    other response.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except PermissionDeniedException as exc:  # only the token check raises this out here
            request = scope["litestar_app"].request_class(scope=scope, receive=receive)
            response = http_error(request, exc)
            await response.to_asgi_response(app=None, request=request)(scope, receive, send)
