"""The panel's session: the admin access token in a cookie, renewed while in use.

The cookie holds the same short-lived JWT that ``POST /api/auth/login`` returns; it is
HttpOnly (no script reads it) and SameSite=Strict (no other site's page sends it), and
Secure in production or over TLS. It is scoped to ``/admin``: the JSON API never reads
cookies, only ``Authorization: Bearer``, so it needs no CSRF protection and has none
(``csrf.py`` guards the panel's forms). The token lives 15 minutes; a session in use gets
a fresh one once half of that has passed (``AdminAuthService.renew``), so an operator at
work stays signed in while an idle session ends, and none outlives 12 hours after sign-in.
"""

from typing import Any
from urllib.parse import quote

from litestar import Request
from litestar.datastructures import Cookie, State
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from application.errors import UnauthorizedError
from domain.admins import AdminPrincipal
from entrypoints.bootstrap import Services
from entrypoints.settings import Settings

PANEL = "/admin"
SESSION_COOKIE = "saasllm_admin"
RENEWED_COOKIE = "panel_renewed_cookie"  # request state: the Set-Cookie of a renewed session


class LoginRequired(Exception):
    """No valid session: the operator is sent to the login page (or to setup on first run)."""

    def __init__(self, *, next_path: str | None, expired: bool = False, setup: bool = False) -> None:
        super().__init__("login required")
        self.next_path = next_path
        self.expired = expired
        self.setup = setup


def secure_cookies(request: Request[Any, Any, Any]) -> bool:
    settings: Settings = request.app.state.settings
    return settings.is_production or request.url.scheme == "https"


def session_cookie(request: Request[Any, Any, Any], token: str, max_age_s: int) -> Cookie:
    return Cookie(
        key=SESSION_COOKIE,
        value=token,
        path=PANEL,
        max_age=max_age_s,
        httponly=True,
        samesite="strict",
        secure=secure_cookies(request),
    )


def expired_cookie(request: Request[Any, Any, Any]) -> Cookie:
    """The session cookie emptied and expired at once (sign-out)."""
    return session_cookie(request, "", 0)


def local_path(candidate: str | None) -> str | None:
    """``candidate`` if it is a path of the panel (never another site: no open redirect)."""
    if not candidate or not candidate.startswith(PANEL) or candidate.startswith("//") or "\\" in candidate:
        return None
    if candidate != PANEL and not candidate.startswith((PANEL + "/", PANEL + "?")):
        return None
    return candidate


def login_url(next_path: str | None = None, *, expired: bool = False, notice: str | None = None) -> str:
    query = []
    if expired:
        query.append("expired=1")
    if notice:
        query.append(f"notice={quote(notice)}")
    if next_path and local_path(next_path) and next_path != PANEL + "/login":
        query.append(f"next={quote(next_path, safe='')}")
    return f"{PANEL}/login" + ("?" + "&".join(query) if query else "")


def _requested_path(request: Request[Any, Any, Any]) -> str | None:
    if request.method != "GET" or request.headers.get("hx-request"):
        return None  # a form or fragment cannot be replayed after login: go back to its page instead
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


async def provide_panel_admin(request: Request[Any, Any, State], state: State) -> AdminPrincipal:
    """The operator behind the session cookie; ``LoginRequired`` when there is none or it expired."""
    services: Services = state.services
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise LoginRequired(next_path=_requested_path(request), setup=await services.admin_auth.needs_setup())
    try:
        admin, renewed = await services.admin_auth.renew(token)
    except UnauthorizedError:
        # Expired, or the user was deleted or the secret rotated: either way, sign in again.
        raise LoginRequired(next_path=_requested_path(request), expired=True) from None
    request_state: dict[str, Any] = request.scope.setdefault("state", {})
    request_state["panel_admin"] = admin  # error pages still show the menu
    if renewed is not None:
        cookie = session_cookie(request, renewed.access_token, renewed.expires_in)
        request_state[RENEWED_COOKIE] = cookie.to_header(header="")
    return admin


def session_renewal_middleware(app: ASGIApp) -> ASGIApp:
    """Sends the renewed session cookie (if the request got one) with whatever response it gets."""

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        async def send_renewed(message: Message) -> None:
            renewed = (scope.get("state") or {}).get(RENEWED_COOKIE)
            if message["type"] == "http.response.start" and renewed:
                message["headers"] = [*message.get("headers", []), (b"set-cookie", renewed.encode("latin-1"))]
            await send(message)

        await app(scope, receive, send_renewed)

    return middleware
