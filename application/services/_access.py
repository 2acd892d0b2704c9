"""Loading helpers shared by the client use cases: ownership is checked here, once."""

from application.errors import NotFoundError
from application.ports.unit_of_work import UnitOfWork
from application.principal import TeamPrincipal
from domain.ids import JobId, TeamId
from domain.jobs import Job
from domain.organizations import Team


async def own_team(uow: UnitOfWork, principal: TeamPrincipal, team_id: TeamId | None = None) -> Team:
    """The caller's team; another team's id answers 404, as if it did not exist."""
    if team_id is not None and team_id != principal.team_id:
        raise NotFoundError("team not found")
    team = await uow.teams.get(principal.team_id)
    if team is None:
        raise NotFoundError("team not found")
    return team


async def own_job(uow: UnitOfWork, principal: TeamPrincipal, job_id: JobId, *, for_update: bool = False) -> Job:
    """The caller's job; another team's job answers 404."""
    job = await uow.jobs.get(job_id, for_update=for_update)
    if job is None or job.team_id != principal.team_id:
        raise NotFoundError("job not found")
    return job
