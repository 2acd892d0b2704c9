"""Domain entities built in memory for the tests that store or inspect one directly."""

from datetime import datetime
from typing import Any
from uuid import uuid4

from domain.budgets import BudgetMode, BudgetPolicy
from domain.ids import OrganizationId, TeamId
from domain.organizations import Team, TeamStatus


def new_team(
    organization_id: OrganizationId,
    *,
    created_at: datetime,
    mode: BudgetMode = BudgetMode.CONSUMPTION_USD,
    status: TeamStatus = TeamStatus.ACTIVE,
    name: str = "t",
    **fields: Any,
) -> Team:
    """A team of the organization with a fresh id; ``fields`` sets any other of its fields."""
    return Team(
        id=TeamId(uuid4()),
        organization_id=organization_id,
        name=name,
        status=status,
        budget=BudgetPolicy(mode=mode),
        created_at=created_at,
        **fields,
    )
