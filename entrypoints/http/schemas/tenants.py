"""Admin API bodies for organizations, teams, their keys and credits, and provider credentials.

Requests forbid unknown fields (422); partial updates use ``UNSET`` for "not given".
Money and credits leave as decimal strings, never floats.
"""

from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

import msgspec

from application.ports.repositories import ApiKey, JobOutcomes, StoredCredential
from domain.budgets import MAX_CALLS_PER_JOB_LIMIT
from domain.ledger import CreditBalance, LedgerEntry
from domain.organizations import Organization, Team
from domain.rate_limits import MAX_LIMIT as MAX_RATE_LIMIT
from entrypoints.http.schemas.amounts import Credits, CreditsPerUsd, SignedCredits
from entrypoints.http.schemas.client import BalanceOut, TransactionOut, balance_fields, balance_out, transaction_out
from entrypoints.http.schemas.copying import from_attributes
from entrypoints.http.schemas.money import Body, Money

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Slug = Annotated[str, msgspec.Meta(min_length=1, max_length=60)]
BudgetModeName = Literal["job_based", "consumption_usd", "consumption_tokens"]
ProviderName = Literal["openai", "anthropic", "gemini", "fireworks", "fake"]
GroupName = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Groups = Annotated[list[GroupName], msgspec.Meta(max_length=100)]
ApiKeyText = Annotated[str, msgspec.Meta(min_length=1, max_length=4096)]
Url = Annotated[str, msgspec.Meta(min_length=8, max_length=2000)]
TokensPerCredit = Annotated[int, msgspec.Meta(ge=1, le=1_000_000_000)]
MaxCallsPerJob = Annotated[int, msgspec.Meta(ge=1, le=MAX_CALLS_PER_JOB_LIMIT)]
PerMinute = Annotated[int, msgspec.Meta(ge=1, le=MAX_RATE_LIMIT, description="per minute; null: unlimited")]


# ---- organizations ---------------------------------------------------------------------


class CreateOrganizationBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name
    slug: Slug | None = None


class UpdateOrganizationBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name | None = None
    slug: Slug | None = None


class OrganizationOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    name: str
    slug: str
    created_at: datetime
    version: int  # also the ETag; send it back in If-Match to update only what you read


def organization_out(organization: Organization) -> OrganizationOut:
    return from_attributes(OrganizationOut, organization)


# ---- teams ------------------------------------------------------------------------------


class CreateTeamBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    organization_id: UUID
    name: Name
    budget_mode: BudgetModeName
    credits: Credits | None = None
    credits_per_usd: CreditsPerUsd | None = None
    tokens_per_credit: TokensPerCredit | None = None
    access_groups: Groups = msgspec.field(default_factory=list)
    max_calls_per_job: MaxCallsPerJob | None = None
    charge_failed_jobs: bool | None = None
    rpm_limit: PerMinute | None = None
    tpm_limit: PerMinute | None = None
    low_credit_threshold: Credits | None = None  # null: 10 % of the allocation


class UpdateTeamBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    budget_mode: BudgetModeName | msgspec.UnsetType = msgspec.UNSET
    credits_per_usd: CreditsPerUsd | msgspec.UnsetType = msgspec.UNSET
    tokens_per_credit: TokensPerCredit | msgspec.UnsetType = msgspec.UNSET
    access_groups: Groups | msgspec.UnsetType = msgspec.UNSET
    max_calls_per_job: MaxCallsPerJob | msgspec.UnsetType = msgspec.UNSET
    charge_failed_jobs: bool | msgspec.UnsetType = msgspec.UNSET
    rpm_limit: PerMinute | msgspec.UnsetType | None = msgspec.UNSET  # null: unlimited
    tpm_limit: PerMinute | msgspec.UnsetType | None = msgspec.UNSET
    low_credit_threshold: Credits | msgspec.UnsetType | None = msgspec.UNSET  # null: 10 % of the allocation


class JobOutcomesOut(Body, frozen=True, kw_only=True):
    finished: int
    completed: int
    failed: int
    cancelled: int
    expired: int
    failed_ratio: Money  # (failed + cancelled) / finished


def job_outcomes_out(outcomes: JobOutcomes) -> JobOutcomesOut:
    return from_attributes(JobOutcomesOut, outcomes)


class TeamOut(Body, frozen=True, kw_only=True):
    id: UUID
    organization_id: UUID
    name: str
    status: str
    budget_mode: str
    credits_per_usd: Money
    tokens_per_credit: int
    max_calls_per_job: int
    charge_failed_jobs: bool
    access_groups: list[str]
    created_at: datetime
    version: int
    rpm_limit: int | None  # requests per minute; null: unlimited
    tpm_limit: int | None  # tokens per minute; null: unlimited
    low_credit_threshold: Money | None  # credits; null: 10 % of the allocation
    credits: BalanceOut | None = None
    jobs: JobOutcomesOut | None = None


def team_out(team: Team, balance: CreditBalance | None = None, outcomes: JobOutcomes | None = None) -> TeamOut:
    budget = team.budget
    return from_attributes(
        TeamOut,
        team,
        status=team.status.value,
        budget_mode=budget.mode.value,
        credits_per_usd=budget.credits_per_usd,
        tokens_per_credit=budget.tokens_per_credit,
        max_calls_per_job=budget.max_calls_per_job,
        charge_failed_jobs=budget.charge_failed_jobs,
        access_groups=list(team.access_groups),
        credits=balance_out(balance) if balance is not None else None,
        jobs=job_outcomes_out(outcomes) if outcomes is not None else None,
    )


class CreatedTeamOut(msgspec.Struct, frozen=True, kw_only=True):
    team: TeamOut
    api_key: str  # shown once
    key_id: UUID


class CreditsBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    amount: SignedCredits
    reason: Annotated[str, msgspec.Meta(max_length=500)] | None = None
    idempotency_key: Annotated[str, msgspec.Meta(min_length=1, max_length=200)] | None = None


class CreditsChangeOut(Body, frozen=True, kw_only=True):
    team_id: UUID
    applied: bool  # False: this idempotency key was used before, nothing changed
    transaction: TransactionOut | None
    allocated: Money
    used: Money
    held: Money
    remaining: Money


def credits_change_out(team_id: UUID, entry: LedgerEntry | None, balance: CreditBalance) -> CreditsChangeOut:
    return CreditsChangeOut(
        team_id=team_id,
        applied=entry is not None,
        transaction=transaction_out(entry) if entry is not None else None,
        **balance_fields(balance),
    )


class KeyCreatedOut(msgspec.Struct, frozen=True, kw_only=True):
    key_id: UUID
    api_key: str  # shown once
    prefix: str


class KeyOut(msgspec.Struct, frozen=True, kw_only=True):
    id: UUID
    key_id: UUID
    prefix: str
    created_at: datetime
    revoked_at: datetime | None
    active: bool


def key_out(key: ApiKey) -> KeyOut:
    return from_attributes(KeyOut, key, key_id=key.id, active=key.revoked_at is None)


# ---- provider credentials ---------------------------------------------------------------


class CreateCredentialBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    organization_id: UUID
    provider: ProviderName
    name: Name
    api_key: ApiKeyText
    api_base: Url | None = None

    def __repr__(self) -> str:  # the key stays out of logs and tracebacks
        return f"CreateCredentialBody(provider={self.provider!r}, name={self.name!r})"


class UpdateCredentialBody(msgspec.Struct, frozen=True, forbid_unknown_fields=True, kw_only=True):
    """A changed ``provider`` or ``api_base`` needs ``api_key`` in the same body (else 422)."""

    name: Name | msgspec.UnsetType = msgspec.UNSET
    provider: ProviderName | msgspec.UnsetType = msgspec.UNSET
    api_key: ApiKeyText | msgspec.UnsetType = msgspec.UNSET
    api_base: Url | msgspec.UnsetType | None = msgspec.UNSET
    is_active: bool | msgspec.UnsetType = msgspec.UNSET

    def __repr__(self) -> str:
        return "UpdateCredentialBody(...)"


class CredentialOut(msgspec.Struct, frozen=True, kw_only=True):
    """A provider credential as the API shows it: never the key, only its hint."""

    id: UUID
    organization_id: UUID
    provider: str
    name: str
    key_hint: str
    api_base: str | None
    is_active: bool
    created_at: datetime
    version: int


def credential_out(credential: StoredCredential) -> CredentialOut:
    return from_attributes(CredentialOut, credential, provider=str(credential.provider))
