"""Provider credentials, stored encrypted (the vault encrypts before they get here)."""

from adapters.postgres.session import Session
from application.ports.repositories import StoredCredential
from domain.catalog import Provider
from domain.ids import OrganizationId

_COLUMNS = "id, organization_id, provider, name, encrypted_key, key_hint, is_active, created_at, api_base"


class PostgresCredentialRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def add(self, credential: StoredCredential) -> None:
        c = credential
        await self._s.run(
            f"INSERT INTO provider_credentials ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (
                c.id,
                c.organization_id,
                c.provider.value,
                c.name,
                c.encrypted_key,
                c.key_hint,
                c.is_active,
                c.created_at,
                c.api_base,
            ),
        )

    async def active_for(self, organization_id: OrganizationId, provider: Provider) -> StoredCredential | None:
        row = await self._s.one(
            f"""
            SELECT {_COLUMNS} FROM provider_credentials
            WHERE organization_id = %s AND provider = %s AND is_active
            ORDER BY created_at DESC
            LIMIT 1
            """,
            (organization_id, provider.value),
        )
        if row is None:
            return None
        return StoredCredential(
            id=row["id"],
            organization_id=row["organization_id"],
            provider=Provider(row["provider"]),
            name=row["name"],
            encrypted_key=row["encrypted_key"],
            key_hint=row["key_hint"],
            is_active=row["is_active"],
            created_at=row["created_at"],
            api_base=row["api_base"],
        )
