"""Loading helpers shared by the use cases: ownership and scope are checked here, once.

A client key sees only its team; an admin scoped to an organization sees only that
organization (the rule is ``domain.admins.sees``). Either way, what the caller may not see
answers exactly like what does not exist (the same 404 and message), so ids of other
tenants' resources leak nothing.
"""

from typing import Protocol, TypeVar

from application.errors import NotFoundError
from application.ports.unit_of_work import UnitOfWork
from application.principal import TeamPrincipal
from domain.admins import AdminPrincipal, HiddenError, sees, visible_scope
from domain.ids import JobId, OrganizationId, TeamId
from domain.jobs import Job
from domain.organizations import Organization, Team

Caller = TeamPrincipal | AdminPrincipal


class _InOrganization(Protocol):
    @property
    def organization_id(self) -> OrganizationId | None: ...


Row = TypeVar("Row", bound=_InOrganization)
T = TypeVar("T")


def found(row: T | None, what: str) -> T:
    """The loaded ``row``; missing, the 404 ``{what} not found``."""
    if row is None:
        raise NotFoundError(f"{what} not found")
    return row


async def own_team(uow: UnitOfWork, principal: TeamPrincipal, team_id: TeamId | None = None) -> Team:
    """The caller's team; another team's id answers 404, as if it did not exist."""
    if team_id is not None and team_id != principal.team_id:
        raise NotFoundError("team not found")
    return found(await uow.teams.get(principal.team_id), "team")


async def own_job(uow: UnitOfWork, principal: TeamPrincipal, job_id: JobId, *, for_update: bool = False) -> Job:
    """The caller's job; another team's job answers 404."""
    job = await uow.jobs.get(job_id, for_update=for_update)
    if job is None or job.team_id != principal.team_id:
        raise NotFoundError("job not found")
    return job


__all__ = [
    "Caller",
    "found",
    "listing_scope",
    "own_job",
    "own_team",
    "seen",
    "sees",
    "visible_job",
    "visible_organization",
    "visible_team",
]


def seen(row: Row | None, actor: AdminPrincipal | None, what: str) -> Row:
    """The loaded ``row`` if the actor sees its organization; missing or hidden, the same 404."""
    if row is None or not sees(actor, row.organization_id):
        raise NotFoundError(f"{what} not found")
    return row


def listing_scope(actor: AdminPrincipal, requested: OrganizationId | None) -> OrganizationId | None:
    """``domain.admins.visible_scope`` (the one rule), refusing as the use cases' 404."""
    try:
        return visible_scope(actor, requested)
    except HiddenError:
        raise NotFoundError("organization not found") from None


async def visible_organization(
    uow: UnitOfWork, actor: AdminPrincipal | None, organization_id: OrganizationId
) -> Organization:
    # The scope is checked before existence: a scoped admin learns nothing about other ids.
    return found(await uow.organizations.get(organization_id) if sees(actor, organization_id) else None, "organization")


async def visible_team(uow: UnitOfWork, caller: Caller | None, team_id: TeamId) -> Team:
    """A team the caller may see: its own (client key) or one of its organization's (admin)."""
    if isinstance(caller, TeamPrincipal):
        return await own_team(uow, caller, team_id)
    return seen(await uow.teams.get(team_id), caller, "team")


async def visible_job(uow: UnitOfWork, caller: Caller, job_id: JobId) -> Job:
    if isinstance(caller, TeamPrincipal):
        return await own_job(uow, caller, job_id)
    job = found(await uow.jobs.get(job_id), "job")
    seen(await uow.teams.get(job.team_id), caller, "job")  # a job is seen through its team
    return job
