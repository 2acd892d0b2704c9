"""Operator use cases for tenants: organizations, teams and their virtual keys."""

import contextlib
import re
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal
from typing import Any, Protocol, TypeVar
from uuid import UUID

import msgspec

from application.errors import ConflictError, NotFoundError
from application.ports.repositories import ApiKey, JobOutcomes, OrganizationPatch, TeamPatch
from application.ports.system import Clock, IdGenerator, SecretGenerator
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.services._access import listing_scope, visible_organization, visible_team
from application.services._audit import audit
from application.services._events import threshold_changed
from application.services._versions import changed, check_version, given, stored
from domain.admins import AdminPrincipal, ForbiddenError, ensure_can_write, ensure_platform_wide, visible_scope
from domain.budgets import BudgetMode, BudgetPolicy
from domain.errors import InvalidValueError
from domain.ids import ApiKeyId, OrganizationId, TeamId
from domain.ledger import CreditBalance, EntryType, NewEntry, initial_allocation_key
from domain.money import CREDIT_PLACES, has_credit_precision
from domain.organizations import Organization, Team, TeamStatus, check_low_credit_threshold
from domain.rate_limits import UNLIMITED, RateLimits
from domain.secrets import digest_key

KEY_PREFIX_LENGTH = 12
MAX_NAME_LENGTH = 200
SCAN_PAGE = 500
SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,58}[a-z0-9])?$")


class IssuedKey(msgspec.Struct, frozen=True, kw_only=True):
    """A new virtual key: ``api_key`` is shown once and never stored."""

    key_id: ApiKeyId
    api_key: str
    prefix: str

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"IssuedKey(key_id={self.key_id}, prefix={self.prefix!r})"


class OpenedTeam(msgspec.Struct, frozen=True, kw_only=True):
    """A new team, its first key (shown once) and its balance after the initial allocation."""

    team: Team
    key: IssuedKey
    balance: CreditBalance


class TeamDetails(msgspec.Struct, frozen=True, kw_only=True):
    """A team as an operator inspects it: its balance and how its finished jobs ended."""

    team: Team
    balance: CreditBalance
    outcomes: JobOutcomes


class TeamChanges(msgspec.Struct, frozen=True, kw_only=True):
    """A partial team update: ``UNSET`` fields keep their value."""

    name: str | msgspec.UnsetType = msgspec.UNSET
    budget_mode: BudgetMode | msgspec.UnsetType = msgspec.UNSET
    credits_per_usd: Decimal | msgspec.UnsetType = msgspec.UNSET
    tokens_per_credit: int | msgspec.UnsetType = msgspec.UNSET
    access_groups: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    max_calls_per_job: int | msgspec.UnsetType = msgspec.UNSET
    charge_failed_jobs: bool | msgspec.UnsetType = msgspec.UNSET
    rpm_limit: int | msgspec.UnsetType | None = msgspec.UNSET  # None: unlimited
    tpm_limit: int | msgspec.UnsetType | None = msgspec.UNSET
    low_credit_threshold: Decimal | msgspec.UnsetType | None = msgspec.UNSET  # None: 10 % of the allocation


def organization_snapshot(organization: Organization) -> dict[str, Any]:
    return {"name": organization.name, "slug": organization.slug}


async def _audit_organization(
    uow: UnitOfWork,
    actor: AdminPrincipal | None,
    action: str,
    target: Organization,
    before: Organization | None,
    after: Organization | None,
    *,
    at: datetime,
) -> None:
    """``audit`` of a write to an organization (its own organization), named by its id."""
    await audit(
        uow,
        actor,
        action,
        target_type="organization",
        target_id=target.id,
        organization_id=target.id,
        at=at,
        before=organization_snapshot(before) if before is not None else None,
        after=organization_snapshot(after) if after is not None else None,
    )


def team_snapshot(team: Team) -> dict[str, Any]:
    return {
        "name": team.name,
        "status": team.status.value,
        "budget_mode": team.budget.mode.value,
        "credits_per_usd": str(team.budget.credits_per_usd),
        "tokens_per_credit": team.budget.tokens_per_credit,
        "max_calls_per_job": team.budget.max_calls_per_job,
        "charge_failed_jobs": team.budget.charge_failed_jobs,
        "access_groups": list(team.access_groups),
        "rpm_limit": team.rpm_limit,
        "tpm_limit": team.tpm_limit,
        "low_credit_threshold": str(team.low_credit_threshold) if team.low_credit_threshold is not None else None,
    }


class OrganizationService:
    """Rules:

    - slugs are unique and URL-safe; a team's access groups must exist;
    - a new team gets a first virtual key and, when asked, an initial credit allocation,
      in one transaction;
    - creating or deleting an organization needs an unscoped admin; an organization with
      teams cannot be deleted (their ledgers are kept);
    - viewers write nothing (403); an admin scoped to an organization sees only its own
      (anything else answers 404, exactly like what does not exist);
    - every write appends an audit entry in its own transaction. ``actor`` None is the
      system (CLI, seeding): trusted, audited as "system".
    """

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator, secrets: SecretGenerator) -> None:
        self._uow = uow
        self._clock = clock
        self._ids = ids
        self._secrets = secrets

    # ---- organizations -------------------------------------------------------------

    async def create_organization(
        self, *, name: str, slug: str | None = None, actor: AdminPrincipal | None = None
    ) -> Organization:
        if actor is not None:
            ensure_platform_wide(actor)
        organization = Organization(
            id=OrganizationId(self._ids.new_id()),
            name=check_name(name),
            slug=check_slug(slug) if slug is not None else slugify(name),
            created_at=self._clock.now(),
        )
        async with self._uow() as uow:
            await uow.organizations.add(organization)
            await _audit_organization(
                uow, actor, "organization.create", organization, None, organization, at=organization.created_at
            )
            await uow.commit()
        return organization

    async def list_organizations(
        self, actor: AdminPrincipal, *, after: tuple[datetime, OrganizationId] | None = None, limit: int = 50
    ) -> list[Organization]:
        async with self._uow() as uow:
            return await uow.organizations.list(only=visible_scope(actor, None), after=after, limit=limit)

    async def get_organization(self, actor: AdminPrincipal, organization_id: OrganizationId) -> Organization:
        async with self._uow() as uow:
            return await visible_organization(uow, actor, organization_id)

    async def find_organization(self, reference: str) -> Organization | None:
        """The organization with this id or slug, for the system (the CLI, the demo); None
        when there is none. Slugs are found by a keyset scan: organizations are the
        operator's customers, a few thousand at most, and this is no request path."""
        async with self._uow() as uow:
            with contextlib.suppress(ValueError):
                found = await uow.organizations.get(OrganizationId(UUID(reference)))
                if found is not None:
                    return found
            return await _first(
                lambda after: uow.organizations.list(only=None, after=after, limit=SCAN_PAGE),
                lambda o: o.slug == reference,
            )

    async def find_team(self, organization_id: OrganizationId, name: str) -> Team | None:
        """The organization's oldest team of this name, for the system (the demo); None when none."""
        async with self._uow() as uow:
            return await _first(
                lambda after: uow.teams.list(organization_id=organization_id, after=after, limit=SCAN_PAGE),
                lambda t: t.name == name,
            )

    async def update_organization(
        self,
        actor: AdminPrincipal,
        organization_id: OrganizationId,
        *,
        name: str | None = None,
        slug: str | None = None,
        expected_version: int | None = None,
    ) -> Organization:
        ensure_can_write(actor)
        async with self._uow() as uow:
            before = await visible_organization(uow, actor, organization_id)
            check_version(before.version, expected_version)
            patch = OrganizationPatch(
                name=changed(before.name, check_name(name)) if name is not None else msgspec.UNSET,
                slug=changed(before.slug, check_slug(slug)) if slug is not None else msgspec.UNSET,
            )
            after = stored(
                await uow.organizations.update(organization_id, patch, expected_version=expected_version),
                expected_version,
                "organization",
            )
            await _audit_organization(uow, actor, "organization.update", after, before, after, at=self._clock.now())
            await uow.commit()
        return after

    async def delete_organization(self, actor: AdminPrincipal, organization_id: OrganizationId) -> None:
        """Delete an organization without teams, with its credentials, webhooks and scoped admins."""
        ensure_can_write(actor)
        async with self._uow() as uow:
            organization = await visible_organization(uow, actor, organization_id)
            if actor.organization_id is not None:
                raise ForbiddenError("organization-scoped admins cannot delete organizations")
            if await uow.teams.list(organization_id=organization_id, after=None, limit=1):
                raise ConflictError("the organization still has teams")
            await uow.organizations.delete(organization_id)
            await _audit_organization(
                uow, actor, "organization.delete", organization, organization, None, at=self._clock.now()
            )
            await uow.commit()

    # ---- teams ---------------------------------------------------------------------

    async def create_team(self, **team: Any) -> tuple[Team, IssuedKey]:
        """``open_team`` (same keyword arguments) for callers that show no balance (CLI, seeding, the panel)."""
        opened = await self.open_team(**team)
        return opened.team, opened.key

    async def open_team(
        self,
        *,
        organization_id: OrganizationId,
        name: str,
        budget: BudgetPolicy,
        credits: Decimal | None = None,
        access_groups: tuple[str, ...] = (),
        rate_limits: RateLimits = UNLIMITED,
        actor: AdminPrincipal | None = None,
        low_credit_threshold: Decimal | None = None,
    ) -> OpenedTeam:
        """A team with a first virtual key and, when ``credits`` is given, its initial
        allocation, in one transaction; the balance is read in that transaction."""
        if actor is not None:
            ensure_can_write(actor)
        if credits is not None and (not has_credit_precision(credits) or credits < 0):
            raise InvalidValueError(f"credits must be a positive amount with at most {CREDIT_PLACES} decimal places")
        now = self._clock.now()
        team = Team(
            id=TeamId(self._ids.new_id()),
            organization_id=organization_id,
            name=check_name(name),
            status=TeamStatus.ACTIVE,
            budget=budget,
            created_at=now,
            access_groups=access_groups,
            rpm_limit=rate_limits.requests_per_minute,
            tpm_limit=rate_limits.tokens_per_minute,
            low_credit_threshold=low_credit_threshold,
        )
        async with self._uow() as uow:
            await visible_organization(uow, actor, organization_id)
            await _ensure_groups_exist(uow, access_groups)
            await uow.teams.add(team)
            key = await self._issue_key(uow, team, now)
            if credits:
                await uow.credits.apply(
                    NewEntry(
                        team.id,
                        EntryType.ALLOCATION,
                        credits,
                        created_at=now,
                        reason="initial credits",
                        idempotency_key=initial_allocation_key(team.id),
                    )
                )
            await audit(
                uow,
                actor,
                "team.create",
                target_type="team",
                target_id=team.id,
                organization_id=organization_id,
                at=now,
                after={**team_snapshot(team), "credits": str(credits or 0), "key_prefix": key.prefix},
            )
            balance = await uow.credits.balance(team.id)
            await uow.commit()
        return OpenedTeam(team=team, key=key, balance=balance)

    async def list_teams(
        self,
        actor: AdminPrincipal,
        *,
        organization_id: OrganizationId | None = None,
        after: tuple[datetime, TeamId] | None = None,
        limit: int = 50,
    ) -> list[Team]:
        scope = listing_scope(actor, organization_id)
        async with self._uow() as uow:
            if organization_id is not None:
                await visible_organization(uow, actor, organization_id)  # 404 for an unknown one too
            return await uow.teams.list(organization_id=scope, after=after, limit=limit)

    async def get_team(self, actor: AdminPrincipal | None, team_id: TeamId) -> Team:
        async with self._uow() as uow:
            return await visible_team(uow, actor, team_id)

    async def team_details(self, actor: AdminPrincipal, team_id: TeamId) -> TeamDetails:
        """The team with its credit balance and its jobs' outcomes (all time), read together."""
        async with self._uow() as uow:
            team = await visible_team(uow, actor, team_id)
            balance = await uow.credits.balance(team.id)
            outcomes = await uow.usage.job_outcomes(team.id)
        return TeamDetails(team=team, balance=balance, outcomes=outcomes)

    async def update_team(
        self,
        actor: AdminPrincipal | None,
        team_id: TeamId,
        changes: TeamChanges,
        *,
        expected_version: int | None = None,
    ) -> Team:
        """Change the fields given (only those are written; ``expected_version`` guards the
        row); ``actor`` None is the system (the CLI)."""
        if actor is not None:
            ensure_can_write(actor)
        async with self._uow() as uow:
            before = await visible_team(uow, actor, team_id)
            check_version(before.version, expected_version)
            budget = BudgetPolicy(  # validates the combination as this admin sees it
                mode=given(changes.budget_mode, before.budget.mode),
                credits_per_usd=given(changes.credits_per_usd, before.budget.credits_per_usd),
                tokens_per_credit=given(changes.tokens_per_credit, before.budget.tokens_per_credit),
                max_calls_per_job=given(changes.max_calls_per_job, before.budget.max_calls_per_job),
                charge_failed_jobs=given(changes.charge_failed_jobs, before.budget.charge_failed_jobs),
            )
            groups = given(changes.access_groups, before.access_groups)
            await _ensure_groups_exist(uow, groups)
            limits = RateLimits(  # validates both
                requests_per_minute=given(changes.rpm_limit, before.rpm_limit),
                tokens_per_minute=given(changes.tpm_limit, before.tpm_limit),
            )
            patch = TeamPatch(
                name=changed(before.name, check_name(given(changes.name, before.name))),
                budget_mode=changed(before.budget.mode, budget.mode),
                credits_per_usd=changed(before.budget.credits_per_usd, budget.credits_per_usd),
                tokens_per_credit=changed(before.budget.tokens_per_credit, budget.tokens_per_credit),
                max_calls_per_job=changed(before.budget.max_calls_per_job, budget.max_calls_per_job),
                charge_failed_jobs=changed(before.budget.charge_failed_jobs, budget.charge_failed_jobs),
                access_groups=changed(before.access_groups, groups),
                rpm_limit=changed(before.rpm_limit, limits.requests_per_minute),
                tpm_limit=changed(before.tpm_limit, limits.tokens_per_minute),
                low_credit_threshold=changed(
                    before.low_credit_threshold,
                    check_low_credit_threshold(given(changes.low_credit_threshold, before.low_credit_threshold)),
                ),
            )
            after = await self._write_team(uow, before, patch, expected_version)
            await self._audit_team(uow, actor, "team.update", before, after)
            if after.low_credit_threshold != before.low_credit_threshold:
                # A new threshold is a crossing of its own: low now → notify (once), not → re-arm.
                await threshold_changed(uow, after, await uow.credits.balance(team_id), at=self._clock.now())
            await uow.commit()
        return after

    async def set_status(
        self,
        team_id: TeamId,
        status: TeamStatus,
        *,
        actor: AdminPrincipal | None = None,
        expected_version: int | None = None,
    ) -> Team:
        """Suspend (client calls answer 403 within a second) or resume a team: writes the status only."""
        if actor is not None:
            ensure_can_write(actor)
        async with self._uow() as uow:
            before = await visible_team(uow, actor, team_id)
            check_version(before.version, expected_version)
            wanted = before.with_status(status)
            after = await self._write_team(
                uow, before, TeamPatch(status=changed(before.status, wanted.status)), expected_version
            )
            action = "team.suspend" if status is TeamStatus.SUSPENDED else "team.resume"
            await self._audit_team(uow, actor, action, before, after)
            await uow.commit()
        return after

    async def set_access_groups(
        self, team_id: TeamId, groups: tuple[str, ...], *, actor: AdminPrincipal | None = None
    ) -> Team:
        if actor is not None:
            ensure_can_write(actor)
        async with self._uow() as uow:
            before = await visible_team(uow, actor, team_id)
            await _ensure_groups_exist(uow, groups)
            patch = TeamPatch(access_groups=changed(before.access_groups, groups))
            after = await self._write_team(uow, before, patch, None)
            await self._audit_team(uow, actor, "team.update", before, after)
            await uow.commit()
        return after

    @staticmethod
    async def _write_team(uow: UnitOfWork, before: Team, patch: TeamPatch, expected_version: int | None) -> Team:
        return stored(
            await uow.teams.update(before.id, patch, expected_version=expected_version), expected_version, "team"
        )

    # ---- virtual keys --------------------------------------------------------------

    async def issue_key(self, team_id: TeamId, *, actor: AdminPrincipal | None = None) -> IssuedKey:
        if actor is not None:
            ensure_can_write(actor)
        async with self._uow() as uow:
            team = await visible_team(uow, actor, team_id)
            now = self._clock.now()
            key = await self._issue_key(uow, team, now)
            await audit(
                uow,
                actor,
                "team.key.create",
                target_type="api_key",
                target_id=key.key_id,
                organization_id=team.organization_id,
                at=now,
                after={"team_id": str(team.id), "prefix": key.prefix},
            )
            await uow.commit()
        return key

    async def list_keys(self, actor: AdminPrincipal, team_id: TeamId) -> list[ApiKey]:
        """The team's keys, revoked ones included (prefixes and digests only)."""
        async with self._uow() as uow:
            team = await visible_team(uow, actor, team_id)
            return await uow.api_keys.list_for_team(team.id)

    async def revoke_key(self, actor: AdminPrincipal, team_id: TeamId, key_id: ApiKeyId) -> None:
        """Revoke one of the team's keys (it stops working within a second everywhere)."""
        ensure_can_write(actor)
        async with self._uow() as uow:
            team = await visible_team(uow, actor, team_id)
            keys = {k.id: k for k in await uow.api_keys.list_for_team(team.id)}
            key = keys.get(key_id)
            now = self._clock.now()
            if key is None or key.revoked_at is not None or not await uow.api_keys.revoke(key_id, now):
                raise NotFoundError("key not found")
            await audit(
                uow,
                actor,
                "team.key.revoke",
                target_type="api_key",
                target_id=key_id,
                organization_id=team.organization_id,
                at=now,
                before={"team_id": str(team.id), "prefix": key.prefix},
            )
            await uow.commit()

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

    async def _audit_team(
        self, uow: UnitOfWork, actor: AdminPrincipal | None, action: str, before: Team, after: Team
    ) -> None:
        await audit(
            uow,
            actor,
            action,
            target_type="team",
            target_id=before.id,
            organization_id=before.organization_id,
            at=self._clock.now(),
            before=team_snapshot(before),
            after=team_snapshot(after),
        )


async def _ensure_groups_exist(uow: UnitOfWork, groups: tuple[str, ...]) -> None:
    for name in groups:
        if await uow.access_groups.get(name) is None:
            raise InvalidValueError(f"access group '{name}' does not exist")


def check_name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise InvalidValueError(f"name must be 1-{MAX_NAME_LENGTH} characters")
    return name


def check_slug(slug: str) -> str:
    if not SLUG.match(slug):
        raise InvalidValueError("slug must be 1-60 lowercase letters, digits or dashes")
    return slug


def slugify(name: str) -> str:
    cleaned = "".join(c if c.isalnum() else "-" for c in name.lower())
    return "-".join(part for part in cleaned.split("-") if part)[:60].strip("-") or "org"


class _Listed(Protocol):
    @property
    def created_at(self) -> datetime: ...

    @property
    def id(self) -> Any: ...


L = TypeVar("L", bound=_Listed)


async def _first(page: Callable[[Any], Awaitable[list[L]]], wanted: Callable[[L], bool]) -> L | None:
    """The first row ``wanted`` picks from a keyset-paged listing, oldest first."""
    after = None
    while rows := await page(after):
        for row in rows:
            if wanted(row):
                return row
        after = (rows[-1].created_at, rows[-1].id)
    return None
