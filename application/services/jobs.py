"""Job use cases: create, read, annotate, complete, expire, and capture unsettled calls."""

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Unpack

import msgspec

from application.errors import ConflictError
from application.ports.observability import Metrics
from application.ports.repositories import CallLease, CallLedger, JobFilters, SettleRequest
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.principal import TeamPrincipal
from application.services._access import Caller, found, listing_scope, own_job, own_team, visible_job, visible_team
from application.services._events import job_finished
from domain.admins import AdminPrincipal
from domain.calls import LlmCall, unsettled_call
from domain.errors import CallsInFlightError, InsufficientCreditsError, InvalidValueError
from domain.ids import JobId, TeamId
from domain.jobs import CostSummary, Job, JobStatus, check_client_final_status, check_metadata
from domain.ledger import UNSETTLED_REASON, NewEntry
from domain.money import ZERO
from domain.text import ensure_storable

MAX_JOB_TYPE_LENGTH = 200
MAX_EXTERNAL_ID_LENGTH = 200
# How long a completion waits for the job's calls in flight before answering 409.
DEFAULT_COMPLETION_WAIT_S = 10.0
log = logging.getLogger(__name__)


class JobCompletion(msgspec.Struct, frozen=True, kw_only=True):
    job_id: JobId
    status: JobStatus
    completed_at: datetime
    costs: CostSummary
    credits_deducted: Decimal
    credits_remaining: Decimal


class JobView(msgspec.Struct, frozen=True, kw_only=True):
    job: Job
    calls: list[LlmCall]


@dataclass(frozen=True, kw_only=True)
class JobService:
    """Rules:

    - a suspended team can create no job (403);
    - ``external_id`` is an idempotency key per team: the same one returns the same job;
    - job_based teams hold 1 credit at creation (402 below 1 available); consumption
      teams need some available credit (402 at zero);
    - completing is idempotent: a finished job returns its stored result and charges
      nothing more, and writes the job and day summaries in the same transaction as the
      charge;
    - completion never releases the hold of a call in flight: it stops new calls at once,
      waits up to ``completion_wait_s`` for the running ones to settle, then finishes with
      every call in the summary; if calls are still running it answers 409
      ``calls_in_flight`` and a retry (or the sweeper) finishes the job once they settle;
    - a job expires ``job_ttl_s`` after its last activity, never while a call holds a live
      lease; a call whose lease expired without a record is captured at its held amount.
    """

    uow: UnitOfWorkFactory
    clock: Clock
    ids: IdGenerator
    metrics: Metrics
    ledger: CallLedger
    job_ttl_s: int = 86_400
    completion_wait_s: float = DEFAULT_COMPLETION_WAIT_S

    async def create_job(
        self,
        principal: TeamPrincipal,
        *,
        job_type: str,
        metadata: dict[str, Any] | None = None,
        external_id: str | None = None,
        team_id: TeamId | None = None,
    ) -> tuple[Job, bool]:
        """The new job and True, or the existing job of ``external_id`` and False."""
        if not job_type or len(job_type) > MAX_JOB_TYPE_LENGTH:
            raise InvalidValueError("job_type must be 1-200 characters")
        ensure_storable(job_type, "job_type")
        if external_id is not None:
            if not external_id or len(external_id) > MAX_EXTERNAL_ID_LENGTH:
                raise InvalidValueError("external_id must be 1-200 characters")
            ensure_storable(external_id, "external_id")
        metadata = check_metadata(metadata or {})
        async with self.uow() as uow:
            team = await own_team(uow, principal, team_id)
            team.ensure_active()
            if external_id is not None:
                existing = await uow.jobs.find_by_external_id(team.id, external_id)
                if existing is not None:
                    return existing, False
            now = self.clock.now()
            job = Job(
                id=JobId(self.ids.new_id()),
                team_id=team.id,
                job_type=job_type,
                status=JobStatus.PENDING,
                created_at=now,
                metadata=metadata,
                external_id=external_id,
                held_credits=team.budget.job_hold,
                last_activity_at=now,
            )
            if job.held_credits > 0:
                # job_based: the conditional hold is ``may_create_job`` in one statement (it
                # refuses when the balance does not cover the job's credit); no read first.
                await uow.credits.apply(NewEntry.hold(team.id, job.held_credits, at=now, job_id=job.id))
            elif not team.budget.may_create_job((await uow.credits.balance(team.id)).available):
                raise InsufficientCreditsError("the team has no credits left")
            try:
                await uow.jobs.add(job)
            except ConflictError:
                if external_id is None:
                    raise
                duplicate = True
            else:
                duplicate = False
                await uow.commit()
        if duplicate:  # a concurrent request with the same external_id won the race
            async with self.uow() as uow:
                existing = await uow.jobs.find_by_external_id(principal.team_id, external_id or "")
            if existing is None:
                raise ConflictError("job with this external_id is being created")
            return existing, False
        return job, True

    async def get_job(self, caller: Caller, job_id: JobId) -> JobView:
        """The job with its calls, for its team's key or an admin of its organization."""
        async with self.uow() as uow:
            job = await visible_job(uow, caller, job_id)
            calls = await uow.calls.list_for_job(job_id)
        return JobView(job=job, calls=calls)

    async def search_jobs(
        self, actor: AdminPrincipal, *, team_id: TeamId | None = None, **filters: Unpack[JobFilters]
    ) -> list[Job]:
        """Jobs across teams, newest first: a scoped admin sees its organization's only."""
        async with self.uow() as uow:
            if team_id is not None:
                await visible_team(uow, actor, team_id)
            return await uow.jobs.search(organization_id=listing_scope(actor, None), team_id=team_id, **filters)

    async def update_metadata(self, principal: TeamPrincipal, job_id: JobId, metadata: dict[str, Any]) -> Job:
        """Merge keys into the job's metadata (a key set to null is removed)."""
        async with self.uow() as uow:
            job = (await own_job(uow, principal, job_id, for_update=True)).with_metadata(metadata)
            await uow.jobs.update_metadata(job_id, job.metadata)
            await uow.commit()
        return job

    async def list_jobs(self, principal: TeamPrincipal, team_id: TeamId, **filters: Unpack[JobFilters]) -> list[Job]:
        """A team's jobs, newest first."""
        async with self.uow() as uow:
            team = await own_team(uow, principal, team_id)
            return await uow.jobs.search(organization_id=None, team_id=team.id, **filters)

    async def complete_job(
        self,
        principal: TeamPrincipal,
        job_id: JobId,
        *,
        status: JobStatus = JobStatus.COMPLETED,
        metadata: dict[str, Any] | None = None,
        wait_s: float | None = None,
    ) -> JobCompletion:
        """Finish the job (see the class rules); ``wait_s`` overrides how long to wait for
        calls in flight (0: mark the job closing and answer at once)."""
        check_client_final_status(status)
        if metadata:
            check_metadata(metadata)
        async with self.uow() as uow:
            job = await own_job(uow, principal, job_id, for_update=True)
            if job.status.is_final:
                return await _stored_completion(uow, job)
            if metadata:  # merged like a PATCH: a null value removes its key
                await uow.jobs.update_metadata(job_id, job.with_metadata(metadata).metadata)
            if await uow.calls.in_flight(job_id) == 0:
                done = await finish_job(uow, job, status=job.closing_status or status, at=self.clock.now())
                await uow.commit()
                self.metrics.job_finished(done.status, done.costs)
                return done
            # Calls are running: no new call from now on; finish once they have settled.
            await uow.jobs.begin_closing(job_id, status)
            await uow.commit()
        # Poll (any instance may be running the calls): the bound is the time slept.
        bound = self.completion_wait_s if wait_s is None else wait_s
        waited, delay = 0.0, 0.02
        while True:
            result = await self._finish_if_settled(job_id)
            if result is not None:
                return result
            if waited >= bound:
                raise CallsInFlightError(
                    "calls of this job are still running; it finishes once they settle (retry later)"
                )
            step = min(delay, bound - waited)
            await asyncio.sleep(step)
            waited += step
            delay = min(delay * 2, 0.25)

    async def _finish_if_settled(self, job_id: JobId) -> JobCompletion | None:
        """Finish a closing job whose calls have all settled; None while some still run."""
        async with self.uow() as uow:
            if await uow.calls.in_flight(job_id) > 0:
                return None
            job = found(await uow.jobs.get(job_id, for_update=True), "job")
            if job.status.is_final:
                return await _stored_completion(uow, job)
            if await uow.calls.in_flight(job_id) > 0:  # re-checked under the job's lock
                return None
            result = await finish_job(uow, job, status=job.closing_status or JobStatus.COMPLETED, at=self.clock.now())
            await uow.commit()
        self.metrics.job_finished(result.status, result.costs)
        return result

    async def expire_stale_jobs(self, *, limit: int = 500) -> int:
        """The sweeper: capture calls whose lease expired, finish closing jobs whose calls
        have settled, and expire jobs idle past the TTL; returns how many jobs expired."""
        now = self.clock.now()
        await self.capture_unsettled_calls(limit=limit)
        async with self.uow() as uow:
            closing = await uow.jobs.list_closing(limit)
        for job_id in closing:
            await self._finish_if_settled(job_id)
        cutoff = now - timedelta(seconds=self.job_ttl_s)
        async with self.uow() as uow:
            stale = await uow.jobs.list_stale(cutoff, limit)
        expired = 0
        for job_id in stale:
            async with self.uow() as uow:
                job = await uow.jobs.get(job_id, for_update=True)
                if job is None or not job.is_idle_since(cutoff):
                    continue
                if await uow.calls.in_flight(job_id) > 0:
                    continue  # a live lease: the call is running, so the job is not idle
                result = await finish_job(uow, job, status=JobStatus.EXPIRED, at=self.clock.now())
                await uow.commit()
            self.metrics.job_finished(result.status, result.costs)
            expired += 1
        return expired

    async def capture_unsettled_calls(self, *, limit: int = 500) -> int:
        """Capture, at their held amount, the calls whose lease expired without a record.

        Their outcome is unknown (the process died, or the database refused the record
        for longer than the lease), so they are never free: the hold becomes a debit whose
        reason is ``unsettled`` and the call is listed as unsettled, for an operator to
        refund. Returns how many were captured.
        """
        async with self.uow() as uow:
            expired = await uow.calls.expired_leases(self.clock.now(), limit)
        captured = 0
        for lease in expired:
            if await self._capture(lease):
                captured += 1
        if captured:
            log.warning("unsettled_calls_captured", extra={"count": captured})
        return captured

    async def _capture(self, lease: CallLease) -> bool:
        now = self.clock.now()
        call = unsettled_call(
            call_id=lease.call_id,
            job_id=lease.job_id,
            team_id=lease.team_id,
            alias=lease.alias,
            provider=lease.provider,
            credits=lease.held,
            started_at=lease.created_at,
            at=now,
        )
        # Recorded (or captured) meanwhile: None, and nothing changes.
        captured = await self.ledger.record(call, actual=lease.held, at=None, reason=UNSETTLED_REASON)
        return captured is not None


async def finish_job(uow: UnitOfWork, job: Job, *, status: JobStatus, at: datetime) -> JobCompletion:
    """Finish a locked, active job with no call in flight: charge, summarise, and queue the
    ``job.completed`` (and, on crossing the threshold, ``team.credits_low``) webhook events
    in the same transaction (caller commits)."""
    team = await uow.teams.get(job.team_id)
    if team is None:  # pragma: no cover - foreign keys make this impossible
        raise InvalidValueError("job without team")
    end = job.finish(status, budget=team.budget, paid_calls=await _paid_calls(uow, job, status))
    job_debit = ZERO
    if end.settles:
        settlement = await uow.credits.settle(
            SettleRequest(
                team_id=job.team_id,
                held=end.held_credits,
                actual=end.charge_credits,
                at=at,
                job_id=job.id,
                call_id=None,
            )
        )
        job_debit = settlement.debit
    credits = job.totals.credits + job_debit
    await uow.jobs.finish(job.id, status=status, at=at, credits_charged=credits)
    await uow.usage.record_job(job, status=status, summary=job.totals, at=at, job_credits=job_debit)
    balance = await uow.credits.balance(job.team_id)
    await job_finished(
        uow, team, job, status=status, at=at, costs=job.totals, credits_deducted=credits, balance=balance
    )
    return JobCompletion(
        job_id=job.id,
        status=status,
        completed_at=at,
        costs=job.totals,
        credits_deducted=credits,
        credits_remaining=balance.available,
    )


async def _paid_calls(uow: UnitOfWork, job: Job, status: JobStatus) -> int:
    """Calls that reached the provider and may have produced output: successful ones, and
    unsettled ones (their outcome is unknown, so they count as paid)."""
    if job.totals.successful_calls > 0 or status is JobStatus.COMPLETED:
        return job.totals.successful_calls
    return sum(1 for c in await uow.calls.list_for_job(job.id) if c.unsettled)


async def _stored_completion(uow: UnitOfWork, job: Job) -> JobCompletion:
    balance = await uow.credits.balance(job.team_id)
    return JobCompletion(
        job_id=job.id,
        status=job.status,
        completed_at=job.completed_at or job.created_at,
        costs=job.totals,
        credits_deducted=job.credits_charged if job.credits_charged is not None else ZERO,
        credits_remaining=balance.available,
    )
