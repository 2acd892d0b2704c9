"""A page of jobs, newest first, as the client API and the admin API list them."""

from collections.abc import Awaitable, Callable
from datetime import date

from domain.ids import JobId
from domain.jobs import Job, JobStatus
from entrypoints.http import cursors
from entrypoints.http.dates import created_window
from entrypoints.http.schemas.client import JobPage, job_out

JobSearch = Callable[..., Awaitable[list[Job]]]
"""A use case's job listing with its caller (and scope) bound: it takes the ``JobFilters``."""


async def job_page(
    search: JobSearch,
    *,
    status: JobStatus | None,
    from_: date | None,
    to: date | None,
    cursor: str | None,
    limit: int,
) -> JobPage:
    """The jobs ``search`` finds with ``status`` created within the days ``from``..``to``
    (each checked, 422), from where ``cursor`` points (the first page without one)."""
    created_from, created_to = created_window(from_, to)
    before = cursors.keyset(cursor, JobId)
    return await cursors.page(
        JobPage,
        lambda n: search(status=status, created_from=created_from, created_to=created_to, before=before, limit=n),
        limit,
        shown=job_out,
        cursor=cursors.created,
    )
