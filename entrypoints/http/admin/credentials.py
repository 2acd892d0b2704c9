"""Provider credentials of an organization: add, (de)activate, delete.

A key goes from the browser to the vault and never back: pages show its masked hint
only, and a refused form is shown again with the key field empty.
"""

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from uuid import UUID

from litestar import Controller, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery
from litestar.response import Template

from domain.ids import CredentialId, OrganizationId
from domain.organizations import Organization
from entrypoints.http.admin.forms import Form
from entrypoints.http.admin.pages import Panel, see_other
from entrypoints.http.admin.session import PANEL


async def organization_page(
    panel: Panel,
    template: str,
    requested: UUID | None,
    rows_as: str,
    rows: Callable[[Organization], Awaitable[Sequence[Any]]],
    *,
    status: int = 200,
    **context: Any,
) -> Template:
    """A page of one organization's things (credentials, webhooks): the organizations to
    choose from, the one shown (the requested one, else the only one) and, once there is
    one, its ``rows`` (in the template as ``rows_as``)."""
    organizations = await panel.organizations()
    organization: Organization | None
    if requested is not None:
        organization = await panel.services.organizations.get_organization(panel.admin, OrganizationId(requested))
    else:
        organization = organizations[0] if len(organizations) == 1 else None
    shown = await rows(organization) if organization is not None else []
    return panel.page(
        template, status=status, organizations=organizations, organization=organization, **{rows_as: shown}, **context
    )


def credentials_url(organization_id: UUID | None) -> str:
    return f"{PANEL}/credentials?organization_id={organization_id}" if organization_id else f"{PANEL}/credentials"


class CredentialsController(Controller):
    path = "/credentials"

    @get("/", name="panel:credentials")
    async def list_(
        self, panel: NamedDependency[Panel], organization_id: FromQuery[UUID | None] = None
    ) -> Response[Any]:
        return await self._list(panel, organization_id, Form())

    async def _list(self, panel: Panel, organization_id: UUID | None, form: Form, status: int = 200) -> Response[Any]:
        async def credentials(organization: Organization) -> Sequence[Any]:
            return await panel.services.credentials.list_credentials(panel.admin, organization.id)

        return await organization_page(
            panel,
            "credentials.html",
            organization_id,
            "credentials",
            credentials,
            status=status,
            providers=panel.providers,
            form=form,
        )

    @post("/", status_code=200)
    async def create(self, panel: NamedDependency[Panel]) -> Response[Any]:
        form = await panel.form(secret_fields=frozenset({"api_key"}))
        organization_id = form.uuid("organization_id")
        provider = form.choice("provider", panel.providers)
        name = form.text("name")
        api_key = form.text("api_key", max_length=4096, keep_spaces=True)
        api_base = form.text("api_base", required=False, max_length=2000)
        if form.ok and organization_id and provider and name and api_key:
            added = await form.attempt(
                panel.services.credentials.add_credential(
                    organization_id=OrganizationId(organization_id),
                    provider=provider,
                    name=name,
                    api_key=api_key,
                    api_base=api_base,
                    actor=panel.admin,
                )
            )
            if added is not None:
                return see_other(credentials_url(organization_id), "created")
        return await self._list(panel, organization_id, form, status=422)

    @post("/{credential_id:uuid}/activate", status_code=200)
    async def activate(self, panel: NamedDependency[Panel], credential_id: FromPath[UUID]) -> Response[Any]:
        return await self._set_active(panel, CredentialId(credential_id), True, "activated")

    @post("/{credential_id:uuid}/deactivate", status_code=200)
    async def deactivate(self, panel: NamedDependency[Panel], credential_id: FromPath[UUID]) -> Response[Any]:
        return await self._set_active(panel, CredentialId(credential_id), False, "deactivated")

    async def _set_active(self, panel: Panel, credential_id: CredentialId, active: bool, notice: str) -> Response[Any]:
        """The credential's row again (htmx), else its organization's list with a notice."""
        credentials = panel.services.credentials
        done = await credentials.set_active(panel.admin, credential_id, active)
        if panel.htmx:
            listed = await credentials.list_credentials(panel.admin, done.organization_id)
            return panel.page("credential/_row.html", credential=next(c for c in listed if c.id == credential_id))
        return see_other(credentials_url(done.organization_id), notice)

    @post("/{credential_id:uuid}/delete", status_code=200)
    async def delete_(self, panel: NamedDependency[Panel], credential_id: FromPath[UUID]) -> Response[Any]:
        organization_id = (await panel.form()).uuid("organization_id", required=False)
        await panel.services.credentials.delete_credential(panel.admin, CredentialId(credential_id))
        return see_other(credentials_url(organization_id), "deleted")
