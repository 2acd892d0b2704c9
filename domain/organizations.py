"""Organizations (the operator's customers) and their teams."""

from datetime import datetime
from enum import StrEnum

import msgspec

from domain.budgets import BudgetPolicy
from domain.errors import TeamSuspendedError
from domain.ids import OrganizationId, TeamId


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

    def ensure_active(self) -> None:
        if self.status is not TeamStatus.ACTIVE:
            raise TeamSuspendedError("this team is suspended")
