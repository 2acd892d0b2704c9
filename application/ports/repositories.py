"""Repositories: persistence of aggregates, used inside a unit of work.

Every method runs in the caller's unit of work (one transaction); nothing is durable
until ``UnitOfWork.commit``.
"""

from datetime import date, datetime
from decimal import Decimal, localcontext
from typing import Any, Protocol, TypedDict, Unpack

import msgspec

from domain.access import AccessGroup, ModelAlias
from domain.budgets import BudgetMode
from domain.calls import LlmCall
from domain.catalog import ProviderName
from domain.economics import ratio
from domain.ids import ApiKeyId, CallId, CredentialId, JobId, OrganizationId, TeamId
from domain.jobs import CostSummary, Job, JobStatus
from domain.ledger import CreditBalance, LedgerEntry, NewEntry, Settlement
from domain.money import EXACT, ZERO
from domain.organizations import Organization, Team, TeamStatus
from domain.routing import AliasTarget, RoutingStrategy


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
    provider: ProviderName
    name: str
    encrypted_key: str
    key_hint: str
    is_active: bool
    created_at: datetime
    api_base: str | None = None
    version: int = 1  # bumped by every change the API shows (re-encryption under a new vault key is not one)


class Patch(msgspec.Struct, frozen=True, kw_only=True):
    """The columns one update writes: ``UNSET`` fields keep what is stored.

    Updates write only what they change, so two admins changing different fields of one
    row at once both win (a rename racing a suspension leaves the team suspended).
    """

    def given(self) -> dict[str, Any]:
        """The fields to write, by name (a nested patch only when it gives something)."""
        found: dict[str, Any] = {}
        for name in self.__struct_fields__:
            value = getattr(self, name)
            if isinstance(value, msgspec.UnsetType) or (isinstance(value, Patch) and not value.given()):
                continue
            found[name] = value
        return found


class OrganizationPatch(Patch, frozen=True, kw_only=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    slug: str | msgspec.UnsetType = msgspec.UNSET


class TeamPatch(Patch, frozen=True, kw_only=True):
    name: str | msgspec.UnsetType = msgspec.UNSET
    status: TeamStatus | msgspec.UnsetType = msgspec.UNSET
    budget_mode: BudgetMode | msgspec.UnsetType = msgspec.UNSET
    credits_per_usd: Decimal | msgspec.UnsetType = msgspec.UNSET
    tokens_per_credit: int | msgspec.UnsetType = msgspec.UNSET
    max_calls_per_job: int | msgspec.UnsetType = msgspec.UNSET
    charge_failed_jobs: bool | msgspec.UnsetType = msgspec.UNSET
    access_groups: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    rpm_limit: int | msgspec.UnsetType | None = msgspec.UNSET  # None: unlimited
    tpm_limit: int | msgspec.UnsetType | None = msgspec.UNSET
    low_credit_threshold: Decimal | msgspec.UnsetType | None = msgspec.UNSET  # None: 10 % of the allocation


class PricePatch(Patch, frozen=True, kw_only=True):
    """Prices of one side of a sheet (USD per 1M tokens); None clears an optional one."""

    input_per_million: Decimal | msgspec.UnsetType = msgspec.UNSET
    output_per_million: Decimal | msgspec.UnsetType = msgspec.UNSET
    cached_input_per_million: Decimal | msgspec.UnsetType | None = msgspec.UNSET
    cache_write_per_million: Decimal | msgspec.UnsetType | None = msgspec.UNSET
    reasoning_per_million: Decimal | msgspec.UnsetType | None = msgspec.UNSET


class AliasPatch(Patch, frozen=True, kw_only=True):
    provider: ProviderName | msgspec.UnsetType = msgspec.UNSET
    provider_model: str | msgspec.UnsetType = msgspec.UNSET
    default_max_tokens: int | msgspec.UnsetType = msgspec.UNSET
    fallbacks: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    access_groups: tuple[str, ...] | msgspec.UnsetType = msgspec.UNSET
    customer_prices: PricePatch = msgspec.field(default_factory=PricePatch)
    provider_costs: PricePatch = msgspec.field(default_factory=PricePatch)
    targets: tuple[AliasTarget, ...] | msgspec.UnsetType = msgspec.UNSET  # replaces all further targets
    routing: RoutingStrategy | msgspec.UnsetType = msgspec.UNSET
    cache_ttl_s: int | msgspec.UnsetType | None = msgspec.UNSET
    cached_response_price_factor: Decimal | msgspec.UnsetType = msgspec.UNSET


class CredentialPatch(Patch, frozen=True, kw_only=True):
    """``encrypted_key`` is given only with a new key: never written back as it was read."""

    provider: ProviderName | msgspec.UnsetType = msgspec.UNSET
    name: str | msgspec.UnsetType = msgspec.UNSET
    encrypted_key: str | msgspec.UnsetType = msgspec.UNSET
    key_hint: str | msgspec.UnsetType = msgspec.UNSET
    api_base: str | msgspec.UnsetType | None = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET

    def __repr__(self) -> str:  # the ciphertext stays out of logs and tracebacks
        return f"CredentialPatch(fields={sorted(self.given())})"


class OrganizationRepository(Protocol):
    async def add(self, organization: Organization) -> None:
        """Insert; raises ``ConflictError`` when the slug is taken."""
        ...

    async def get(self, organization_id: OrganizationId) -> Organization | None: ...

    async def list(
        self, *, only: OrganizationId | None, after: tuple[datetime, OrganizationId] | None, limit: int
    ) -> list[Organization]:
        """Oldest first; ``only`` limits to one organization, ``after`` is the keyset cursor."""
        ...

    async def update(
        self, organization_id: OrganizationId, patch: OrganizationPatch, *, expected_version: int | None
    ) -> Organization | None:
        """Write the patch's given fields and bump the row's version, atomically, and only if the
        stored version still is ``expected_version`` (any version when None).

        Returns the row as stored afterwards (concurrent changes to other fields included),
        or None when no row matched: unknown, or changed since ``expected_version``. An
        empty patch writes nothing (the version condition still applies). Raises
        ``ConflictError`` when the slug is taken. Every ``update`` below works the same way.
        """
        ...

    async def delete(self, organization_id: OrganizationId) -> bool:
        """Delete with its credentials, webhooks and scoped admin users; False when unknown.

        The caller makes sure the organization has no teams (their ledgers are kept).
        """
        ...


class TeamRepository(Protocol):
    async def add(self, team: Team) -> None: ...

    async def get(self, team_id: TeamId) -> Team | None:
        """The team, or None when no such team exists."""
        ...

    async def update(self, team_id: TeamId, patch: TeamPatch, *, expected_version: int | None) -> Team | None:
        """As ``OrganizationRepository.update``; access groups, when given, replace the team's
        (in the given order). Credit movements never touch the version."""
        ...

    async def list(
        self, *, organization_id: OrganizationId | None, after: tuple[datetime, TeamId] | None, limit: int
    ) -> list[Team]:
        """Oldest first; ``organization_id`` None lists every organization's teams."""
        ...

    async def flag_credits_low(self, team_id: TeamId, at: datetime) -> bool:
        """Raise the team's "credits low" flag; True only for the call that raised it.

        Atomic, so concurrent completions notify once per crossing of the threshold.
        """
        ...

    async def clear_credits_low(self, team_id: TeamId) -> bool:
        """Lower the flag (credits were topped up); True when it was raised."""
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

    async def get(self, alias: str) -> ModelAlias | None:
        """The alias with its further ``targets`` and its ``fallback_targets`` (each fallback
        alias's primary then its own targets, in fallback order; a fallback bound to another
        organization than the alias's is left out), read in one go."""
        ...

    async def list(self) -> list[ModelAlias]: ...

    async def update(self, alias: str, patch: AliasPatch, *, expected_version: int | None) -> ModelAlias | None:
        """As ``OrganizationRepository.update``; access groups, when given, replace the alias's
        memberships (groups are created if new) and bump the version of every group joined
        or left; targets, when given, replace the alias's further targets."""
        ...

    async def delete(self, alias: str) -> bool:
        """Delete the alias and its group memberships; False when unknown."""
        ...


class AccessGroupRepository(Protocol):
    async def add(self, group: AccessGroup) -> None:
        """Insert and attach its models; raises ``ConflictError`` when the name exists."""
        ...

    async def get(self, name: str) -> AccessGroup | None: ...

    async def list(self) -> list[AccessGroup]:
        """Every group with its models, by name."""
        ...

    async def set_models(
        self, name: str, models: tuple[str, ...], *, expected_version: int | None
    ) -> AccessGroup | None:
        """Replace the group's members (the aliases must exist) and bump its version, only if its
        version still is ``expected_version`` (any when None); the aliases that joined or left
        get their versions bumped too. The group afterwards, or None when no group matched."""
        ...

    async def delete(self, name: str) -> bool:
        """Delete the group, detaching it from aliases and teams; False when unknown."""
        ...


class CredentialRepository(Protocol):
    async def add(self, credential: StoredCredential) -> None: ...

    async def get(self, credential_id: CredentialId) -> StoredCredential | None: ...

    async def list_for_organization(self, organization_id: OrganizationId) -> list[StoredCredential]:
        """Oldest first."""
        ...

    async def list_all(self, *, after: CredentialId | None, limit: int) -> list[StoredCredential]:
        """Every organization's credentials by id (for re-encryption in batches)."""
        ...

    async def update(
        self, credential_id: CredentialId, patch: CredentialPatch, *, expected_version: int | None
    ) -> StoredCredential | None:
        """As ``OrganizationRepository.update``."""
        ...

    async def replace_encrypted_key(self, credential_id: CredentialId, *, old: str, new: str) -> bool:
        """Swap the ciphertext only if it is still ``old`` (a concurrent change wins); True if swapped.

        Leaves the version alone: re-encryption changes nothing the API shows.
        """
        ...

    async def delete(self, credential_id: CredentialId) -> bool: ...

    async def active_for(self, organization_id: OrganizationId, provider: ProviderName) -> StoredCredential | None:
        """The newest active credential of the organization for the provider, or None."""
        ...


DEFAULT_JOB_PAGE = 50


class JobFilters(TypedDict, total=False):
    """The filters of a job listing; a missing one (or None) is not applied."""

    status: JobStatus | None
    created_from: datetime | None  # created at or after
    created_to: datetime | None  # created before
    before: tuple[datetime, JobId] | None  # the (created_at, id) keyset cursor
    limit: int  # DEFAULT_JOB_PAGE when missing


class JobQuery(msgspec.Struct, frozen=True, kw_only=True):
    """``JobFilters`` as an adapter reads them: a missing filter None, a missing limit the default page."""

    status: JobStatus | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    before: tuple[datetime, JobId] | None = None
    limit: int = DEFAULT_JOB_PAGE


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

    async def search(
        self, *, organization_id: OrganizationId | None, team_id: TeamId | None, **filters: Unpack[JobFilters]
    ) -> list[Job]:
        """Jobs newest first, of one team or across teams (the admin listing); None filters are
        not applied; ``before`` is the (created_at, id) keyset cursor."""
        ...

    async def list_stale(self, active_before: datetime, limit: int) -> list[JobId]:
        """Active jobs whose last activity (or creation) is before the given time, oldest first."""
        ...

    async def begin_closing(self, job_id: JobId, status: JobStatus) -> None:
        """Stop the (locked, active) job from accepting calls; it finishes as ``status`` once
        its calls in flight have settled. The first status asked for is kept."""
        ...

    async def list_closing(self, limit: int) -> list[JobId]:
        """Active jobs waiting for their calls in flight to settle before they finish."""
        ...


class CallLease(msgspec.Struct, frozen=True, kw_only=True):
    """A call in flight: its hold (0 for job_based teams) and until when it is alive.

    While the lease is live nothing releases or captures the hold; it is renewed while a
    stream runs. If the call's outcome is never recorded, the lease expires and the
    sweeper captures the hold as an ``unsettled`` debit.
    """

    call_id: CallId
    job_id: JobId
    team_id: TeamId
    held: Decimal
    alias: str
    provider: ProviderName
    expires_at: datetime
    created_at: datetime


class CallLedger(Protocol):
    """The two writes of a call's hot path, each one statement, durable when it returns.

    They run on their own (no unit of work): a call starts with ``reserve`` and ends with
    ``record``, and nothing between them holds a database connection.
    """

    async def reserve(self, lease: CallLease, *, at: datetime) -> None:
        """Start a call: in one statement, lock the job and check it (the lease's team's,
        active, not closing, under its team's ``max_calls_per_job``), hold ``lease.held``
        credits, store the lease and move the job to ``in_progress`` with ``at`` as its
        activity.

        Raises ``NotFoundError`` (no such job for this team), ``JobNotActiveError``
        (finished or closing), ``JobCallLimitError`` or ``InsufficientCreditsError``;
        then nothing changed.
        """
        ...

    async def record(
        self, call: LlmCall, *, actual: Decimal, at: datetime | None, reason: str | None = None
    ) -> LlmCall | None:
        """End the call's lease and record its outcome, in one statement: release its hold,
        debit ``actual`` (capped at what the team can pay), insert the call and add it to
        its job's totals; ``at`` marks the job's activity (None: the sweeper's capture) and
        ``reason`` is written on the debit.

        Returns the call as stored (``credits`` what was debited, ``overdraft_credits``
        the rest), or None when the lease was already gone (the call was recorded or
        captured before): then nothing changed.
        """
        ...


class CallRepository(Protocol):
    async def add(self, call: LlmCall) -> None:
        """Insert a recorded call; raises ``ConflictError`` when its id is already recorded."""
        ...

    async def list_for_job(self, job_id: JobId) -> list[LlmCall]:
        """The job's calls, oldest first."""
        ...

    async def renew_lease(self, job_id: JobId, call_id: CallId, *, until: datetime, at: datetime) -> bool:
        """Extend a live lease to ``until``; False when it is gone."""
        ...

    async def expired_leases(self, now: datetime, limit: int) -> list[CallLease]:
        """Leases that expired before ``now``, oldest first (their calls' outcomes are unknown)."""
        ...

    async def in_flight(self, job_id: JobId) -> int:
        """How many of the job's calls hold a lease (are running, or unsettled)."""
        ...


class OutstandingHold(msgspec.Struct, frozen=True, kw_only=True):
    """Credits still held for a call (or for the job itself when ``call_id`` is None)."""

    call_id: CallId | None
    amount: Decimal


class SettleRequest(msgspec.Struct, frozen=True, kw_only=True):
    """The end of a hold: release ``held`` and debit ``actual`` for the job's call (``call_id``
    None: the job's own hold), ``reason`` written on the debit."""

    team_id: TeamId
    held: Decimal
    actual: Decimal
    at: datetime
    job_id: JobId
    call_id: CallId | None
    reason: str | None = None


class CreditRepository(Protocol):
    async def balance(self, team_id: TeamId) -> CreditBalance:
        """The team's cached balance (equal to the replay of its ledger)."""
        ...

    async def apply(self, new: NewEntry) -> LedgerEntry | None:
        """Append one entry and update the cached balance atomically.

        Returns None when an entry with this team's ``idempotency_key`` already exists (nothing changes).
        Raises ``InsufficientCreditsError`` when available credits would go below zero
        (a hold is one conditional statement: never a read-modify-write).
        """
        ...

    async def settle(self, request: SettleRequest) -> Settlement:
        """Release ``held`` and debit ``actual`` (capped at what the team can pay); ``reason``
        is written on the debit (``unsettled`` for a captured hold).

        Idempotent per (job, call): a second settle of the same call changes nothing;
        a hold already released (by completion or the sweeper) is not released twice.
        """
        ...

    async def debited_since(self, team_id: TeamId, since: datetime) -> Decimal:
        """Credits debited from the team since ``since`` (a positive sum of its debits)."""
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


class TeamTotals(msgspec.Struct, frozen=True, kw_only=True):
    team_id: TeamId
    jobs: int
    totals: CostSummary


class ModelTotals(msgspec.Struct, frozen=True, kw_only=True):
    """One alias's calls; ``provider`` is the alias's current provider (None: alias deleted)."""

    model: str
    provider: ProviderName | None
    calls: int
    tokens: int
    provider_cost_usd: Decimal
    customer_cost_usd: Decimal
    failed_calls: int = 0

    @property
    def margin_usd(self) -> Decimal:
        with localcontext(EXACT):
            return self.customer_cost_usd - self.provider_cost_usd


class ProviderTotals(msgspec.Struct, frozen=True, kw_only=True):
    """The calls of every alias of one provider (``"unknown"``: aliases deleted since)."""

    provider: str
    calls: int
    failed_calls: int
    tokens: int
    provider_cost_usd: Decimal
    customer_cost_usd: Decimal

    @property
    def margin_usd(self) -> Decimal:
        with localcontext(EXACT):
            return self.customer_cost_usd - self.provider_cost_usd

    @property
    def error_rate(self) -> Decimal | None:
        return ratio(self.failed_calls, self.calls)

    @property
    def margin_rate(self) -> Decimal | None:
        return ratio(self.margin_usd, self.customer_cost_usd)


def provider_totals(rows: list[ModelTotals]) -> list[ProviderTotals]:
    """The aliases' rows summed per provider, by provider name."""
    groups: dict[str, list[ModelTotals]] = {}
    for row in rows:
        groups.setdefault(str(row.provider) if row.provider is not None else "unknown", []).append(row)
    with localcontext(EXACT):
        return [
            ProviderTotals(
                provider=name,
                calls=sum(m.calls for m in group),
                failed_calls=sum(m.failed_calls for m in group),
                tokens=sum(m.tokens for m in group),
                provider_cost_usd=sum((m.provider_cost_usd for m in group), ZERO),
                customer_cost_usd=sum((m.customer_cost_usd for m in group), ZERO),
            )
            for name, group in sorted(groups.items())
        ]


class UsageOverview(msgspec.Struct, frozen=True, kw_only=True):
    """Usage of many teams (one organization, or all) over a date range, from the rollups,
    with the margins, rates and per-provider sums a report shows."""

    jobs_total: int
    jobs_completed: int
    jobs_failed: int
    jobs_cancelled: int
    jobs_expired: int
    totals: CostSummary
    by_team: list[TeamTotals]
    by_model: list[ModelTotals]
    by_day: list[DayUsage]

    @property
    def by_provider(self) -> list[ProviderTotals]:
        return provider_totals(self.by_model)

    @property
    def margin_rate(self) -> Decimal | None:
        """Margin / customer cost."""
        return ratio(self.totals.margin_usd, self.totals.customer_cost_usd)

    @property
    def call_error_rate(self) -> Decimal | None:
        """Failed calls / calls."""
        return ratio(self.totals.failed_calls, self.totals.total_calls)

    @property
    def job_error_rate(self) -> Decimal | None:
        """Failed and expired jobs / jobs."""
        return ratio(self.jobs_failed + self.jobs_expired, self.jobs_total)


class JobOutcomes(msgspec.Struct, frozen=True, kw_only=True):
    """How a team's finished jobs ended, over its whole history."""

    finished: int = 0
    completed: int = 0
    failed: int = 0
    cancelled: int = 0
    expired: int = 0

    @property
    def failed_ratio(self) -> Decimal:
        """Failed and cancelled jobs over finished ones (0 with no finished job), to 4 places."""
        return ratio(self.failed + self.cancelled, self.finished) or Decimal(0)


class OpenJobs(msgspec.Struct, frozen=True, kw_only=True):
    """A team's jobs still open (pending or in progress), with their running totals."""

    jobs: int = 0
    totals: CostSummary = msgspec.field(default_factory=CostSummary)


class UsageRepository(Protocol):
    async def job_outcomes(self, team_id: TeamId) -> JobOutcomes:
        """Counts of the team's finished jobs by final status (from the day summaries)."""
        ...

    async def record_job(
        self, job: Job, *, status: JobStatus, summary: CostSummary, at: datetime, job_credits: Decimal = Decimal(0)
    ) -> None:
        """Write the job's cost summary (with its type, organization and ``job_credits``, the
        credits its completion charged itself) and add it to the team's day summary (same
        transaction)."""
        ...

    async def open_jobs(self, team_id: TeamId, *, created_before: datetime, active_since: datetime) -> OpenJobs:
        """The team's open jobs created before ``created_before`` and active (created, or a
        call started or recorded) since ``active_since``, with their running totals."""
        ...

    async def team_usage(self, team_id: TeamId, *, first_day: date, last_day: date) -> UsageReport: ...

    async def overview(
        self, *, organization_id: OrganizationId | None, first_day: date, last_day: date
    ) -> UsageOverview:
        """Every team's usage (``organization_id`` None) or one organization's, by completion day."""
        ...


class EconomicsScope(msgspec.Struct, frozen=True, kw_only=True):
    """Finished jobs by completion day (UTC, inclusive), of one team, one organization or all."""

    organization_id: OrganizationId | None
    team_id: TeamId | None
    first_day: date
    last_day: date


class CountSpread(msgspec.Struct, frozen=True, kw_only=True):
    """Nearest-rank percentiles of a per-job count."""

    p50: int
    p95: int
    max: int


class MoneySpread(msgspec.Struct, frozen=True, kw_only=True):
    """An exact total and the nearest-rank percentiles of a per-job amount (USD);
    ``at_percentile`` is the one of the report's requested percentile."""

    total: Decimal
    p50: Decimal
    p95: Decimal
    p99: Decimal
    max: Decimal
    at_percentile: Decimal


class JobTypeStats(msgspec.Struct, frozen=True, kw_only=True):
    job_type: str
    jobs: int
    completed: int
    failed: int
    cancelled: int
    expired: int
    calls: CountSpread
    tokens: CountSpread
    provider_cost_usd: MoneySpread
    customer_price_usd: MoneySpread


class JobTypeHistory(msgspec.Struct, frozen=True, kw_only=True):
    """A team's recent finished jobs of one type: nearest-rank percentiles per job."""

    jobs: int
    credits_p50: Decimal
    credits_p95: Decimal
    customer_price_p50: Decimal
    customer_price_p95: Decimal


class OutputHistory(msgspec.Struct, frozen=True, kw_only=True):
    """Output (completion) tokens of an alias's recent successful calls: how many, and the median."""

    calls: int
    median_output_tokens: int


class JobExportRow(msgspec.Struct, frozen=True, kw_only=True):
    """One finished job as the billing export writes it (tokens by category, disjoint)."""

    job_id: JobId
    external_id: str | None
    team_id: TeamId
    organization_id: OrganizationId
    job_type: str
    status: JobStatus
    created_at: datetime
    completed_at: datetime
    day: date
    calls: int
    successful_calls: int
    failed_calls: int
    input_tokens: int  # uncached prompt
    cached_input_tokens: int
    cache_write_tokens: int
    output_tokens: int  # generated text, thinking excluded
    reasoning_tokens: int
    provider_cost_usd: Decimal
    customer_price_usd: Decimal
    credits: Decimal  # everything the job was charged (its calls' credits and its own)

    @property
    def margin_usd(self) -> Decimal:
        with localcontext(EXACT):
            return self.customer_price_usd - self.provider_cost_usd

    @property
    def total_tokens(self) -> int:
        """Every category's tokens (they are disjoint)."""
        return (
            self.input_tokens
            + self.cached_input_tokens
            + self.cache_write_tokens
            + self.output_tokens
            + (self.reasoning_tokens)
        )


class EconomicsRepository(Protocol):
    """Reads of job economics; finished jobs only, from ``job_cost_summaries`` (written in
    the completion transaction). Percentiles are nearest-rank (``domain/economics.py``)."""

    async def job_type_stats(self, scope: EconomicsScope, *, percentile: Decimal) -> list[JobTypeStats]:
        """Per job type (by name), the window's job counts and the spreads of calls, tokens,
        provider cost and customer price per job; ``percentile`` (0 < p ≤ 100) is the one
        reported as ``at_percentile``. Empty when the window has no finished job."""
        ...

    async def jobs_costing_more(self, scope: EconomicsScope, prices: dict[str, Decimal]) -> dict[str, int]:
        """Per job type of ``prices``, how many of the window's jobs cost (provider) more than its price."""
        ...

    async def job_type_history(self, team_id: TeamId, job_type: str, *, last_jobs: int) -> JobTypeHistory | None:
        """Percentiles over the team's ``last_jobs`` most recently finished jobs of the type; None without any."""
        ...

    async def output_history(self, team_id: TeamId, alias: str, *, last_calls: int) -> OutputHistory | None:
        """The median completion tokens of the alias's successful calls among the team's
        ``last_calls`` most recent calls; None when there is none."""
        ...

    async def export_page(
        self, scope: EconomicsScope, *, after: tuple[date, JobId] | None, limit: int
    ) -> list[JobExportRow]:
        """Up to ``limit`` finished jobs of the window in (completion day, job id) order, after the keyset ``after``."""
        ...
