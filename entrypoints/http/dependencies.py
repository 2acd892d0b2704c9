"""Request-scoped dependencies: the service container and the authenticated caller."""

from typing import Any

from litestar import Request
from litestar.datastructures import State

from application.principal import TeamPrincipal
from application.services.auth import KEY_PREFIX
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


# Handlers declare the caller as ``NamedDependency[AnyCaller]``: Litestar cannot build a
# signature model for a union of two structs, and the value comes from our own provider.
AnyCaller = Any


async def provide_caller(request: Request[object, object, State], state: State) -> AnyCaller:
    """A team key or an admin token, for reads both may make (a job, a team's usage).

    Told apart by the key's prefix, so the client path costs exactly what it did: a
    presented team key is authenticated as one (401 if bad) and never tried as a JWT.
    """
    services: Services = state.services
    token = bearer_token(request)
    if token is None or token.startswith(KEY_PREFIX):
        principal = await services.client_auth.authenticate(token)
        request.scope.setdefault("state", {})["team_id"] = str(principal.team_id)
        return principal
    return await services.admin_auth.authenticate(token)
