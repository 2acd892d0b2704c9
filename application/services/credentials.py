"""Operator use cases for provider credentials, stored encrypted by the vault."""

from application.errors import NotFoundError
from application.ports.repositories import StoredCredential
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.vault import CredentialVault
from domain.catalog import Provider
from domain.errors import InvalidValueError
from domain.ids import CredentialId, OrganizationId
from domain.secrets import key_hint


class CredentialService:
    """Rules: the key is encrypted before it reaches a repository and only its masked
    hint is ever returned; ``api_base`` must be an http(s) URL."""

    def __init__(self, *, uow: UnitOfWorkFactory, vault: CredentialVault, clock: Clock, ids: IdGenerator) -> None:
        self._uow = uow
        self._vault = vault
        self._clock = clock
        self._ids = ids

    async def add_credential(
        self,
        *,
        organization_id: OrganizationId,
        provider: Provider,
        name: str,
        api_key: str,
        api_base: str | None = None,
    ) -> StoredCredential:
        if not api_key:
            raise InvalidValueError("api_key must not be empty")
        if api_base is not None and not api_base.startswith(("http://", "https://")):
            raise InvalidValueError("api_base must be an http(s) URL")
        credential = StoredCredential(
            id=CredentialId(self._ids.new_id()),
            organization_id=organization_id,
            provider=provider,
            name=name,
            encrypted_key=self._vault.encrypt(api_key),
            key_hint=key_hint(api_key),
            is_active=True,
            created_at=self._clock.now(),
            api_base=api_base.rstrip("/") if api_base else None,
        )
        async with self._uow() as uow:
            if await uow.organizations.get(organization_id) is None:
                raise NotFoundError("organization not found")
            await uow.credentials.add(credential)
            await uow.commit()
        return credential
