"""Rendering a panel page or fragment, and answering a form: the few shapes every handler uses."""

from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, StrictUndefined, pass_context, select_autoescape
from litestar import Request, Response
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.base import csrf_token
from litestar.template.config import TemplateConfig
from markupsafe import Markup

from application.ports.system import Clock
from domain.admins import AdminPrincipal
from domain.organizations import Organization
from entrypoints.bootstrap import Services
from entrypoints.http.admin.format import FILTERS
from entrypoints.http.admin.forms import Form
from entrypoints.http.admin.permissions import capabilities

T = TypeVar("T")
Req = Request[Any, Any, State]
TEMPLATES = Path(__file__).parent / "templates"
STATIC = Path(__file__).parent / "static"

# Nothing a page shows may be cached: keys are shown once, balances change.
NO_STORE = {"Cache-Control": "no-store"}
# Scripts and styles come from our own static files only (no inline script, no CDN), and no
# other site may frame the panel.
SECURITY_HEADERS = {
    **NO_STORE,
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}

# Messages shown after a redirect, by key: the query string never carries text to echo.
NOTICES = {
    "logged_out": "You are signed out.",
    "setup_done": "The owner account is ready. Sign in with it.",
    "saved": "Saved.",
    "deleted": "Deleted.",
    "created": "Created.",
    "suspended": "The team is suspended: its keys are refused from now on.",
    "resumed": "The team is active again.",
    "credits": "Credits applied.",
    "credits_repeat": "That submission was already applied; nothing changed.",
    "revoked": "The key is revoked.",
    "activated": "Activated.",
    "deactivated": "Deactivated.",
}


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    environment = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,  # a typo in a template fails the tests instead of showing nothing
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(FILTERS)
    environment.filters["choices"] = choices
    environment.globals.update({"csrf": csrf_field, "url": url})
    return TemplateConfig(engine=JinjaTemplateEngine.from_environment(environment))


@pass_context
def csrf_field(context: Mapping[str, Any]) -> Markup:
    """The hidden CSRF field every form carries (the token Litestar's middleware set for this request)."""
    token = csrf_token(context)
    return Markup('<input type="hidden" name="_csrf_token" value="{}">').format(token)


def choices(items: Iterable[Any], value: str = "", text: str = "") -> list[tuple[Any, Any]]:
    """(value, label) pairs for a select: of plain strings, or of two attributes of each item."""
    if not value:
        return [(item, item) for item in items]
    return [(getattr(item, value), getattr(item, text or value)) for item in items]


def url(path: str, **query: Any) -> str:
    """``path`` with the query parameters that have a value (links keep the filters in force)."""
    given = {k: str(v) for k, v in query.items() if v not in (None, "")}
    return f"{path}?{urlencode(given)}" if given else path


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def page(
    name: str,
    admin: AdminPrincipal | None,
    request: Request[Any, Any, Any] | None = None,
    *,
    status: int = 200,
    **context: Any,
) -> Template:
    """A page (or fragment) of ``templates/admin/``, with who is looking and what they may do."""
    notice = NOTICES.get(request.query_params.get("notice", "")) if request is not None else None
    return Template(
        template_name=f"admin/{name}",
        context={
            "admin": admin,
            "can": capabilities(admin) if admin is not None else None,
            "notice": notice,
            "path": request.url.path if request is not None else "",
            **context,
        },
        status_code=status,
        headers=SECURITY_HEADERS,
    )


def see_other(url: str, notice: str | None = None) -> Redirect:
    """Post/Redirect/Get: after a write, the page is loaded again (a reload re-posts nothing)."""
    if notice is not None:
        url += ("&" if "?" in url else "?") + f"notice={notice}"
    return Redirect(path=url, status_code=303, headers=NO_STORE)


def client_redirect(url: str) -> Response[str]:
    """For htmx requests: the browser itself navigates (htmx would otherwise swap a page into a fragment)."""
    return Response(content="", status_code=200, headers={"HX-Redirect": url, **NO_STORE})


def one_page(found: Sequence[T], size: int, cursor_of: Callable[[T], str]) -> tuple[Sequence[T], str | None]:
    """A listing read ``size + 1`` rows at a time: the page shown, and the next page's cursor (None: the last)."""
    shown = found[:size]
    return shown, (cursor_of(shown[-1]) if len(found) > size and shown else None)


class Panel:
    """One signed-in request to the panel: who asks, the use cases, today, and how to answer.

    Handlers take it as their ``panel`` dependency instead of the request, the operator
    and the services one by one; the clock is the runtime's (no handler reads the time).
    """

    __slots__ = ("admin", "clock", "request", "services")

    def __init__(self, request: Req, admin: AdminPrincipal, services: Services, clock: Clock) -> None:
        self.request = request
        self.admin = admin
        self.services = services
        self.clock = clock

    @property
    def htmx(self) -> bool:
        return is_htmx(self.request)

    @property
    def providers(self) -> tuple[str, ...]:
        """The providers a credential or an alias may name here (the demo one only where offered)."""
        return self.services.credentials.offered_providers()

    async def organizations(self) -> list[Organization]:
        """The organizations a page offers to choose from: the first 200 the admin sees."""
        return await self.services.organizations.list_organizations(self.admin, limit=200)

    def today(self) -> date:
        """Today's UTC date, from the runtime's clock."""
        return self.clock.now().date()

    async def form(self, *, secret_fields: frozenset[str] = frozenset()) -> Form:
        return Form(await self.request.form(), secret_fields=secret_fields)

    def page(self, name: str, *, status: int = 200, **context: Any) -> Template:
        return page(name, self.admin, self.request, status=status, **context)


async def provide_panel(
    request: Req, admin: NamedDependency[AdminPrincipal], services: NamedDependency[Services], state: State
) -> Panel:
    clock: Clock = state.runtime.clock
    return Panel(request, admin, services, clock)
