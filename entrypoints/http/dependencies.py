"""Request-scoped dependencies: the service container and the authenticated caller."""

from litestar import Request
from litestar.datastructures import State

from application.principal import TeamPrincipal
from domain.admins import AdminPrincipal
from entrypoints.bootstrap import Services


def bearer_token(request: Request[object, object, State]) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


async def provide_principal(request: Request[object, object, State], state: State) -> TeamPrincipal:
    services: Services = state.services
    principal = await services.client_auth.authenticate(bearer_token(request))
    request.scope.setdefault("state", {})["team_id"] = str(principal.team_id)
    return principal


async def provide_admin(request: Request[object, object, State], state: State) -> AdminPrincipal:
    services: Services = state.services
    return await services.admin_auth.authenticate(bearer_token(request))
