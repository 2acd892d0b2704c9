"""Organizations (the operator's customers) and their teams."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import msgspec

from domain.budgets import BudgetPolicy
from domain.errors import InvalidValueError, TeamSuspendedError
from domain.ids import OrganizationId, TeamId
from domain.money import is_credit_amount
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
    # Credits below which the team counts as running low (team.credits_low); None: 10 % of
    # its allocation.
    low_credit_threshold: Decimal | None = None

    def __post_init__(self) -> None:
        RateLimits(requests_per_minute=self.rpm_limit, tokens_per_minute=self.tpm_limit)  # checks both
        check_low_credit_threshold(self.low_credit_threshold)

    @property
    def rate_limits(self) -> RateLimits:
        return RateLimits(requests_per_minute=self.rpm_limit, tokens_per_minute=self.tpm_limit)

    def ensure_active(self) -> None:
        if self.status is not TeamStatus.ACTIVE:
            raise TeamSuspendedError("this team is suspended")

    def suspend(self) -> "Team":
        """The team with its client calls refused (403); its keys, credits and configuration
        stay. Suspending a suspended team changes nothing (the same team, nothing to write)."""
        return (
            self if self.status is TeamStatus.SUSPENDED else msgspec.structs.replace(self, status=TeamStatus.SUSPENDED)
        )

    def resume(self) -> "Team":
        """The team serving calls again; resuming an active team changes nothing."""
        return self if self.status is TeamStatus.ACTIVE else msgspec.structs.replace(self, status=TeamStatus.ACTIVE)

    def with_status(self, status: TeamStatus) -> "Team":
        """``suspend()`` or ``resume()``, as the status asked for."""
        return self.suspend() if status is TeamStatus.SUSPENDED else self.resume()


def check_low_credit_threshold(threshold: Decimal | None) -> Decimal | None:
    """None (10 % of the allocation), or credits from 0 to 10¹² with at most 6 decimals."""
    if threshold is not None and not is_credit_amount(threshold):
        raise InvalidValueError("low_credit_threshold must be credits from 0 to 10^12 with at most 6 decimals")
    return threshold
