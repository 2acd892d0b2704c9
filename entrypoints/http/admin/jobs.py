"""The jobs drill-down: organization → team → job → its calls."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from domain.ids import JobId, OrganizationId, TeamId
from domain.jobs import JobStatus
from entrypoints.http import cursors
from entrypoints.http.admin.pages import Panel, one_page

PAGE_SIZE = 25
STATUSES = tuple(s.value for s in JobStatus)


def day_start(day: date | None) -> datetime | None:
    return datetime.combine(day, time.min, tzinfo=UTC) if day else None


class JobsController(Controller):
    path = "/jobs"

    @get("/", name="panel:jobs")
    async def jobs(
        self,
        panel: NamedDependency[Panel],
        organization_id: FromQuery[UUID | None] = None,
        team_id: FromQuery[UUID | None] = None,
        status: FromQuery[JobStatus | None] = None,
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: FromQuery[date | None] = None,
        cursor: FromQuery[str | None] = None,
    ) -> Response[Any]:
        services, admin = panel.services, panel.admin
        team = await services.organizations.get_team(admin, TeamId(team_id)) if team_id else None
        org_id = team.organization_id if team else (OrganizationId(organization_id) if organization_id else None)
        organization = await services.organizations.get_organization(admin, org_id) if org_id else None
        organizations = await panel.organizations()
        teams = (
            await services.organizations.list_teams(admin, organization_id=organization.id, limit=200)
            if organization is not None
            else []
        )
        # An organization without a team is the drill-down's middle step: its teams, no jobs.
        # Without either, the newest jobs of every team the admin sees.
        listing = team is not None or organization is None
        before = cursors.keyset(cursor, JobId)
        found = (
            await services.jobs.search_jobs(
                admin,
                team_id=team.id if team else None,
                status=status,
                created_from=day_start(from_),
                created_to=day_start(to + timedelta(days=1)) if to else None,
                before=before,
                limit=PAGE_SIZE + 1,
            )
            if listing
            else []
        )
        shown, next_cursor = one_page(found, PAGE_SIZE, cursors.created)
        all_teams = teams or (await services.organizations.list_teams(admin, limit=500) if shown else [])
        query = {
            k: v
            for k, v in {
                "organization_id": str(org_id) if org_id else None,
                "team_id": str(team.id) if team else None,
                "status": status.value if status else None,
                "from": from_.isoformat() if from_ else None,
                "to": to.isoformat() if to else None,
            }.items()
            if v
        }
        return panel.page(
            "jobs/_results.html" if panel.htmx else "jobs.html",
            organization=organization,
            organizations=organizations,
            team=team,
            teams=teams,
            team_names={t.id: t.name for t in all_teams},
            jobs=shown,
            listing=listing,
            statuses=STATUSES,
            status_filter=status.value if status else "",
            from_=from_,
            to=to,
            query=query,
            next_cursor=next_cursor,
            first_page=cursor is None,
        )

    @get("/{job_id:uuid}", name="panel:job")
    async def job(self, panel: NamedDependency[Panel], job_id: FromPath[UUID]) -> Response[Any]:
        services, admin = panel.services, panel.admin
        view = await services.jobs.get_job(admin, JobId(job_id))
        team = await services.organizations.get_team(admin, view.job.team_id)
        organization = await services.organizations.get_organization(admin, team.organization_id)
        return panel.page("job.html", job=view.job, calls=view.calls, team=team, organization=organization)
