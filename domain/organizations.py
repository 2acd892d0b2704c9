"""Organizations (the operator's customers) and their teams."""

from datetime import datetime
from decimal import Decimal
from enum import StrEnum

import msgspec

from domain.budgets import BudgetPolicy
from domain.errors import InvalidValueError, TeamSuspendedError
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


MAX_LOW_CREDIT_THRESHOLD = Decimal(10**12)


def check_low_credit_threshold(threshold: Decimal | None) -> Decimal | None:
    """None (10 % of the allocation), or credits from 0 to 10¹² with at most 6 decimals."""
    if threshold is None:
        return None
    exponent = threshold.as_tuple().exponent if threshold.is_finite() else None
    if (
        not isinstance(exponent, int)
        or not 0 <= threshold <= MAX_LOW_CREDIT_THRESHOLD
        or threshold.normalize().as_tuple().exponent < -6  # type: ignore[operator]
    ):
        raise InvalidValueError("low_credit_threshold must be credits from 0 to 10^12 with at most 6 decimals")
    return threshold
