"""In-memory repositories: the same contracts as the Postgres ones (tests/contract)."""

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar, Unpack
from uuid import UUID

import msgspec

from adapters.memory.store import JobSummaryRow, MemoryStore, StoreRepository, endings
from application.errors import ConflictError, NotFoundError
from application.ports.repositories import (
    AliasPatch,
    ApiKey,
    CallLease,
    CredentialPatch,
    DayUsage,
    JobFilters,
    JobOutcomes,
    JobQuery,
    ModelTotals,
    ModelUsage,
    OpenJobs,
    OrganizationPatch,
    OutstandingHold,
    SettleRequest,
    StoredCredential,
    TeamPatch,
    TeamTotals,
    UsageOverview,
    UsageReport,
)
from domain.access import AccessGroup, ModelAlias
from domain.calls import CallStatus, LlmCall
from domain.catalog import ProviderName
from domain.ids import ApiKeyId, CallId, CredentialId, JobId, LedgerEntryId, OrganizationId, TeamId
from domain.jobs import ACTIVE_STATUSES, EMPTY_SUMMARY, CostSummary, Job, JobStatus
from domain.ledger import CreditBalance, EntryType, LedgerEntry, NewEntry, Settlement, settle, settlement_keys
from domain.money import ZERO
from domain.organizations import Organization, Team

V = TypeVar("V", Organization, Team, ModelAlias, StoredCredential)


def _versioned(row: V | None, expected_version: int | None) -> V | None:
    """The row, unless the caller expected another version (what ``WHERE version = …`` does)."""
    if row is None or (expected_version is not None and row.version != expected_version):
        return None
    return row


def _next_version(row: V, **changes: Any) -> V:
    """The row with these changes, one version on (what every ``UPDATE … version + 1`` does)."""
    return msgspec.structs.replace(row, **changes, version=row.version + 1)


class MemoryOrganizationRepository(StoreRepository):
    async def add(self, organization: Organization) -> None:
        if any(o.slug == organization.slug for o in self._s.organizations.values()):
            raise ConflictError(f"organization slug '{organization.slug}' is taken")
        self._s.organizations[organization.id] = organization

    async def get(self, organization_id: OrganizationId) -> Organization | None:
        return self._s.organizations.get(organization_id)

    async def list(
        self, *, only: OrganizationId | None, after: tuple[datetime, OrganizationId] | None, limit: int
    ) -> list[Organization]:
        found = sorted(
            (
                o
                for o in self._s.organizations.values()
                if (only is None or o.id == only) and (after is None or (o.created_at, o.id) > after)
            ),
            key=lambda o: (o.created_at, o.id),
        )
        return found[:limit]

    async def update(
        self, organization_id: OrganizationId, patch: OrganizationPatch, *, expected_version: int | None
    ) -> Organization | None:
        current = _versioned(self._s.organizations.get(organization_id), expected_version)
        given = patch.given()
        if current is None or not given:
            return current
        slug = given.get("slug")
        if any(o.slug == slug and o.id != organization_id for o in self._s.organizations.values()):
            raise ConflictError(f"organization slug '{slug}' is taken")
        updated = self._s.organizations[organization_id] = _next_version(current, **given)
        return updated

    async def delete(self, organization_id: OrganizationId) -> bool:
        if self._s.organizations.pop(organization_id, None) is None:
            return False
        # What Postgres cascades: credentials, webhooks, scoped admin users, scoped aliases.
        s = self._s
        s.credentials = {k: c for k, c in s.credentials.items() if c.organization_id != organization_id}
        s.webhooks = {k: w for k, w in s.webhooks.items() if w.organization_id != organization_id}
        s.deliveries = {k: d for k, d in s.deliveries.items() if d.webhook_id in s.webhooks}
        s.admin_users = {k: u for k, u in s.admin_users.items() if u.organization_id != organization_id}
        gone = {a for a, alias in s.aliases.items() if alias.organization_id == organization_id}
        s.aliases = {a: alias for a, alias in s.aliases.items() if a not in gone}
        s.memberships = {(g, a) for g, a in s.memberships if a not in gone}
        return True


class MemoryTeamRepository(StoreRepository):
    async def add(self, team: Team) -> None:
        self._s.teams[team.id] = team
        self._s.balances[team.id] = CreditBalance()
        self._s.ledger[team.id] = []

    async def get(self, team_id: TeamId) -> Team | None:
        return self._s.teams.get(team_id)

    async def update(self, team_id: TeamId, patch: TeamPatch, *, expected_version: int | None) -> Team | None:
        current = _versioned(self._s.teams.get(team_id), expected_version)
        given = patch.given()
        if current is None or not given:
            return current
        budget = current.budget
        budget = msgspec.structs.replace(
            budget,
            mode=given.pop("budget_mode", budget.mode),
            credits_per_usd=given.pop("credits_per_usd", budget.credits_per_usd),
            tokens_per_credit=given.pop("tokens_per_credit", budget.tokens_per_credit),
            max_calls_per_job=given.pop("max_calls_per_job", budget.max_calls_per_job),
            charge_failed_jobs=given.pop("charge_failed_jobs", budget.charge_failed_jobs),
        )
        if "access_groups" in given:
            given["access_groups"] = tuple(dict.fromkeys(given["access_groups"]))
        updated = self._s.teams[team_id] = _next_version(current, **given, budget=budget)
        return updated

    async def list(
        self, *, organization_id: OrganizationId | None, after: tuple[datetime, TeamId] | None, limit: int
    ) -> list[Team]:
        found = sorted(
            (
                t
                for t in self._s.teams.values()
                if (organization_id is None or t.organization_id == organization_id)
                and (after is None or (t.created_at, t.id) > after)
            ),
            key=lambda t: (t.created_at, t.id),
        )
        return found[:limit]

    async def flag_credits_low(self, team_id: TeamId, at: datetime) -> bool:
        if team_id in self._s.credits_low:
            return False
        self._s.credits_low[team_id] = at
        return True

    async def clear_credits_low(self, team_id: TeamId) -> bool:
        return self._s.credits_low.pop(team_id, None) is not None


class MemoryApiKeyRepository(StoreRepository):
    async def add(self, key: ApiKey) -> None:
        self._s.api_keys[key.id] = key

    async def find_active(self, digest: str) -> ApiKey | None:
        for key in self._s.api_keys.values():
            if key.digest == digest and key.revoked_at is None:
                return key
        return None

    async def list_for_team(self, team_id: TeamId) -> list[ApiKey]:
        return sorted((k for k in self._s.api_keys.values() if k.team_id == team_id), key=lambda k: k.created_at)

    async def revoke(self, key_id: ApiKeyId, at: datetime) -> bool:
        key = self._s.api_keys.get(key_id)
        if key is None or key.revoked_at is not None:
            return False
        self._s.api_keys[key_id] = msgspec.structs.replace(key, revoked_at=at)
        return True


class MemoryAliasRepository(StoreRepository):
    async def add(self, alias: ModelAlias) -> None:
        if alias.alias in self._s.aliases:
            raise ConflictError(f"model alias '{alias.alias}' exists")
        self._s.aliases[alias.alias] = msgspec.structs.replace(alias, access_groups=(), fallback_targets=())
        _bump_groups(self._s, {g for g in alias.access_groups if g in self._s.groups})
        for group in alias.access_groups:
            self._s.groups.add(group)
            self._s.memberships.add((group, alias.alias))

    async def get(self, alias: str) -> ModelAlias | None:
        found = self._s.aliases.get(alias)
        if found is None:
            return None
        groups = tuple(sorted(g for g, a in self._s.memberships if a == alias))
        fallback_targets = tuple(
            target
            for name in found.fallbacks
            if (fallback := self._s.aliases.get(name)) is not None
            and fallback.organization_id in (None, found.organization_id)
            for target in fallback.own_targets
        )
        return msgspec.structs.replace(found, access_groups=groups, fallback_targets=fallback_targets)

    async def list(self) -> list[ModelAlias]:
        return [a for name in sorted(self._s.aliases) if (a := await self.get(name)) is not None]

    async def update(self, alias: str, patch: AliasPatch, *, expected_version: int | None) -> ModelAlias | None:
        current = _versioned(self._s.aliases.get(alias), expected_version)
        given = patch.given()
        if current is None or not given:
            return await self.get(alias) if current is not None else None
        groups = given.pop("access_groups", None)
        for side in ("customer_prices", "provider_costs"):
            if side in given:
                given[side] = msgspec.structs.replace(getattr(current, side), **given[side].given())
        self._s.aliases[alias] = _next_version(current, **given)
        if groups is not None:
            had = {g for g, a in self._s.memberships if a == alias}
            _bump_groups(self._s, (had ^ set(groups)) & self._s.groups)
            self._s.memberships = {(g, a) for g, a in self._s.memberships if a != alias}
            for group in groups:
                self._s.groups.add(group)
                self._s.memberships.add((group, alias))
        return await self.get(alias)

    async def delete(self, alias: str) -> bool:
        if self._s.aliases.pop(alias, None) is None:
            return False
        _bump_groups(self._s, {g for g, a in self._s.memberships if a == alias})
        self._s.memberships = {(g, a) for g, a in self._s.memberships if a != alias}
        return True


class MemoryAccessGroupRepository(StoreRepository):
    async def add(self, group: AccessGroup) -> None:
        if group.name in self._s.groups:
            raise ConflictError(f"access group '{group.name}' exists")
        self._s.groups.add(group.name)
        _bump_aliases(self._s, set(group.models))
        for alias in group.models:
            self._s.memberships.add((group.name, alias))

    async def get(self, name: str) -> AccessGroup | None:
        if name not in self._s.groups:
            return None
        models = tuple(sorted(a for g, a in self._s.memberships if g == name))
        return AccessGroup(name=name, models=models, version=self._s.group_versions.get(name, 1))

    async def list(self) -> list[AccessGroup]:
        return [g for name in sorted(self._s.groups) if (g := await self.get(name)) is not None]

    async def set_models(
        self, name: str, models: tuple[str, ...], *, expected_version: int | None
    ) -> AccessGroup | None:
        current = await self.get(name)
        if current is None or (expected_version is not None and current.version != expected_version):
            return None
        missing = [m for m in models if m not in self._s.aliases]
        if missing:
            raise NotFoundError(f"model alias '{missing[0]}' does not exist")
        _bump_groups(self._s, {name})
        _bump_aliases(self._s, set(current.models) ^ set(models))
        self._s.memberships = {(g, a) for g, a in self._s.memberships if g != name}
        self._s.memberships.update((name, m) for m in models)
        return await self.get(name)

    async def delete(self, name: str) -> bool:
        if name not in self._s.groups:
            return False
        _bump_aliases(self._s, {a for g, a in self._s.memberships if g == name})
        self._s.groups.discard(name)
        self._s.group_versions.pop(name, None)
        self._s.memberships = {(g, a) for g, a in self._s.memberships if g != name}
        for team in list(self._s.teams.values()):
            if name in team.access_groups:
                groups = tuple(g for g in team.access_groups if g != name)
                self._s.teams[team.id] = _next_version(team, access_groups=groups)
        return True


def _bump_groups(store: MemoryStore, names: set[str]) -> None:
    """Groups whose members changed: their versions move on (as the Postgres statements do)."""
    for name in names:
        store.group_versions[name] = store.group_versions.get(name, 1) + 1


def _bump_aliases(store: MemoryStore, names: set[str]) -> None:
    for name in names & store.aliases.keys():
        store.aliases[name] = _next_version(store.aliases[name])


class MemoryCredentialRepository(StoreRepository):
    async def add(self, credential: StoredCredential) -> None:
        self._s.credentials[credential.id] = credential

    async def active_for(self, organization_id: OrganizationId, provider: ProviderName) -> StoredCredential | None:
        candidates = [
            c
            for c in self._s.credentials.values()
            if c.organization_id == organization_id and c.provider == provider and c.is_active
        ]
        return max(candidates, key=lambda c: c.created_at, default=None)

    async def get(self, credential_id: CredentialId) -> StoredCredential | None:
        return self._s.credentials.get(credential_id)

    async def list_for_organization(self, organization_id: OrganizationId) -> list[StoredCredential]:
        found = [c for c in self._s.credentials.values() if c.organization_id == organization_id]
        return sorted(found, key=lambda c: (c.created_at, c.id))

    async def list_all(self, *, after: CredentialId | None, limit: int) -> list[StoredCredential]:
        found = sorted((c for c in self._s.credentials.values() if after is None or c.id > after), key=lambda c: c.id)
        return found[:limit]

    async def update(
        self, credential_id: CredentialId, patch: CredentialPatch, *, expected_version: int | None
    ) -> StoredCredential | None:
        current = _versioned(self._s.credentials.get(credential_id), expected_version)
        given = patch.given()
        if current is None or not given:
            return current
        updated = self._s.credentials[credential_id] = _next_version(current, **given)
        return updated

    async def replace_encrypted_key(self, credential_id: CredentialId, *, old: str, new: str) -> bool:
        current = self._s.credentials.get(credential_id)
        if current is None or current.encrypted_key != old:
            return False
        self._s.credentials[credential_id] = msgspec.structs.replace(current, encrypted_key=new)
        return True

    async def delete(self, credential_id: CredentialId) -> bool:
        return self._s.credentials.pop(credential_id, None) is not None


class MemoryJobRepository(StoreRepository):
    async def add(self, job: Job) -> None:
        if job.external_id is not None and await self.find_by_external_id(job.team_id, job.external_id):
            raise ConflictError("a job with this external_id exists")
        self._s.jobs[job.id] = msgspec.structs.replace(job, last_activity_at=job.last_activity_at or job.created_at)
        self._s.calls[job.id] = []

    async def get(self, job_id: JobId, *, for_update: bool = False) -> Job | None:
        return self._s.jobs.get(job_id)

    async def find_by_external_id(self, team_id: TeamId, external_id: str) -> Job | None:
        for job in self._s.jobs.values():
            if job.team_id == team_id and job.external_id == external_id:
                return job
        return None

    def _replace(self, job_id: JobId, **changes: object) -> None:
        self._s.jobs[job_id] = msgspec.structs.replace(self._s.jobs[job_id], **changes)

    async def set_status(self, job_id: JobId, status: JobStatus) -> None:
        self._replace(job_id, status=status)

    async def add_call_totals(self, job_id: JobId, summary: CostSummary) -> None:
        job = self._s.jobs[job_id]
        if not job.status.is_final:
            self._replace(job_id, totals=job.totals + summary)
            return
        charged = (job.credits_charged or ZERO) + summary.credits
        self._replace(job_id, totals=job.totals + summary, credits_charged=charged)
        row = self._s.job_summaries.get(job_id)
        if row is not None:
            row.summary = row.summary + summary

    async def finish(self, job_id: JobId, *, status: JobStatus, at: datetime, credits_charged: Decimal) -> None:
        self._replace(job_id, status=status, completed_at=at, credits_charged=credits_charged)

    async def update_metadata(self, job_id: JobId, metadata: dict[str, object]) -> None:
        self._replace(job_id, metadata=dict(metadata))

    async def search(
        self, *, organization_id: OrganizationId | None, team_id: TeamId | None, **filters: Unpack[JobFilters]
    ) -> list[Job]:
        query = JobQuery(**filters)
        teams = self._s.teams
        jobs = [
            j
            for j in self._s.jobs.values()
            if (team_id is None or j.team_id == team_id)
            and (
                organization_id is None or (j.team_id in teams and teams[j.team_id].organization_id == organization_id)
            )
            and (query.status is None or j.status == query.status)
            and (query.created_from is None or j.created_at >= query.created_from)
            and (query.created_to is None or j.created_at < query.created_to)
            and (query.before is None or (j.created_at, j.id) < query.before)
        ]
        jobs.sort(key=lambda j: (j.created_at, j.id), reverse=True)
        return jobs[: query.limit]

    async def list_stale(self, active_before: datetime, limit: int) -> list[JobId]:
        stale = [j for j in self._s.jobs.values() if j.status in ACTIVE_STATUSES and j.active_since < active_before]
        stale.sort(key=lambda j: j.active_since)
        return [j.id for j in stale[:limit]]

    async def begin_closing(self, job_id: JobId, status: JobStatus) -> None:
        job = self._s.jobs[job_id]
        if job.status in ACTIVE_STATUSES and job.closing_status is None:
            self._replace(job_id, closing_status=status)

    async def list_closing(self, limit: int) -> list[JobId]:
        closing = [j.id for j in self._s.jobs.values() if j.status in ACTIVE_STATUSES and j.closing_status is not None]
        return sorted(closing)[:limit]


class MemoryCallRepository(StoreRepository):
    async def add(self, call: LlmCall) -> None:
        calls = self._s.calls.setdefault(call.job_id, [])
        if any(c.id == call.id for c in calls):
            raise ConflictError("call already recorded")
        calls.append(call)

    async def list_for_job(self, job_id: JobId) -> list[LlmCall]:
        # Oldest first, as the port says (a call is stored when it settles, not when it started).
        return sorted(self._s.calls.get(job_id, []), key=lambda c: c.created_at)

    def _touch(self, job_id: JobId, at: datetime) -> None:
        job = self._s.jobs[job_id]
        self._s.jobs[job_id] = msgspec.structs.replace(job, last_activity_at=max(job.active_since, at))

    async def renew_lease(self, job_id: JobId, call_id: CallId, *, until: datetime, at: datetime) -> bool:
        lease = self._s.leases.get(call_id)
        if lease is None:
            return False
        self._s.leases[call_id] = msgspec.structs.replace(lease, expires_at=max(lease.expires_at, until))
        self._touch(job_id, at)
        return True

    async def expired_leases(self, now: datetime, limit: int) -> list[CallLease]:
        expired = sorted((x for x in self._s.leases.values() if x.expires_at < now), key=lambda x: x.expires_at)
        return expired[:limit]

    async def in_flight(self, job_id: JobId) -> int:
        return sum(1 for x in self._s.leases.values() if x.job_id == job_id)


class MemoryCreditRepository(StoreRepository):
    async def balance(self, team_id: TeamId) -> CreditBalance:
        return self._s.balances.get(team_id, CreditBalance())

    def _find(self, team_id: TeamId, key: str) -> LedgerEntry | None:
        for entry in self._s.ledger.get(team_id, []):
            if entry.idempotency_key == key:
                return entry
        return None

    async def apply(self, new: NewEntry) -> LedgerEntry | None:
        if new.idempotency_key is not None and self._find(new.team_id, new.idempotency_key) is not None:
            return None
        balance = self._s.balances.get(new.team_id, CreditBalance()).apply(new.type, new.amount)
        entries = self._s.ledger.setdefault(new.team_id, [])
        entry_id = LedgerEntryId(UUID(int=sum(len(v) for v in self._s.ledger.values()) + 1))
        entry = new.entry(entry_id, sequence=len(entries) + 1)
        entries.append(entry)
        self._s.balances[new.team_id] = balance
        return entry

    async def settle(self, request: SettleRequest) -> Settlement:
        team_id, job_id, call_id, at = request.team_id, request.job_id, request.call_id, request.at
        release_key, debit_key = settlement_keys(job_id, call_id)
        previous = self._find(team_id, debit_key)
        if previous is not None:
            return Settlement(release=ZERO, debit=-previous.amount, overdraft=ZERO)
        # A hold already released (by a completion or the sweeper) is not released again.
        release = request.held if self._find(team_id, release_key) is None else ZERO
        outcome = settle(await self.balance(team_id), held=release, actual=request.actual)
        if outcome.release > 0:
            await self.apply(
                NewEntry(
                    team_id,
                    EntryType.RELEASE,
                    release,
                    created_at=at,
                    job_id=job_id,
                    call_id=call_id,
                    idempotency_key=release_key,
                )
            )
        if outcome.debit > 0:
            await self.apply(
                NewEntry(
                    team_id,
                    EntryType.DEBIT,
                    -outcome.debit,
                    created_at=at,
                    job_id=job_id,
                    call_id=call_id,
                    reason=request.reason,
                    idempotency_key=debit_key,
                )
            )
        return outcome

    async def outstanding_holds(self, job_id: JobId) -> list[OutstandingHold]:
        open_amounts: dict[CallId | None, Decimal] = defaultdict(Decimal)
        for entries in self._s.ledger.values():
            for entry in entries:
                if entry.job_id == job_id and entry.type in (EntryType.HOLD, EntryType.RELEASE):
                    open_amounts[entry.call_id] -= entry.amount
        return [OutstandingHold(call_id=c, amount=a) for c, a in open_amounts.items() if a > 0]

    async def debited_since(self, team_id: TeamId, since: datetime) -> Decimal:
        return -sum(
            (e.amount for e in self._s.ledger.get(team_id, []) if e.type is EntryType.DEBIT and e.created_at >= since),
            ZERO,
        )

    async def entries(self, team_id: TeamId, *, before: tuple[datetime, int] | None, limit: int) -> list[LedgerEntry]:
        entries = sorted(self._s.ledger.get(team_id, []), key=lambda e: (e.created_at, e.sequence), reverse=True)
        if before is not None:
            entries = [e for e in entries if (e.created_at, e.sequence) < before]
        return entries[:limit]


def _by_day(days: dict[date, CostSummary]) -> list[DayUsage]:
    return [
        DayUsage(
            day=day,
            calls=s.total_calls,
            tokens=s.total_tokens,
            provider_cost_usd=s.provider_cost_usd,
            customer_cost_usd=s.customer_cost_usd,
        )
        for day, s in sorted(days.items())
    ]


class MemoryUsageRepository(StoreRepository):
    async def record_job(
        self, job: Job, *, status: JobStatus, summary: CostSummary, at: datetime, job_credits: Decimal = ZERO
    ) -> None:
        if job.id in self._s.job_summaries:  # inserted once, like the Postgres row
            return
        self._s.job_summaries[job.id] = JobSummaryRow(
            job=job, status=status, summary=summary, at=at, job_credits=job_credits
        )

    async def open_jobs(self, team_id: TeamId, *, created_before: datetime, active_since: datetime) -> OpenJobs:
        found = [
            j
            for j in self._s.jobs.values()
            if j.team_id == team_id
            and j.status in ACTIVE_STATUSES
            and j.created_at < created_before
            and j.active_since >= active_since
        ]
        return OpenJobs(jobs=len(found), totals=sum((j.totals for j in found), EMPTY_SUMMARY))

    async def job_outcomes(self, team_id: TeamId) -> JobOutcomes:
        rows = [r for r in self._s.job_summaries.values() if r.job.team_id == team_id]
        return JobOutcomes(finished=len(rows), **endings(rows))

    async def team_usage(self, team_id: TeamId, *, first_day: date, last_day: date) -> UsageReport:
        rows = [
            r
            for r in self._s.job_summaries.values()
            if r.job.team_id == team_id and first_day <= r.at.date() <= last_day
        ]
        totals = sum((r.summary for r in rows), EMPTY_SUMMARY)
        models: dict[str, ModelUsage] = {}
        days: dict[date, CostSummary] = defaultdict(lambda: EMPTY_SUMMARY)
        for row in rows:
            days[row.at.date()] = days[row.at.date()] + row.summary
            for call in self._s.calls.get(row.job.id, []):
                seen = models.get(call.alias, ModelUsage(model=call.alias, calls=0, tokens=0, customer_cost_usd=ZERO))
                models[call.alias] = ModelUsage(
                    model=call.alias,
                    calls=seen.calls + 1,
                    tokens=seen.tokens + call.usage.total_tokens,
                    customer_cost_usd=seen.customer_cost_usd + call.cost.customer_price_usd,
                )
        return UsageReport(
            jobs_total=len(rows),
            jobs_completed=sum(1 for r in rows if r.status is JobStatus.COMPLETED),
            jobs_failed=sum(1 for r in rows if r.status is JobStatus.FAILED),
            jobs_cancelled=sum(1 for r in rows if r.status is JobStatus.CANCELLED),
            totals=totals,
            by_model=[models[name] for name in sorted(models)],
            by_day=_by_day(days),
        )

    async def overview(
        self, *, organization_id: OrganizationId | None, first_day: date, last_day: date
    ) -> UsageOverview:
        teams = self._s.teams
        rows = [
            r
            for r in self._s.job_summaries.values()
            if first_day <= r.at.date() <= last_day
            and (
                organization_id is None
                or (r.job.team_id in teams and teams[r.job.team_id].organization_id == organization_id)
            )
        ]
        by_team: dict[TeamId, TeamTotals] = {}
        days: dict[date, CostSummary] = defaultdict(lambda: EMPTY_SUMMARY)
        models: dict[str, ModelTotals] = {}
        for row in rows:
            seen = by_team.get(row.job.team_id, TeamTotals(team_id=row.job.team_id, jobs=0, totals=EMPTY_SUMMARY))
            by_team[row.job.team_id] = TeamTotals(
                team_id=seen.team_id, jobs=seen.jobs + 1, totals=seen.totals + row.summary
            )
            days[row.at.date()] = days[row.at.date()] + row.summary
            for call in self._s.calls.get(row.job.id, []):
                alias = self._s.aliases.get(call.alias)
                m = models.get(call.alias) or ModelTotals(
                    model=call.alias,
                    provider=alias.provider if alias is not None else None,
                    calls=0,
                    tokens=0,
                    provider_cost_usd=ZERO,
                    customer_cost_usd=ZERO,
                )
                models[call.alias] = msgspec.structs.replace(
                    m,
                    calls=m.calls + 1,
                    failed_calls=m.failed_calls + (call.status is CallStatus.FAILED),
                    tokens=m.tokens + call.usage.total_tokens,
                    provider_cost_usd=m.provider_cost_usd + call.cost.provider_cost_usd,
                    customer_cost_usd=m.customer_cost_usd + call.cost.customer_price_usd,
                )
        return UsageOverview(
            jobs_total=len(rows),
            jobs_completed=sum(1 for r in rows if r.status is JobStatus.COMPLETED),
            jobs_failed=sum(1 for r in rows if r.status is JobStatus.FAILED),
            jobs_cancelled=sum(1 for r in rows if r.status is JobStatus.CANCELLED),
            jobs_expired=sum(1 for r in rows if r.status is JobStatus.EXPIRED),
            totals=sum((r.summary for r in rows), EMPTY_SUMMARY),
            by_team=[by_team[t] for t in sorted(by_team)],
            by_model=[models[name] for name in sorted(models)],
            by_day=_by_day(days),
        )
