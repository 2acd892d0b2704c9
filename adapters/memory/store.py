"""The state behind the in-memory repositories, and a unit of work over it.

A unit of work snapshots the store on entry and restores it unless ``commit()`` was
called, so the fakes roll back exactly like Postgres does. Repository methods never
await anything, so no other task can interleave inside a unit of work.
"""

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any, TypedDict

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


class Endings(TypedDict):
    """How many finished jobs ended each way (fields of ``JobOutcomes`` and ``JobTypeStats``)."""

    completed: int
    failed: int
    cancelled: int
    expired: int


def endings(rows: list[JobSummaryRow]) -> Endings:
    statuses = [r.status for r in rows]
    return Endings(
        completed=statuses.count(JobStatus.COMPLETED),
        failed=statuses.count(JobStatus.FAILED),
        cancelled=statuses.count(JobStatus.CANCELLED),
        expired=statuses.count(JobStatus.EXPIRED),
    )


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


class StoreRepository:
    """A repository over the shared store: it reads and writes ``self._s``."""

    def __init__(self, store: MemoryStore) -> None:
        self._s = store
