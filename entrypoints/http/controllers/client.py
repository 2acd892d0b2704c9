"""The client API (team virtual key): jobs, calls, streams, credits and usage."""

from datetime import date
from functools import partial
from typing import Annotated, Any
from uuid import UUID

from litestar import Controller, Request, Response, get, patch, post
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter
from litestar.response import Stream

from application.principal import TeamPrincipal
from application.services.calls import CallFailed, CallFinished
from application.services.one_call_jobs import NewJob
from domain.ids import JobId, TeamId
from domain.jobs import Job, JobStatus
from entrypoints.bootstrap import Services
from entrypoints.http import cursors
from entrypoints.http.controllers.job_pages import job_page
from entrypoints.http.dates import month_start, requested_days
from entrypoints.http.dependencies import AnyCaller, provide_principal, provide_services, team_key_or_admin
from entrypoints.http.middleware import note_call
from entrypoints.http.rate_limit_errors import window_headers
from entrypoints.http.schemas.client import (
    CallBody,
    CallOut,
    CompleteBody,
    CompletionOut,
    CreateAndCallBody,
    CreateAndCallOut,
    CreateJobBody,
    JobDetailOut,
    JobOut,
    JobPage,
    MetadataBody,
    TeamUsageOut,
    TransactionPage,
    call_out,
    call_summary_out,
    completion_out,
    costs_out,
    job_out,
    transaction_out,
    usage_report_out,
)
from entrypoints.http.schemas.money import fixed_point
from entrypoints.http.sse import call_events

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


class ClientController(Controller):
    """Every handler authenticates the team key first (401), then the use case checks
    ownership (404), suspension (403), access (403) and credits (402)."""

    path = "/api"
    tags = ["client"]
    security = [{"TeamKey": []}]
    dependencies = {"principal": Provide(provide_principal), "services": Provide(provide_services)}

    @post("/jobs/create", status_code=201, summary="Create a job")
    async def create_job(
        self,
        data: JSONBody[CreateJobBody],
        principal: NamedDependency[TeamPrincipal],
        services: NamedDependency[Services],
    ) -> Response[JobOut]:
        job, created = await _create_job(data, principal, services)
        return Response(job_out(job), status_code=201 if created else 200)

    @post("/jobs/{job_id:uuid}/llm-call", status_code=200, summary="Make an LLM call inside a job")
    async def llm_call(
        self,
        job_id: FromPath[UUID],
        data: JSONBody[CallBody],
        principal: NamedDependency[TeamPrincipal],
        services: NamedDependency[Services],
        request: Request[Any, Any, Any],
    ) -> Response[CallOut]:
        result = await services.calls.call(principal, JobId(job_id), data.to_request())
        note_call(request.scope, result.call)
        return Response(
            call_out(result.call, result.content, result.tool_calls), headers=window_headers(result.rate_limits)
        )

    @post(
        "/jobs/{job_id:uuid}/llm-call-stream",
        status_code=200,
        summary="Make a streamed LLM call (text/event-stream: start, delta…, done | error)",
    )
    async def llm_call_stream(
        self,
        job_id: FromPath[UUID],
        data: JSONBody[CallBody],
        principal: NamedDependency[TeamPrincipal],
        services: NamedDependency[Services],
        request: Request[Any, Any, Any],
    ) -> Stream:
        stream = await services.calls.open_stream(principal, JobId(job_id), data.to_request())
        events = call_events(stream, on_call=lambda call: note_call(request.scope, call))
        headers = {**SSE_HEADERS, **window_headers(stream.rate_limits)}
        return Stream(events, media_type="text/event-stream", headers=headers)

    @post("/jobs/{job_id:uuid}/complete", status_code=200, summary="Complete a job (idempotent)")
    async def complete_job(
        self,
        job_id: FromPath[UUID],
        principal: NamedDependency[TeamPrincipal],
        services: NamedDependency[Services],
        data: JSONBody[CompleteBody | None] = None,
    ) -> CompletionOut:
        body = data or CompleteBody()
        done = await services.jobs.complete_job(
            principal, JobId(job_id), status=JobStatus(body.status), metadata=body.metadata
        )
        return completion_out(done)

    @post("/jobs/create-and-call", status_code=200, summary="A one-call job, completed after the call")
    async def create_and_call(
        self,
        data: JSONBody[CreateAndCallBody],
        principal: NamedDependency[TeamPrincipal],
        services: NamedDependency[Services],
        request: Request[Any, Any, Any],
    ) -> Response[CreateAndCallOut]:
        done = await services.one_call_jobs.call(principal, _new_job(data), data.to_request())
        note_call(request.scope, done.result.call)
        out = call_out(done.result.call, done.result.content, done.result.tool_calls)
        body = CreateAndCallOut(
            **{f: getattr(out, f) for f in out.__struct_fields__},
            costs=costs_out(done.completion.costs),
            credits_deducted=fixed_point(done.completion.credits_deducted),
            credits_remaining=fixed_point(done.completion.credits_remaining),
        )
        return Response(body, headers=window_headers(done.result.rate_limits))

    @post("/jobs/create-and-call-stream", status_code=200, summary="A one-call streamed job, completed after the call")
    async def create_and_call_stream(
        self,
        data: JSONBody[CreateAndCallBody],
        principal: NamedDependency[TeamPrincipal],
        services: NamedDependency[Services],
        request: Request[Any, Any, Any],
    ) -> Stream:
        opened = await services.one_call_jobs.open_stream(principal, _new_job(data), data.to_request())

        async def job_costs(_: CallFinished | CallFailed) -> dict[str, Any]:
            done = opened.completion()  # the use case finished the job before its last item
            return {
                "job_id": opened.job.id,
                "costs": costs_out(done.costs),
                "credits_deducted": fixed_point(done.credits_deducted),
                "credits_remaining": fixed_point(done.credits_remaining),
            }

        events = call_events(
            opened.stream,
            start_extra={"job_id": opened.job.id},
            on_end=job_costs,
            on_call=lambda call: note_call(request.scope, call),
        )
        headers = {**SSE_HEADERS, **window_headers(opened.stream.rate_limits)}
        return Stream(events, media_type="text/event-stream", headers=headers)

    @get(
        "/jobs/{job_id:uuid}",
        summary="A job with its calls and, once finished, its costs (team key, or admin token of its organization)",
        **team_key_or_admin(),
    )
    async def get_job(
        self, job_id: FromPath[UUID], caller: NamedDependency[AnyCaller], services: NamedDependency[Services]
    ) -> JobDetailOut:
        view = await services.jobs.get_job(caller, JobId(job_id))
        job = view.job
        base = job_out(job)
        return JobDetailOut(
            **{f: getattr(base, f) for f in base.__struct_fields__},
            calls=[call_summary_out(c) for c in view.calls],
            totals=costs_out(job.totals),
            costs=costs_out(job.totals) if job.status.is_final else None,
            credits_deducted=fixed_point(job.credits_charged) if job.credits_charged is not None else None,
        )

    @patch("/jobs/{job_id:uuid}/metadata", summary="Merge keys into a job's metadata (null removes a key)")
    async def patch_metadata(
        self,
        job_id: FromPath[UUID],
        data: JSONBody[MetadataBody],
        principal: NamedDependency[TeamPrincipal],
        services: NamedDependency[Services],
    ) -> JobOut:
        return job_out(await services.jobs.update_metadata(principal, JobId(job_id), data.metadata))

    @get("/teams/{team_id:uuid}/jobs", summary="List a team's jobs, newest first")
    async def list_jobs(
        self,
        team_id: FromPath[UUID],
        principal: NamedDependency[TeamPrincipal],
        services: NamedDependency[Services],
        status: FromQuery[JobStatus | None] = None,
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: FromQuery[date | None] = None,
        cursor: FromQuery[str | None] = None,
        limit: cursors.Limit = 50,
    ) -> JobPage:
        return await job_page(
            partial(services.jobs.list_jobs, principal, TeamId(team_id)),
            status=status,
            from_=from_,
            to=to,
            cursor=cursor,
            limit=limit,
        )

    @get(
        "/teams/{team_id:uuid}/credits/transactions",
        summary="The team's credit ledger, newest first (team key, or admin token of its organization)",
        **team_key_or_admin(),
    )
    async def transactions(
        self,
        team_id: FromPath[UUID],
        caller: NamedDependency[AnyCaller],
        services: NamedDependency[Services],
        cursor: FromQuery[str | None] = None,
        limit: cursors.Limit = 50,
    ) -> TransactionPage:
        before = cursors.decode_int(cursor) if cursor else None
        return await cursors.page(
            TransactionPage,
            lambda n: services.credits.transactions(caller, TeamId(team_id), before=before, limit=n),
            limit,
            shown=transaction_out,
            cursor=lambda e: cursors.encode(e.created_at, e.sequence),
        )

    @get(
        "/teams/{team_id:uuid}/usage",
        summary="The team's usage over a date range, inclusive (team key, or admin token of its organization)",
        **team_key_or_admin(),
    )
    async def usage(
        self,
        team_id: FromPath[UUID],
        caller: NamedDependency[AnyCaller],
        services: NamedDependency[Services],
        from_: Annotated[date | None, QueryParameter(name="from")] = None,
        to: FromQuery[date | None] = None,
    ) -> TeamUsageOut:
        first, last = requested_days(services.usage, from_, to, default_first=month_start)
        result = await services.usage.team_usage(caller, TeamId(team_id), first_day=first, last_day=last)
        return usage_report_out(
            team_id, first, last, result.budget.mode.value, result.report, result.balance, result.in_progress
        )


def _new_job(data: CreateAndCallBody) -> NewJob:
    return NewJob(
        job_type=data.job_type,
        metadata=data.metadata,
        external_id=data.external_id,
        team_id=TeamId(data.team_id) if data.team_id else None,
    )


async def _create_job(data: CreateJobBody, principal: TeamPrincipal, services: Services) -> tuple[Job, bool]:
    return await services.jobs.create_job(
        principal,
        job_type=data.job_type,
        metadata=data.metadata,
        external_id=data.external_id,
        team_id=TeamId(data.team_id) if data.team_id else None,
    )
