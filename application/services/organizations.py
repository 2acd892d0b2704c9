"""Operator use cases for tenants: organizations, teams and their virtual keys."""

from datetime import datetime
from decimal import Decimal

import msgspec

from application.errors import NotFoundError
from application.ports.repositories import ApiKey
from application.ports.system import Clock, IdGenerator, SecretGenerator
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from domain.budgets import BudgetPolicy
from domain.errors import InvalidValueError
from domain.ids import ApiKeyId, OrganizationId, TeamId
from domain.ledger import EntryType
from domain.organizations import Organization, Team, TeamStatus
from domain.secrets import digest_key

KEY_PREFIX_LENGTH = 12


class IssuedKey(msgspec.Struct, frozen=True, kw_only=True):
    """A new virtual key: ``api_key`` is shown once and never stored."""

    key_id: ApiKeyId
    api_key: str
    prefix: str


class OrganizationService:
    """Rules: slugs are unique; a team's access groups must exist; a new team gets a
    first virtual key and, when asked, an initial credit allocation in one transaction."""

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator, secrets: SecretGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._secrets = secrets

    async def create_organization(self, *, name: str, slug: str | None = None) -> Organization:
        if not name.strip():
            raise InvalidValueError("name must not be empty")
        organization = Organization(
            id=OrganizationId(self._ids.new_id()),
            name=name.strip(),
            slug=slug or slugify(name),
            created_at=self._clock.now(),
        )
        async with self._uow() as uow:
            await uow.organizations.add(organization)
            await uow.commit()
        return organization

    async def create_team(
        self,
        *,
        organization_id: OrganizationId,
        name: str,
        budget: BudgetPolicy,
        credits: Decimal | None = None,
        access_groups: tuple[str, ...] = (),
    ) -> tuple[Team, IssuedKey]:
        if not name.strip():
            raise InvalidValueError("name must not be empty")
        now = self._clock.now()
        team = Team(
            id=TeamId(self._ids.new_id()),
            organization_id=organization_id,
            name=name.strip(),
            status=TeamStatus.ACTIVE,
            budget=budget,
            created_at=now,
            access_groups=access_groups,
        )
        async with self._uow() as uow:
            if await uow.organizations.get(organization_id) is None:
                raise NotFoundError("organization not found")
            await _ensure_groups_exist(uow, access_groups)
            await uow.teams.add(team)
            key = await self._issue_key(uow, team, now)
            if credits:
                await uow.credits.apply(
                    team.id,
                    EntryType.ALLOCATION,
                    credits,
                    at=now,
                    reason="initial credits",
                    idempotency_key=f"initial:{team.id}",
                )
            await uow.commit()
        return team, key

    async def issue_key(self, team_id: TeamId) -> IssuedKey:
        async with self._uow() as uow:
            team = await uow.teams.get(team_id)
            if team is None:
                raise NotFoundError("team not found")
            key = await self._issue_key(uow, team, self._clock.now())
            await uow.commit()
        return key

    async def set_status(self, team_id: TeamId, status: TeamStatus) -> Team:
        async with self._uow() as uow:
            team = await uow.teams.get(team_id)
            if team is None:
                raise NotFoundError("team not found")
            team = msgspec.structs.replace(team, status=status)
            await uow.teams.update(team)
            await uow.commit()
        return team

    async def set_access_groups(self, team_id: TeamId, groups: tuple[str, ...]) -> Team:
        async with self._uow() as uow:
            team = await uow.teams.get(team_id)
            if team is None:
                raise NotFoundError("team not found")
            await _ensure_groups_exist(uow, groups)
            team = msgspec.structs.replace(team, access_groups=groups)
            await uow.teams.update(team)
            await uow.commit()
        return team

    async def _issue_key(self, uow: UnitOfWork, team: Team, now: datetime) -> IssuedKey:
        secret = self._secrets.new_api_key()
        key = ApiKey(
            id=ApiKeyId(self._ids.new_id()),
            team_id=team.id,
            organization_id=team.organization_id,
            prefix=secret[:KEY_PREFIX_LENGTH],
            digest=digest_key(secret),
            created_at=now,
        )
        await uow.api_keys.add(key)
        return IssuedKey(key_id=key.id, api_key=secret, prefix=key.prefix)


async def _ensure_groups_exist(uow: UnitOfWork, groups: tuple[str, ...]) -> None:
    for name in groups:
        if await uow.access_groups.get(name) is None:
            raise InvalidValueError(f"access group '{name}' does not exist")


def slugify(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:60] or "org"
