"""First-run setup, sign in and sign out."""

from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.response import Redirect

from application.errors import ConflictError, LoginRateLimitedError, UnauthorizedError
from domain.errors import DomainError
from entrypoints.bootstrap import Services
from entrypoints.http.admin.forms import Form
from entrypoints.http.admin.pages import NO_STORE, page, see_other
from entrypoints.http.admin.session import PANEL, expired_cookie, local_path, login_url, session_cookie
from entrypoints.http.client_address import client_address

Req = Request[Any, Any, State]


class PanelAuthController(Controller):
    path = ""

    @get("/setup", name="panel:setup")
    async def setup_page(self, request: Req, services: NamedDependency[Services]) -> Response[Any]:
        if not await services.admin_auth.needs_setup():
            return see_other(login_url())
        return page("setup.html", None, request, form=Form())

    @post("/setup", status_code=200)
    async def setup(self, request: Req, services: NamedDependency[Services]) -> Response[Any]:
        form = Form(await request.form(), secret_fields=frozenset({"password", "password_again"}))
        email = form.text("email", max_length=254)
        password = form.text("password", max_length=1024, keep_spaces=True)
        again = form.text("password_again", max_length=1024, keep_spaces=True)
        if password is not None and again is not None and password != again:
            form.add_error("password_again", "the two passwords differ")
        if form.ok and email is not None and password is not None:
            try:
                await services.admin_auth.setup(email=email, password=password)
            except ConflictError:
                return see_other(login_url())  # someone else finished the setup first
            except DomainError as exc:
                form.refused(exc)
            else:
                return see_other(login_url(notice="setup_done"))
        return page("setup.html", None, request, status=422, form=form)

    @get("/login", name="panel:login")
    async def login_page(self, request: Req, services: NamedDependency[Services]) -> Response[Any]:
        if await services.admin_auth.needs_setup():
            return see_other(f"{PANEL}/setup")
        return page(
            "login.html",
            None,
            request,
            form=Form(),
            expired=request.query_params.get("expired") == "1",
            next_path=local_path(request.query_params.get("next")) or "",
        )

    @post("/login", status_code=200)
    async def login(self, request: Req, services: NamedDependency[Services]) -> Response[Any]:
        form = Form(await request.form(), secret_fields=frozenset({"password"}))
        email = form.text("email", max_length=254)
        password = form.text("password", max_length=1024, keep_spaces=True)
        next_path = local_path(form.value("next")) or PANEL
        status = 422
        if form.ok and email is not None and password is not None:
            address = client_address(
                request.client.host if request.client else None,
                request.headers.getall("x-forwarded-for", []),
                request.app.state.settings.trusted_proxies,
            )
            try:
                token = await services.admin_auth.login(email=email, password=password, address=address)
            except LoginRateLimitedError as exc:
                minutes = max(1, round((exc.retry_after_s or 60) / 60))
                form.problem = f"Too many sign-in attempts. Try again in about {minutes} minute(s)."
                status = 429
            except UnauthorizedError:
                form.problem = "The email or the password is wrong."
                status = 401
            else:
                response = Redirect(path=next_path, status_code=303, headers=NO_STORE)
                response.set_cookie(session_cookie(request, token.access_token, token.expires_in))
                return response
        return page("login.html", None, request, status=status, form=form, expired=False, next_path=next_path)

    @post("/logout", status_code=200)
    async def logout(self, request: Req) -> Response[Any]:
        response = see_other(login_url(notice="logged_out"))
        response.set_cookie(expired_cookie(request))
        return response
