"""The state behind the in-memory repositories, and a unit of work over it.

A unit of work snapshots the store on entry and restores it unless ``commit()`` was
called, so the fakes roll back exactly like Postgres does. Repository methods never
await anything, so no other task can interleave inside a unit of work.
"""

import copy
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import TracebackType
from typing import Any, Self

from application.ports.admin import Webhook, WebhookDelivery
from application.ports.repositories import ApiKey, CallLease, StoredCredential
from domain.access import ModelAlias
from domain.admins import AdminUser, AuditEntry
from domain.calls import LlmCall
from domain.ids import AdminUserId, ApiKeyId, CallId, CredentialId, JobId, OrganizationId, TeamId
from domain.jobs import CostSummary, Job, JobStatus
from domain.ledger import CreditBalance, LedgerEntry
from domain.organizations import Organization, Team


@dataclass
class JobSummaryRow:
    job: Job
    status: JobStatus
    summary: CostSummary
    at: datetime
    job_credits: Decimal = Decimal(0)  # what the completion charged itself (job_based)


@dataclass
class MemoryStore:
    organizations: dict[OrganizationId, Organization] = field(default_factory=dict)
    teams: dict[TeamId, Team] = field(default_factory=dict)
    api_keys: dict[ApiKeyId, ApiKey] = field(default_factory=dict)
    aliases: dict[str, ModelAlias] = field(default_factory=dict)
    groups: set[str] = field(default_factory=set)
    group_versions: dict[str, int] = field(default_factory=dict)  # a group missing here is at version 1
    memberships: set[tuple[str, str]] = field(default_factory=set)  # (group, alias)
    credentials: dict[CredentialId, StoredCredential] = field(default_factory=dict)
    jobs: dict[JobId, Job] = field(default_factory=dict)
    calls: dict[JobId, list[LlmCall]] = field(default_factory=dict)
    leases: dict[CallId, CallLease] = field(default_factory=dict)
    balances: dict[TeamId, CreditBalance] = field(default_factory=dict)
    ledger: dict[TeamId, list[LedgerEntry]] = field(default_factory=dict)
    job_summaries: dict[JobId, JobSummaryRow] = field(default_factory=dict)
    admin_users: dict[AdminUserId, AdminUser] = field(default_factory=dict)
    audit: list[AuditEntry] = field(default_factory=list)
    webhooks: dict[Any, Webhook] = field(default_factory=dict)
    deliveries: dict[Any, WebhookDelivery] = field(default_factory=dict)
    credits_low: dict[TeamId, datetime] = field(default_factory=dict)
    commits: int = 0


class MemoryUnitOfWork:
    def __init__(self, store: MemoryStore) -> None:
        from adapters.memory import admin as a
        from adapters.memory import economics as e
        from adapters.memory import repositories as r

        self._store = store
        self._snapshot: MemoryStore | None = None
        self.organizations = r.MemoryOrganizationRepository(store)
        self.teams = r.MemoryTeamRepository(store)
        self.api_keys = r.MemoryApiKeyRepository(store)
        self.aliases = r.MemoryAliasRepository(store)
        self.access_groups = r.MemoryAccessGroupRepository(store)
        self.credentials = r.MemoryCredentialRepository(store)
        self.jobs = r.MemoryJobRepository(store)
        self.calls = r.MemoryCallRepository(store)
        self.credits = r.MemoryCreditRepository(store)
        self.usage = r.MemoryUsageRepository(store)
        self.economics = e.MemoryEconomicsRepository(store)
        self.admin_users = a.MemoryAdminUserRepository(store)
        self.audit = a.MemoryAuditLogRepository(store)
        self.webhooks = a.MemoryWebhookRepository(store)

    async def __aenter__(self) -> Self:
        self._snapshot = copy.deepcopy(self._store)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # Whatever happened after the last commit is undone, like a transaction rollback.
        if self._snapshot is not None:
            self._store.__dict__.update(self._snapshot.__dict__)
        self._snapshot = None

    async def commit(self) -> None:
        self._store.commits += 1
        self._snapshot = copy.deepcopy(self._store)
