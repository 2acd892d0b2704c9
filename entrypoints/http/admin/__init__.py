"""The admin web panel: server-rendered pages under ``/admin`` over the same use cases as the API.

A driving adapter like the JSON controllers: handlers take the request's ``Panel``
(``pages.py``: the operator, ``entrypoints.bootstrap.Services`` and the runtime's clock),
read a form, call one use case and render a Jinja template (htmx swaps fragments of
it where a whole page would be too much). Roles and organization scope are enforced by
the use cases; pages only hide what the operator may not do (``permissions.py``).
"""

from litestar import Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.static_files import create_static_files_router

from entrypoints.http.admin.auth import PanelAuthController
from entrypoints.http.admin.credentials import CredentialsController
from entrypoints.http.admin.csrf import PanelCSRFMiddleware, csrf_config
from entrypoints.http.admin.dashboard import DashboardController
from entrypoints.http.admin.economics import EconomicsController
from entrypoints.http.admin.failures import EXCEPTION_HANDLERS
from entrypoints.http.admin.jobs import JobsController
from entrypoints.http.admin.models import AccessGroupsController, AliasesController, PricingController
from entrypoints.http.admin.operators import AuditController, UsersController, WebhooksController
from entrypoints.http.admin.pages import STATIC, provide_panel, template_config
from entrypoints.http.admin.session import PANEL, provide_panel_admin, session_renewal_middleware
from entrypoints.http.admin.tenants import OrganizationsController, TeamsController
from entrypoints.http.dependencies import provide_services
from entrypoints.settings import Settings

STATIC_PATH = f"{PANEL}/static"


def panel_routes(settings: Settings) -> list[Router]:
    """The panel's pages (CSRF-checked, HTML errors) and its static assets (neither)."""
    pages = Router(
        path=PANEL,
        route_handlers=[
            PanelAuthController,
            DashboardController,
            EconomicsController,
            OrganizationsController,
            TeamsController,
            AliasesController,
            AccessGroupsController,
            PricingController,
            CredentialsController,
            JobsController,
            AuditController,
            UsersController,
            WebhooksController,
        ],
        dependencies={
            "admin": Provide(provide_panel_admin),
            "services": Provide(provide_services),
            "panel": Provide(provide_panel),
        },
        # Scoped to the panel: the JSON API (bearer tokens, no cookies) is not CSRF-checked.
        middleware=[DefineMiddleware(PanelCSRFMiddleware, config=csrf_config(settings)), session_renewal_middleware],
        exception_handlers=EXCEPTION_HANDLERS,
        include_in_schema=False,
    )
    static = create_static_files_router(
        path=STATIC_PATH, directories=[STATIC], name="panel:static", include_in_schema=False
    )
    return [pages, static]


__all__ = ["STATIC_PATH", "panel_routes", "template_config"]
