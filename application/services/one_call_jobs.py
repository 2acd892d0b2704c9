"""Create-and-call: a job made for one call, finished right after it.

Rules:

- the call is counted against the team's rate limits first, so a refused one (429)
  leaves no job; then the job is created as on ``POST /api/jobs/create`` (same checks,
  same idempotent ``external_id``) and the call is made in it;
- the job always finishes: ``completed`` when the call succeeded, ``failed`` otherwise
  (including a call refused before the provider, whose job then costs nothing);
- a client that goes away does not leave the job open: a plain call runs to its end and
  the job is finished after it; an abandoned stream is recorded as the call service says,
  then the job is finished by the outcome that was recorded.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Any

import msgspec

from application.errors import UnavailableError
from application.principal import TeamPrincipal
from application.services.calls import (
    CallFailed,
    CallFinished,
    CallRequest,
    CallResult,
    CallService,
    CallStream,
    StreamItem,
)
from application.services.jobs import JobCompletion, JobService
from application.services.rate_limits import Admission
from domain.calls import CallStatus
from domain.errors import CallsInFlightError, DomainError
from domain.ids import TeamId
from domain.jobs import Job, JobStatus

log = logging.getLogger(__name__)


class NewJob(msgspec.Struct, frozen=True, kw_only=True):
    job_type: str
    metadata: dict[str, Any] | None = None
    external_id: str | None = None
    team_id: TeamId | None = None


class OneCallResult(msgspec.Struct, frozen=True, kw_only=True):
    job: Job
    result: CallResult
    completion: JobCompletion


class OneCallStream(msgspec.Struct, frozen=True, kw_only=True):
    """The call's stream, whose items finish the job before passing on the call's last item
    (so a client that reads to the end finds the job finished); ``completion()`` then gives
    what finishing it cost. ``stream.close`` finishes the job too if the stream never got
    to its end (the client left)."""

    job: Job
    stream: CallStream
    completion: Callable[[], JobCompletion]


class OneCallJobService:
    def __init__(self, *, jobs: JobService, calls: CallService) -> None:
        self._jobs = jobs
        self._calls = calls

    async def call(self, principal: TeamPrincipal, new: NewJob, request: CallRequest) -> OneCallResult:
        # Counted before the job exists: a call the rate limit refuses leaves no job behind.
        admission = await self._calls.admit(principal, request)
        job = await self._create(principal, new)
        # Its own task: the client leaving does not stop the call, nor leave the job open.
        task = asyncio.ensure_future(self._call_and_finish(principal, job, request, admission))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return await asyncio.shield(task)

    async def _call_and_finish(
        self, principal: TeamPrincipal, job: Job, request: CallRequest, admission: Admission
    ) -> OneCallResult:
        try:
            result = await self._calls.call(principal, job.id, request, admitted=admission)
        except Exception:
            await self._fail(principal, job)
            raise
        completion = await self._jobs.complete_job(principal, job.id)
        return OneCallResult(job=job, result=result, completion=completion)

    async def open_stream(self, principal: TeamPrincipal, new: NewJob, request: CallRequest) -> OneCallStream:
        admission = await self._calls.admit(principal, request)
        job = await self._create(principal, new)
        try:
            stream = await self._calls.open_stream(principal, job.id, request, admitted=admission)
        except BaseException:
            await asyncio.shield(self._fail(principal, job))
            raise
        finished: asyncio.Future[JobCompletion] | None = None

        def finish(succeeded: bool) -> "asyncio.Future[JobCompletion]":
            nonlocal finished
            if finished is None:  # once: later calls share the same completion
                status = JobStatus.COMPLETED if succeeded else JobStatus.FAILED
                finished = asyncio.ensure_future(self._jobs.complete_job(principal, job.id, status=status))
                finished.add_done_callback(lambda t: t.cancelled() or t.exception())
            return finished

        async def items() -> AsyncGenerator[StreamItem, None]:
            async for item in stream.items:
                if isinstance(item, CallFinished | CallFailed):
                    # The call is recorded whatever happens here; a job left open is finished
                    # by the sweeper (expired, and charged as the job's calls say).
                    try:
                        await asyncio.shield(finish(isinstance(item, CallFinished)))
                    except DomainError as exc:
                        log.warning("one_call_job_not_finished", extra={"job_id": str(job.id), "code": exc.code})
                yield item

        def completion() -> JobCompletion:
            """What finishing the job cost (its error if it could not be finished)."""
            if finished is None or not finished.done():
                raise RuntimeError("the job is finished only once the call's last item was passed on")
            return finished.result()

        relayed = items()

        async def close() -> None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await relayed.aclose()
            await stream.close()
            if finished is None:  # the client left before the end: finish by the recorded outcome
                with contextlib.suppress(CallsInFlightError, UnavailableError):  # see _fail
                    view = await self._jobs.get_job(principal, job.id)
                    ok = any(c.status is CallStatus.SUCCEEDED for c in view.calls)
                    status = JobStatus.COMPLETED if ok else JobStatus.FAILED
                    # The call is recorded by now; a call whose record failed keeps its lease
                    # and the job closing, for the sweeper to finish once it is captured.
                    await self._jobs.complete_job(principal, job.id, status=status, wait_s=0)

        wrapped = msgspec.structs.replace(stream, items=relayed, close=close)
        return OneCallStream(job=job, stream=wrapped, completion=completion)

    async def _fail(self, principal: TeamPrincipal, job: Job) -> None:
        """Finish the job as failed after its call failed; the call's own error is what the
        client sees. A call whose record could not be written keeps its lease: the job is
        then left closing, and the sweeper finishes it once that call is captured."""
        with contextlib.suppress(CallsInFlightError, UnavailableError):
            await self._jobs.complete_job(principal, job.id, status=JobStatus.FAILED, wait_s=0)

    async def _create(self, principal: TeamPrincipal, new: NewJob) -> Job:
        job, _ = await self._jobs.create_job(
            principal,
            job_type=new.job_type,
            metadata=new.metadata,
            external_id=new.external_id,
            team_id=new.team_id,
        )
        return job
