"""Provider credentials, stored encrypted (the vault encrypts before they get here)."""

from typing import Any

from adapters.postgres.repositories.rows import from_row, page_after_id
from adapters.postgres.session import SessionRepository
from application.ports.repositories import CredentialPatch, StoredCredential
from domain.catalog import Provider, ProviderName
from domain.ids import CredentialId, OrganizationId

_COLUMNS = "id, organization_id, provider, name, encrypted_key, key_hint, is_active, created_at, api_base"
_READ_COLUMNS = _COLUMNS + ", version"
_PAGE = page_after_id(_READ_COLUMNS, "provider_credentials")
# Only the patch's columns are written — the ciphertext only with a new key, so an update
# never writes back a key ``rotate-keys`` re-encrypted meanwhile — and only while the
# version is the one the caller read (when it sent one).
_VERSIONED = "WHERE id = %(id)s AND (%(expected)s::integer IS NULL OR version = %(expected)s::integer)"


class PostgresCredentialRepository(SessionRepository):
    async def add(self, credential: StoredCredential) -> None:
        c = credential
        await self._s.run(
            f"INSERT INTO provider_credentials ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                c.id,
                c.organization_id,
                str(c.provider),
                c.name,
                c.encrypted_key,
                c.key_hint,
                c.is_active,
                c.created_at,
                c.api_base,
            ),
        )

    async def active_for(self, organization_id: OrganizationId, provider: ProviderName) -> StoredCredential | None:
        row = await self._s.one(
            f"""
            SELECT {_READ_COLUMNS} FROM provider_credentials
            WHERE organization_id = %s AND provider = %s AND is_active
            ORDER BY created_at DESC
            LIMIT 1
            """,
            (organization_id, str(provider)),
        )
        return _credential(row) if row is not None else None

    async def get(self, credential_id: CredentialId) -> StoredCredential | None:
        row = await self._s.one(f"SELECT {_READ_COLUMNS} FROM provider_credentials WHERE id = %s", (credential_id,))
        return _credential(row) if row is not None else None

    async def list_for_organization(self, organization_id: OrganizationId) -> list[StoredCredential]:
        rows = await self._s.all(
            f"SELECT {_READ_COLUMNS} FROM provider_credentials WHERE organization_id = %s ORDER BY created_at, id",
            (organization_id,),
        )
        return [_credential(r) for r in rows]

    async def list_all(self, *, after: CredentialId | None, limit: int) -> list[StoredCredential]:
        rows = await self._s.all(_PAGE, {"after": after, "limit": limit})
        return [_credential(r) for r in rows]

    async def update(
        self, credential_id: CredentialId, patch: CredentialPatch, *, expected_version: int | None
    ) -> StoredCredential | None:
        # its fields are the column names
        given = {k: v.value if isinstance(v, Provider) else v for k, v in patch.given().items()}
        if given:
            sets = "".join(f"{column} = %({column})s, " for column in given)
            query = (
                f"UPDATE provider_credentials SET {sets}version = version + 1 {_VERSIONED} RETURNING {_READ_COLUMNS}"
            )
        else:
            query = f"SELECT {_READ_COLUMNS} FROM provider_credentials {_VERSIONED}"
        row = await self._s.one(query, {**given, "id": credential_id, "expected": expected_version})
        return _credential(row) if row is not None else None

    async def replace_encrypted_key(self, credential_id: CredentialId, *, old: str, new: str) -> bool:
        changed = await self._s.run(
            "UPDATE provider_credentials SET encrypted_key = %s WHERE id = %s AND encrypted_key = %s",
            (new, credential_id, old),
        )
        return changed == 1

    async def delete(self, credential_id: CredentialId) -> bool:
        return await self._s.run("DELETE FROM provider_credentials WHERE id = %s", (credential_id,)) == 1


def _credential(row: dict[str, Any]) -> StoredCredential:
    return from_row(StoredCredential, row)
