"""Operator use cases for provider credentials, stored encrypted by the vault."""

from typing import Any

import msgspec

from application.ports.repositories import CredentialPatch, StoredCredential
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.ports.vault import CredentialVault, VaultError
from application.services._access import seen, visible_organization
from application.services._audit import RowAudit
from application.services._outbound import OutboundUrlCheck
from application.services._providers import EVERY_PROVIDER, OfferedProviders
from application.services._rotation import Rotation as Rotation  # re-exported: the CLI reports it
from application.services._rotation import rotate_in_batches, under_newest_key
from application.services._versions import changed, check_version, stored
from domain.admins import AdminPrincipal, ensure_can_write
from domain.catalog import ProviderName
from domain.errors import InvalidValueError
from domain.ids import CredentialId, OrganizationId
from domain.secrets import key_hint

MAX_KEY_LENGTH = 4096


class CredentialChanges(msgspec.Struct, frozen=True, kw_only=True):
    """A partial credential update: ``UNSET`` keeps a value; ``api_base`` None removes it."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    provider: ProviderName | msgspec.UnsetType = msgspec.UNSET
    api_key: str | msgspec.UnsetType = msgspec.UNSET
    api_base: str | msgspec.UnsetType | None = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return "CredentialChanges(...)"


def credential_snapshot(credential: StoredCredential) -> dict[str, Any]:
    """What the audit log keeps of a credential: never the key, not even encrypted."""
    return {
        "provider": str(credential.provider),
        "name": credential.name,
        "key_hint": credential.key_hint,
        "api_base": credential.api_base,
        "is_active": credential.is_active,
    }


class CredentialService:
    """Rules: the key is encrypted before it reaches a repository and only its masked
    hint is ever returned; ``api_base`` must pass the outbound address policy (an http(s)
    URL; in production https to a public address, see ``OutboundUrlCheck``); changing a
    credential's provider or ``api_base`` needs its ``api_key`` in the same change, so a
    stored key can never be pointed at another host by someone who does not hold it; an
    admin manages only the credentials of organizations it sees (others answer 404),
    viewers none; the provider must be one this instance offers (422 ``provider_not_offered``);
    every write is audited in its own transaction (``actor`` None: the system)."""

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        vault: CredentialVault,
        clock: Clock,
        ids: IdGenerator,
        api_base_check: OutboundUrlCheck | None = None,
        offered: OfferedProviders | None = None,
    ) -> None:
        self._uow = uow
        self._offered = offered or EVERY_PROVIDER
        self._vault = vault
        self._clock = clock
        self._audit = RowAudit("provider_credential", credential_snapshot, clock, sensitive_field="api_key")
        self._ids = ids
        self._check_url = api_base_check or OutboundUrlCheck()

    def offered_providers(self) -> tuple[ProviderName, ...]:
        """The provider names a credential may name on this instance."""
        return self._offered.names()

    async def add_credential(
        self,
        *,
        organization_id: OrganizationId,
        provider: ProviderName,
        name: str,
        api_key: str,
        api_base: str | None = None,
        actor: AdminPrincipal | None = None,
    ) -> StoredCredential:
        if actor is not None:
            ensure_can_write(actor)
        self._offered.require(provider)
        checked_base = await self._api_base(api_base)  # may resolve a name: before the unit of work
        credential = StoredCredential(
            id=CredentialId(self._ids.new_id()),
            organization_id=organization_id,
            provider=provider,
            name=check_name(name),
            encrypted_key=self._vault.encrypt(check_key(api_key)),
            key_hint=key_hint(api_key),
            is_active=True,
            created_at=self._clock.now(),
            api_base=checked_base,
        )
        async with self._uow() as uow:
            await visible_organization(uow, actor, organization_id)
            await uow.credentials.add(credential)
            await self._audit(uow, actor, "credential.create", credential, None, credential)
            await uow.commit()
        return credential

    async def list_credentials(self, actor: AdminPrincipal, organization_id: OrganizationId) -> list[StoredCredential]:
        async with self._uow() as uow:
            await visible_organization(uow, actor, organization_id)
            return await uow.credentials.list_for_organization(organization_id)

    async def update_credential(
        self,
        actor: AdminPrincipal | None,
        credential_id: CredentialId,
        changes: CredentialChanges,
        *,
        expected_version: int | None = None,
    ) -> StoredCredential:
        """Change the fields given; the ciphertext is written only when a new ``api_key`` is.
        ``actor`` None is the system (the CLI)."""
        if actor is not None:
            ensure_can_write(actor)
        if not isinstance(changes.provider, msgspec.UnsetType):
            self._offered.require(changes.provider)
        new_key = None if isinstance(changes.api_key, msgspec.UnsetType) else check_key(changes.api_key)
        new_base = None if isinstance(changes.api_base, msgspec.UnsetType) else await self._api_base(changes.api_base)
        async with self._uow() as uow:
            before = await self._visible(uow, actor, credential_id)
            check_version(before.version, expected_version)
            provider = before.provider if isinstance(changes.provider, msgspec.UnsetType) else changes.provider
            api_base = before.api_base if isinstance(changes.api_base, msgspec.UnsetType) else new_base
            if new_key is None and (provider != before.provider or api_base != before.api_base):
                raise InvalidValueError("changing provider or api_base needs the api_key in the same request")
            patch = CredentialPatch(
                provider=changed(before.provider, provider),
                name=msgspec.UNSET
                if isinstance(changes.name, msgspec.UnsetType)
                else changed(before.name, check_name(changes.name)),
                encrypted_key=msgspec.UNSET if new_key is None else self._vault.encrypt(new_key),
                key_hint=msgspec.UNSET if new_key is None else key_hint(new_key),
                api_base=changed(before.api_base, api_base),
                is_active=msgspec.UNSET
                if isinstance(changes.is_active, msgspec.UnsetType)
                else changed(before.is_active, changes.is_active),
            )
            after = await self._write(uow, before, patch, expected_version)
            await self._audit(uow, actor, "credential.update", after, before, after, secret_changed=new_key is not None)
            await uow.commit()
        return after

    async def set_active(
        self, actor: AdminPrincipal, credential_id: CredentialId, active: bool, *, expected_version: int | None = None
    ) -> StoredCredential:
        ensure_can_write(actor)
        async with self._uow() as uow:
            before = await self._visible(uow, actor, credential_id)
            check_version(before.version, expected_version)
            after = await self._write(
                uow, before, CredentialPatch(is_active=changed(before.is_active, active)), expected_version
            )
            action = "credential.activate" if active else "credential.deactivate"
            await self._audit(uow, actor, action, after, before, after)
            await uow.commit()
        return after

    async def delete_credential(self, actor: AdminPrincipal, credential_id: CredentialId) -> None:
        ensure_can_write(actor)
        async with self._uow() as uow:
            before = await self._visible(uow, actor, credential_id)
            await uow.credentials.delete(credential_id)
            await self._audit(uow, actor, "credential.delete", before, before, None)
            await uow.commit()

    async def stored_keys(self, organization_id: OrganizationId) -> dict[tuple[ProviderName, str, str | None], str]:
        """The organization's decrypted keys, by (provider, key, api_base) → credential name.

        For de-duplicating imports; the keys live only in this process's memory.
        """
        async with self._uow() as uow:
            await visible_organization(uow, None, organization_id)
            stored = await uow.credentials.list_for_organization(organization_id)
        found: dict[tuple[ProviderName, str, str | None], str] = {}
        for credential in stored:
            try:
                found[(credential.provider, self._vault.decrypt(credential.encrypted_key), credential.api_base)] = (
                    credential.name
                )
            except VaultError:
                continue  # written under a key no longer configured: cannot match anything
        return found

    async def decrypted_credentials(self, organization_id: OrganizationId) -> list[tuple[StoredCredential, str | None]]:
        """The organization's credentials with their keys (None: written under a vault key
        no longer configured), oldest first. For imports; the keys live only in memory."""
        async with self._uow() as uow:
            await visible_organization(uow, None, organization_id)
            stored = await uow.credentials.list_for_organization(organization_id)
        found: list[tuple[StoredCredential, str | None]] = []
        for credential in sorted(stored, key=lambda c: c.created_at):
            try:
                found.append((credential, self._vault.decrypt(credential.encrypted_key)))
            except VaultError:
                found.append((credential, None))
        return found

    async def rotate_keys(self) -> Rotation:
        """Re-encrypt every credential under the newest vault key (``rotate-keys``).

        Safe while the service runs: each row is swapped in its own short transaction and
        only if its ciphertext is still the one that was read, so a concurrent change (which
        the service encrypts under the newest key anyway) wins. Idempotent: credentials
        already under the newest key are left alone. Raises ``VaultError`` if a credential
        cannot be decrypted with any configured key (nothing after it is changed).
        """
        return await rotate_in_batches(
            self._uow,
            page=lambda uow, after, limit: uow.credentials.list_all(after=after, limit=limit),
            new_secret=lambda c: under_newest_key(self._vault, c.encrypted_key),
            swap=lambda uow, c, new: uow.credentials.replace_encrypted_key(c.id, old=c.encrypted_key, new=new),
            audit=lambda uow, c: self._audit(uow, None, "credential.rotate", c, None, None),
        )

    async def _api_base(self, api_base: str | None) -> str | None:
        return None if api_base is None else await self._check_url(api_base, field="api_base")

    @staticmethod
    async def _write(
        uow: UnitOfWork, before: StoredCredential, patch: CredentialPatch, expected_version: int | None
    ) -> StoredCredential:
        row = await uow.credentials.update(before.id, patch, expected_version=expected_version)
        return stored(row, expected_version, "credential")

    async def _visible(
        self, uow: UnitOfWork, actor: AdminPrincipal | None, credential_id: CredentialId
    ) -> StoredCredential:
        return seen(await uow.credentials.get(credential_id), actor, "credential")


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 200:
        raise InvalidValueError("name must be 1-200 characters")
    return name


def check_key(api_key: str) -> str:
    if not api_key or api_key != api_key.strip() or len(api_key) > MAX_KEY_LENGTH:
        raise InvalidValueError("api_key must be a non-empty key without surrounding spaces")
    return api_key
