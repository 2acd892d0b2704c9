"""Organizations (the operator's customers) and their teams."""

from datetime import datetime
from enum import StrEnum

import msgspec

from domain.budgets import BudgetPolicy
from domain.errors import TeamSuspendedError
from domain.ids import OrganizationId, TeamId
from domain.rate_limits import RateLimits


class Organization(msgspec.Struct, frozen=True, kw_only=True):
    id: OrganizationId
    name: str
    slug: str
    created_at: datetime
    version: int = 1  # bumped by every change of the row (optimistic concurrency, ETag)


class TeamStatus(StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class Team(msgspec.Struct, frozen=True, kw_only=True):
    id: TeamId
    organization_id: OrganizationId
    name: str
    status: TeamStatus
    budget: BudgetPolicy
    created_at: datetime
    access_groups: tuple[str, ...] = ()
    version: int = 1  # bumped by every change of its configuration, never by credit movements
    rpm_limit: int | None = None  # requests per minute; None: unlimited
    tpm_limit: int | None = None  # tokens per minute (prompt + completion); None: unlimited

    def __post_init__(self) -> None:
        RateLimits(requests_per_minute=self.rpm_limit, tokens_per_minute=self.tpm_limit)  # checks both

    @property
    def rate_limits(self) -> RateLimits:
        return RateLimits(requests_per_minute=self.rpm_limit, tokens_per_minute=self.tpm_limit)

    def ensure_active(self) -> None:
        if self.status is not TeamStatus.ACTIVE:
            raise TeamSuspendedError("this team is suspended")
