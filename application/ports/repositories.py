"""Repositories: persistence of aggregates, used inside a unit of work.

Every method runs in the caller's unit of work (one transaction); nothing is durable
until ``UnitOfWork.commit``.
"""

from datetime import date, datetime
from decimal import Decimal
from typing import Protocol

import msgspec

from domain.access import AccessGroup, ModelAlias
from domain.calls import LlmCall
from domain.catalog import Provider
from domain.ids import ApiKeyId, CallId, CredentialId, JobId, OrganizationId, TeamId
from domain.jobs import CostSummary, Job, JobStatus
from domain.ledger import CreditBalance, EntryType, LedgerEntry, Settlement
from domain.organizations import Organization, Team


class ApiKey(msgspec.Struct, frozen=True, kw_only=True):
    """A team's virtual key as stored: its digest and visible prefix, never the key."""

    id: ApiKeyId
    team_id: TeamId
    organization_id: OrganizationId
    prefix: str
    digest: str
    created_at: datetime
    revoked_at: datetime | None = None


class StoredCredential(msgspec.Struct, frozen=True, kw_only=True):
    """A provider credential with its key encrypted by the vault."""

    id: CredentialId
    organization_id: OrganizationId
    provider: Provider
    name: str
    encrypted_key: str
    key_hint: str
    is_active: bool
    created_at: datetime
    api_base: str | None = None


class OrganizationRepository(Protocol):
    async def add(self, organization: Organization) -> None:
        """Insert; raises ``ConflictError`` when the slug is taken."""
        ...

    async def get(self, organization_id: OrganizationId) -> Organization | None: ...


class TeamRepository(Protocol):
    async def add(self, team: Team) -> None: ...

    async def get(self, team_id: TeamId) -> Team | None:
        """The team, or None when no such team exists."""
        ...

    async def update(self, team: Team) -> None:
        """Persist name, status, budget policy and access groups."""
        ...


class ApiKeyRepository(Protocol):
    async def add(self, key: ApiKey) -> None: ...

    async def find_active(self, digest: str) -> ApiKey | None:
        """The unrevoked key with this SHA-256 digest, or None (looked up by digest only)."""
        ...

    async def list_for_team(self, team_id: TeamId) -> list[ApiKey]: ...

    async def revoke(self, key_id: ApiKeyId, at: datetime) -> bool:
        """Revoke; False when there was no such unrevoked key."""
        ...


class AliasRepository(Protocol):
    async def add(self, alias: ModelAlias) -> None:
        """Insert; raises ``ConflictError`` when the alias name exists."""
        ...

    async def get(self, alias: str) -> ModelAlias | None: ...

    async def list(self) -> list[ModelAlias]: ...


class AccessGroupRepository(Protocol):
    async def add(self, group: AccessGroup) -> None:
        """Insert and attach its models; raises ``ConflictError`` when the name exists."""
        ...

    async def get(self, name: str) -> AccessGroup | None: ...


class CredentialRepository(Protocol):
    async def add(self, credential: StoredCredential) -> None: ...

    async def active_for(self, organization_id: OrganizationId, provider: Provider) -> StoredCredential | None:
        """The newest active credential of the organization for the provider, or None."""
        ...


class JobRepository(Protocol):
    async def add(self, job: Job) -> None:
        """Insert; raises ``ConflictError`` when (team, external_id) exists."""
        ...

    async def get(self, job_id: JobId, *, for_update: bool = False) -> Job | None:
        """The job, or None. ``for_update`` locks it until the transaction ends."""
        ...

    async def find_by_external_id(self, team_id: TeamId, external_id: str) -> Job | None: ...

    async def set_status(self, job_id: JobId, status: JobStatus) -> None:
        """Move an active job to another active status (pending → in_progress)."""
        ...

    async def add_call_totals(self, job_id: JobId, summary: CostSummary) -> None:
        """Add one call's summary to the job's running totals.

        A call that started before the job was finished may settle after it: then the
        summary is also added to the job's credits charged, its cost summary and its
        team's day summary, so nothing is lost from usage reports. Serialized with
        ``finish`` by the job's row lock.
        """
        ...

    async def finish(self, job_id: JobId, *, status: JobStatus, at: datetime, credits_charged: Decimal) -> None:
        """Record the final status, completion time and the credits charged."""
        ...

    async def update_metadata(self, job_id: JobId, metadata: dict[str, object]) -> None:
        """Replace the job's metadata (callers merge)."""
        ...

    async def list_for_team(
        self,
        team_id: TeamId,
        *,
        status: JobStatus | None,
        created_from: datetime | None,
        created_to: datetime | None,
        before: tuple[datetime, JobId] | None,
        limit: int,
    ) -> list[Job]:
        """Newest first; ``before`` is the (created_at, id) keyset cursor."""
        ...

    async def list_stale(self, created_before: datetime, limit: int) -> list[JobId]:
        """Active jobs created before the given time (for the expiry sweeper)."""
        ...


class CallRepository(Protocol):
    async def add(self, call: LlmCall) -> None: ...

    async def list_for_job(self, job_id: JobId) -> list[LlmCall]:
        """The job's calls, oldest first."""
        ...


class OutstandingHold(msgspec.Struct, frozen=True, kw_only=True):
    """Credits still held for a call (or for the job itself when ``call_id`` is None)."""

    call_id: CallId | None
    amount: Decimal


class CreditRepository(Protocol):
    async def balance(self, team_id: TeamId) -> CreditBalance:
        """The team's cached balance (equal to the replay of its ledger)."""
        ...

    async def apply(
        self,
        team_id: TeamId,
        kind: EntryType,
        amount: Decimal,
        *,
        at: datetime,
        job_id: JobId | None = None,
        call_id: CallId | None = None,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> LedgerEntry | None:
        """Append one entry and update the cached balance atomically.

        ``amount`` is signed (its effect on available credits). Returns None when an
        entry with this team's ``idempotency_key`` already exists (nothing changes).
        Raises ``InsufficientCreditsError`` when available credits would go below zero
        (a hold is one conditional statement: never a read-modify-write).
        """
        ...

    async def settle(
        self,
        team_id: TeamId,
        *,
        held: Decimal,
        actual: Decimal,
        at: datetime,
        job_id: JobId,
        call_id: CallId | None,
    ) -> Settlement:
        """Release ``held`` and debit ``actual`` (capped at what the team can pay).

        Idempotent per (job, call): a second settle of the same call changes nothing;
        a hold already released (by completion or the sweeper) is not released twice.
        """
        ...

    async def outstanding_holds(self, job_id: JobId) -> list[OutstandingHold]:
        """Holds of the job that were never released (calls in flight or crashed)."""
        ...

    async def entries(self, team_id: TeamId, *, before: tuple[datetime, int] | None, limit: int) -> list[LedgerEntry]:
        """Newest first; ``before`` is the keyset cursor (created_at, sequence)."""
        ...


class ModelUsage(msgspec.Struct, frozen=True, kw_only=True):
    model: str
    calls: int
    tokens: int
    customer_cost_usd: Decimal


class DayUsage(msgspec.Struct, frozen=True, kw_only=True):
    day: date
    calls: int
    tokens: int
    provider_cost_usd: Decimal
    customer_cost_usd: Decimal


class UsageReport(msgspec.Struct, frozen=True, kw_only=True):
    """A team's usage over a date range (completion dates of finished jobs)."""

    jobs_total: int
    jobs_completed: int
    jobs_failed: int
    jobs_cancelled: int
    totals: CostSummary
    by_model: list[ModelUsage]
    by_day: list[DayUsage]


class UsageRepository(Protocol):
    async def record_job(self, job: Job, *, status: JobStatus, summary: CostSummary, at: datetime) -> None:
        """Write the job's cost summary and add it to the team's day summary (same transaction)."""
        ...

    async def team_usage(self, team_id: TeamId, *, first_day: date, last_day: date) -> UsageReport: ...
