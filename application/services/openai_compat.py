"""The OpenAI-compatible surface's use cases: a chat completion in a named job or in a job
made for it, and the models a team may call.

Rules:

- with a job id the call is made in that job exactly as ``POST /api/jobs/{id}/llm-call``
  makes it: the job must be this team's (404 otherwise) and accept calls (409 otherwise),
  and it stays open for more calls;
- without one, a one-call job is created and finished after the call exactly as
  ``POST /api/jobs/create-and-call`` does (completed when the call succeeded, failed
  otherwise);
- holds, prices, credits and rate limits are the call use cases' own: nothing here
  computes money, so a call costs the same on both surfaces;
- the models are exactly the aliases the team may call: platform-wide or its
  organization's, through one of its access groups.
"""

import logging
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

import msgspec

from application.ports.rate_limits import RateLimitWindow
from application.ports.system import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.principal import TeamPrincipal
from application.services._access import own_team
from application.services.calls import (
    CallRequest,
    CallResult,
    CallService,
    CallStarted,
    CallStream,
    StreamItem,
)
from application.services.one_call_jobs import NewJob, OneCallJobService
from domain.access import ModelAlias, offered_to
from domain.ids import JobId

log = logging.getLogger(__name__)


class ChatCompletion(msgspec.Struct, frozen=True, kw_only=True):
    """A finished call and the job it was made in (named, or created for it and finished)."""

    job_id: JobId
    result: CallResult


class ChatStream(msgspec.Struct, frozen=True, kw_only=True):
    """An opened stream (the provider already answered) and the job it runs in.

    ``close`` must be awaited when the consumer is done or gone, shielded from
    cancellation: it records the call's outcome (and finishes a created job) if the end
    of ``items`` was never reached.
    """

    job_id: JobId
    started: CallStarted
    created_at: datetime
    items: AsyncGenerator[StreamItem, None]
    close: Callable[[], Awaitable[None]]
    rate_limits: tuple[RateLimitWindow, ...] = ()  # the team's windows as this call left them


@dataclass(frozen=True, kw_only=True)
class OpenAiCompatService:
    uow: UnitOfWorkFactory
    calls: CallService
    one_call_jobs: OneCallJobService
    clock: Clock

    async def complete(
        self, principal: TeamPrincipal, request: CallRequest, *, job_id: JobId | None, new_job: NewJob
    ) -> ChatCompletion:
        if job_id is not None:
            return ChatCompletion(job_id=job_id, result=await self.calls.call(principal, job_id, request))
        done = await self.one_call_jobs.call(principal, new_job, request)
        return ChatCompletion(job_id=done.job.id, result=done.result)

    async def open_stream(
        self, principal: TeamPrincipal, request: CallRequest, *, job_id: JobId | None, new_job: NewJob
    ) -> ChatStream:
        if job_id is not None:
            return self._chat_stream(job_id, await self.calls.open_stream(principal, job_id, request))
        opened = await self.one_call_jobs.open_stream(principal, new_job, request)
        # Its items finish the job before the last one; its close finishes it if nobody did.
        return self._chat_stream(opened.job.id, opened.stream)

    def _chat_stream(self, job_id: JobId, stream: CallStream) -> ChatStream:
        return ChatStream(
            job_id=job_id,
            started=stream.started,
            created_at=self.clock.now(),
            items=stream.items,
            close=stream.close,
            rate_limits=stream.rate_limits,
        )

    async def models(self, principal: TeamPrincipal) -> list[ModelAlias]:
        """The aliases this team may call, by name."""
        async with self.uow() as uow:
            team = await own_team(uow, principal)
            aliases = await uow.aliases.list()
        found = [a for a in aliases if offered_to(team.organization_id, team.access_groups, a)]
        return sorted(found, key=lambda a: a.alias)

    async def model(self, principal: TeamPrincipal, name: str) -> ModelAlias | None:
        """One alias, if this team may call it (None otherwise, whether or not it exists)."""
        return next((a for a in await self.models(principal) if a.alias == name), None)
