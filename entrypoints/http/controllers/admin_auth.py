"""Operator login and first-run setup."""

from litestar import Controller, Request, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from entrypoints.bootstrap import Services
from entrypoints.http.client_address import client_address
from entrypoints.http.dependencies import provide_services
from entrypoints.http.schemas.admin import LoginBody, SetupStatusOut, TokenOut, UserOut, user_out


class AdminAuthController(Controller):
    path = "/api"
    tags = ["admin: auth"]
    dependencies = {"services": Provide(provide_services)}

    @post("/auth/login", status_code=200, summary="Exchange email and password for a short-lived access token")
    async def login(
        self, request: Request[object, object, State], data: JSONBody[LoginBody], services: NamedDependency[Services]
    ) -> TokenOut:
        address = client_address(
            request.client.host if request.client else None,
            request.headers.getall("x-forwarded-for", []),
            request.app.state.settings.trusted_proxies,
        )
        token = await services.admin_auth.login(email=data.email, password=data.password, address=address)
        return TokenOut(access_token=token.access_token, expires_in=token.expires_in)

    @get("/setup/status", summary="Whether the first owner still has to be created")
    async def setup_status(self, services: NamedDependency[Services]) -> SetupStatusOut:
        return SetupStatusOut(needs_setup=await services.admin_auth.needs_setup())

    @post("/setup", status_code=201, summary="Create the first owner (only while no admin user exists)")
    async def setup(self, data: JSONBody[LoginBody], services: NamedDependency[Services]) -> UserOut:
        return user_out(await services.admin_auth.setup(email=data.email, password=data.password))
