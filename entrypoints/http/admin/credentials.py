"""Provider credentials of an organization: add, (de)activate, delete.

A key goes from the browser to the vault and never back: pages show its masked hint
only, and a refused form is shown again with the key field empty.
"""

from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from domain.admins import AdminPrincipal
from domain.catalog import Provider
from domain.errors import DomainError
from domain.ids import CredentialId, OrganizationId
from domain.organizations import Organization
from entrypoints.bootstrap import Services
from entrypoints.http.admin.forms import Form
from entrypoints.http.admin.pages import is_htmx, page, see_other
from entrypoints.http.admin.session import PANEL

PROVIDERS = tuple(p.value for p in Provider)
Req = Request[Any, Any, State]


async def chosen_organization(
    services: Services, admin: AdminPrincipal, requested: UUID | None
) -> tuple[list[Organization], Organization | None]:
    """The organizations to choose from and the one shown: the requested one, else the only one."""
    organizations = await services.organizations.list_organizations(admin, limit=200)
    if requested is not None:
        return organizations, await services.organizations.get_organization(admin, OrganizationId(requested))
    return organizations, organizations[0] if len(organizations) == 1 else None


class CredentialsController(Controller):
    path = "/credentials"

    @get("/", name="panel:credentials")
    async def list_(
        self,
        request: Req,
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
        organization_id: FromQuery[UUID | None] = None,
    ) -> Response[Any]:
        return await self._list(request, admin, services, organization_id, Form())

    async def _list(
        self,
        request: Req,
        admin: AdminPrincipal,
        services: Services,
        organization_id: UUID | None,
        form: Form,
        status: int = 200,
    ) -> Response[Any]:
        organizations, organization = await chosen_organization(services, admin, organization_id)
        credentials = (
            await services.credentials.list_credentials(admin, organization.id) if organization is not None else []
        )
        return page(
            "credentials.html",
            admin,
            request,
            status=status,
            organizations=organizations,
            organization=organization,
            credentials=credentials,
            providers=PROVIDERS,
            form=form,
        )

    @post("/", status_code=200)
    async def create(
        self, request: Req, admin: NamedDependency[AdminPrincipal], services: NamedDependency[Services]
    ) -> Response[Any]:
        form = Form(await request.form(), secret_fields=frozenset({"api_key"}))
        organization_id = form.uuid("organization_id")
        provider = form.choice("provider", PROVIDERS)
        name = form.text("name")
        api_key = form.text("api_key", max_length=4096, keep_spaces=True)
        api_base = form.text("api_base", required=False, max_length=2000)
        if form.ok and organization_id and provider and name and api_key:
            try:
                await services.credentials.add_credential(
                    organization_id=OrganizationId(organization_id),
                    provider=provider,
                    name=name,
                    api_key=api_key,
                    api_base=api_base,
                    actor=admin,
                )
            except DomainError as exc:
                form.refused(exc)
            else:
                return see_other(f"{PANEL}/credentials?organization_id={organization_id}", "created")
        return await self._list(request, admin, services, organization_id, form, status=422)

    @post("/{credential_id:uuid}/activate", status_code=200)
    async def activate(
        self,
        request: Req,
        credential_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        done = await services.credentials.set_active(admin, CredentialId(credential_id), True)
        return await self._after(request, admin, services, done.organization_id, credential_id, "activated")

    @post("/{credential_id:uuid}/deactivate", status_code=200)
    async def deactivate(
        self,
        request: Req,
        credential_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        done = await services.credentials.set_active(admin, CredentialId(credential_id), False)
        return await self._after(request, admin, services, done.organization_id, credential_id, "deactivated")

    async def _after(
        self,
        request: Req,
        admin: AdminPrincipal,
        services: Services,
        organization_id: OrganizationId,
        credential_id: UUID,
        notice: str,
    ) -> Response[Any]:
        if is_htmx(request):
            credentials = await services.credentials.list_credentials(admin, organization_id)
            row = next(c for c in credentials if c.id == credential_id)
            return page("credential/_row.html", admin, request, credential=row)
        return see_other(f"{PANEL}/credentials?organization_id={organization_id}", notice)

    @post("/{credential_id:uuid}/delete", status_code=200)
    async def delete_(
        self,
        request: Req,
        credential_id: FromPath[UUID],
        admin: NamedDependency[AdminPrincipal],
        services: NamedDependency[Services],
    ) -> Response[Any]:
        organization_id = Form(await request.form()).uuid("organization_id", required=False)
        await services.credentials.delete_credential(admin, CredentialId(credential_id))
        suffix = f"?organization_id={organization_id}" if organization_id else ""
        return see_other(f"{PANEL}/credentials{suffix}", "deleted")
