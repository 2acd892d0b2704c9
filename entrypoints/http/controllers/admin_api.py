"""The base of the admin JSON API's controllers, written once."""

from litestar import Controller
from litestar.di import Provide

from entrypoints.http.dependencies import provide_admin, provide_admin_context, provide_services


class AdminApiController(Controller):
    """Under ``/api`` (a subclass may move it), behind an admin access token (``AdminJWT``),
    with the authenticated ``admin`` and the ``services`` injected, or both as ``ctx`` (an
    ``AdminContext``); a subclass names its OpenAPI ``tags``."""

    path = "/api"
    security = [{"AdminJWT": []}]
    dependencies = {
        "admin": Provide(provide_admin),
        "services": Provide(provide_services),
        "ctx": Provide(provide_admin_context),
    }
