"""Request-scoped dependencies: the service container and the authenticated caller.

The caller is authenticated by the ``authenticate_first`` guard, which Litestar runs
before it reads the body or the parameters of the request: an unauthenticated request
gets its 401 without its body ever being decoded. The guard knows which credential a
handler needs from the dependency the handler declares (``principal``: a team key,
``admin``: an admin token, ``caller``: either), and leaves the principal in the request
scope, where those dependencies pick it up.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypedDict

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.datastructures import State
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler

from application.errors import UnauthorizedError
from application.principal import TeamPrincipal
from application.services.auth import KEY_PREFIX
from domain.admins import AdminPrincipal
from entrypoints.bootstrap import Services
from entrypoints.http.preconditions import expected_version

Connection = ASGIConnection[Any, Any, Any, Any]
_CALLER = "caller"  # the scope-state key of the authenticated principal


def bearer_token(request: Connection) -> str | None:
    # Read from the raw ASGI headers (names are lower case there): building Litestar's
    # header mapping for one value is a measurable share of a call's time.
    raw: bytes | None = next((value for name, value in request.scope["headers"] if name == b"authorization"), None)
    if not raw:
        return None
    header = raw.decode("latin-1")
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


async def provide_services(state: State) -> Services:
    services: Services = state.services
    return services


def _scope_state(connection: Connection) -> dict[str, Any]:
    state: dict[str, Any] = connection.scope.setdefault("state", {})
    return state


# A credential of the other kind gets a 401 that says which one the route needs (and never
# repeats what was sent): told apart by the team key's prefix, as ``_either`` does.
TEAM_KEY_NEEDED = (
    "this route needs a team virtual key (Authorization: Bearer sk-job-...); an admin access token is not accepted here"
)
ADMIN_LOGIN_NEEDED = (
    "this route needs an admin access token (Authorization: Bearer <token from POST /api/auth/login>); "
    "a team virtual key is not accepted here"
)


async def _team(connection: Connection) -> TeamPrincipal:
    state = _scope_state(connection)
    if isinstance(known := state.get(_CALLER), TeamPrincipal):
        return known
    services: Services = connection.app.state.services
    token = bearer_token(connection)
    if token and not token.startswith(KEY_PREFIX) and token.count(".") == 2:  # shaped as a JWT
        raise UnauthorizedError(TEAM_KEY_NEEDED)
    principal = await services.client_auth.authenticate(token)
    state[_CALLER], state["team_id"] = principal, str(principal.team_id)
    return principal


async def _admin(connection: Connection) -> AdminPrincipal:
    state = _scope_state(connection)
    if isinstance(known := state.get(_CALLER), AdminPrincipal):
        return known
    services: Services = connection.app.state.services
    token = bearer_token(connection)
    if token and token.startswith(KEY_PREFIX):
        raise UnauthorizedError(ADMIN_LOGIN_NEEDED)
    principal = await services.admin_auth.authenticate(token)
    state[_CALLER] = principal
    return principal


async def _either(connection: Connection) -> TeamPrincipal | AdminPrincipal:
    """Told apart by the key's prefix, so the client path costs exactly what it did: a
    presented team key is authenticated as one (401 if bad) and never tried as a JWT."""
    token = bearer_token(connection)
    if token is None or token.startswith(KEY_PREFIX):
        return await _team(connection)
    return await _admin(connection)


# The caller providers take ``services`` although they read the app state: a handler's
# dependencies that do not depend on each other are resolved in an anyio task group, a
# measurable cost on every call; chained, each is simply awaited.


async def provide_principal(
    request: Request[object, object, State], services: NamedDependency[Services]
) -> TeamPrincipal:
    return await _team(request)


async def provide_admin(request: Request[object, object, State], services: NamedDependency[Services]) -> AdminPrincipal:
    return await _admin(request)


@dataclass(frozen=True, slots=True)
class AdminContext:
    """What an admin API handler works with: the authenticated admin, the services and the request."""

    admin: AdminPrincipal
    services: Services
    request: Request[object, object, State]

    def expected_version(self) -> int | None:
        """The version the request's ``If-Match`` asks for (412 on a malformed one): read when an update asks."""
        return expected_version(self.request)


async def provide_admin_context(
    request: Request[object, object, State], admin: NamedDependency[AdminPrincipal], services: NamedDependency[Services]
) -> AdminContext:
    return AdminContext(admin, services, request)


# Handlers declare the caller as ``NamedDependency[AnyCaller]``: Litestar cannot build a
# signature model for a union of two structs, and the value comes from our own provider.
AnyCaller = Any


async def provide_caller(request: Request[object, object, State], services: NamedDependency[Services]) -> AnyCaller:
    """A team key or an admin token, for reads both may make (a job, a team's usage)."""
    return await _either(request)


class CallerRoute(TypedDict):
    dependencies: dict[str, Provide]
    security: list[dict[str, list[str]]]


def team_key_or_admin() -> CallerRoute:
    """A route handler's options for a read a team key or an admin token may make: the
    ``caller`` injected, both schemes documented (``@get(..., **team_key_or_admin())``)."""
    return {"dependencies": {"caller": Provide(provide_caller)}, "security": [{"TeamKey": []}, {"AdminJWT": []}]}


_AUTHENTICATORS: dict[Callable[..., Any], Callable[[Connection], Awaitable[object]]] = {
    provide_principal: _team,
    provide_admin: _admin,
    provide_admin_context: _admin,
    provide_caller: _either,
}


def authenticator_for(handler: BaseRouteHandler) -> Callable[[Connection], Awaitable[object]] | None:
    """How the handler's caller is authenticated; None: the handler needs no caller.

    A new kind of caller dependency must be registered in ``_AUTHENTICATORS``, or its
    routes would decode bodies before authenticating (a unit test checks every secured route).
    """
    dependencies = handler.resolve_dependencies()
    for name in handler.parsed_fn_signature.parameters:
        provide = dependencies.get(name)
        if provide is not None and (authenticate := _AUTHENTICATORS.get(provide.dependency)) is not None:
            return authenticate
    return None


async def authenticate_first(connection: Connection, handler: BaseRouteHandler) -> None:
    """App-level guard: authenticate the caller the handler asks for, before anything else."""
    if (authenticate := authenticator_for(handler)) is not None:
        await authenticate(connection)
