"""Job use cases: create, read, annotate, complete, expire."""

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import msgspec

from application.errors import ConflictError
from application.ports.observability import Metrics
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.principal import TeamPrincipal
from application.services._access import Caller, listing_scope, own_job, own_team, visible_job, visible_team
from application.services._events import job_finished
from domain.admins import AdminPrincipal
from domain.calls import LlmCall
from domain.errors import InsufficientCreditsError, InvalidValueError
from domain.ids import JobId, TeamId
from domain.jobs import CostSummary, Job, JobStatus, transition
from domain.ledger import EntryType
from domain.money import ZERO

MAX_JOB_TYPE_LENGTH = 200


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


class JobService:
    """Rules:

    - a suspended team can create no job (403);
    - ``external_id`` is an idempotency key per team: the same one returns the same job;
    - job_based teams hold 1 credit at creation (402 below 1 available); consumption
      teams need some available credit (402 at zero);
    - completing is idempotent: a finished job returns its stored result and charges
      nothing more; completion releases every hold still open for the job and writes the
      job and day summaries in the same transaction as the charge.
    """

    def __init__(
        self, *, uow: UnitOfWorkFactory, clock: Clock, ids: IdGenerator, metrics: Metrics, job_ttl_s: int = 86_400
    ) -> None:
        self._uow = uow
        self._metrics = metrics
        self._clock = clock
        self._ids = ids
        self._job_ttl_s = job_ttl_s

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
        async with self._uow() as uow:
            team = await own_team(uow, principal, team_id)
            team.ensure_active()
            if external_id is not None:
                existing = await uow.jobs.find_by_external_id(team.id, external_id)
                if existing is not None:
                    return existing, False
            now = self._clock.now()
            job = Job(
                id=JobId(self._ids.new_id()),
                team_id=team.id,
                job_type=job_type,
                status=JobStatus.PENDING,
                created_at=now,
                metadata=metadata or {},
                external_id=external_id,
                held_credits=team.budget.job_hold,
            )
            if job.held_credits > 0:
                await uow.credits.apply(
                    team.id,
                    EntryType.HOLD,
                    -job.held_credits,
                    at=now,
                    job_id=job.id,
                    idempotency_key=f"hold:job:{job.id}",
                )
            elif (await uow.credits.balance(team.id)).available <= 0:
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
            async with self._uow() as uow:
                existing = await uow.jobs.find_by_external_id(principal.team_id, external_id or "")
            if existing is None:
                raise ConflictError("job with this external_id is being created")
            return existing, False
        return job, True

    async def get_job(self, caller: Caller, job_id: JobId) -> JobView:
        """The job with its calls, for its team's key or an admin of its organization."""
        async with self._uow() as uow:
            job = await visible_job(uow, caller, job_id)
            calls = await uow.calls.list_for_job(job_id)
        return JobView(job=job, calls=calls)

    async def search_jobs(
        self,
        actor: AdminPrincipal,
        *,
        team_id: TeamId | None = None,
        status: JobStatus | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        before: tuple[datetime, JobId] | None = None,
        limit: int = 50,
    ) -> list[Job]:
        """Jobs across teams, newest first: a scoped admin sees its organization's only."""
        async with self._uow() as uow:
            if team_id is not None:
                await visible_team(uow, actor, team_id)
            return await uow.jobs.search(
                organization_id=listing_scope(actor, None),
                team_id=team_id,
                status=status,
                created_from=created_from,
                created_to=created_to,
                before=before,
                limit=limit,
            )

    async def update_metadata(self, principal: TeamPrincipal, job_id: JobId, metadata: dict[str, Any]) -> Job:
        """Merge keys into the job's metadata (a key set to null is removed)."""
        async with self._uow() as uow:
            job = await own_job(uow, principal, job_id, for_update=True)
            merged = {**job.metadata, **metadata}
            merged = {k: v for k, v in merged.items() if v is not None}
            await uow.jobs.update_metadata(job_id, merged)
            await uow.commit()
        return msgspec.structs.replace(job, metadata=merged)

    async def list_jobs(
        self,
        principal: TeamPrincipal,
        team_id: TeamId,
        *,
        status: JobStatus | None = None,
        created_from: datetime | None = None,
        created_to: datetime | None = None,
        before: tuple[datetime, JobId] | None = None,
        limit: int = 50,
    ) -> list[Job]:
        async with self._uow() as uow:
            team = await own_team(uow, principal, team_id)
            return await uow.jobs.list_for_team(
                team.id, status=status, created_from=created_from, created_to=created_to, before=before, limit=limit
            )

    async def complete_job(
        self,
        principal: TeamPrincipal,
        job_id: JobId,
        *,
        status: JobStatus = JobStatus.COMPLETED,
        metadata: dict[str, Any] | None = None,
    ) -> JobCompletion:
        if status not in {JobStatus.COMPLETED, JobStatus.FAILED, JobStatus.CANCELLED}:
            raise InvalidValueError("status must be completed, failed or cancelled")
        async with self._uow() as uow:
            job = await own_job(uow, principal, job_id, for_update=True)
            if job.status.is_final:
                return await _stored_completion(uow, job)
            if metadata:
                await uow.jobs.update_metadata(job_id, {**job.metadata, **metadata})
            result = await finish_job(uow, job, status=status, at=self._clock.now())
            await uow.commit()
        self._metrics.job_finished(result.status, result.costs)
        return result

    async def expire_stale_jobs(self, *, limit: int = 500) -> int:
        """Expire jobs left open past the TTL, releasing their holds; returns how many."""
        cutoff = self._clock.now() - timedelta(seconds=self._job_ttl_s)
        async with self._uow() as uow:
            stale = await uow.jobs.list_stale(cutoff, limit)
        expired = 0
        for job_id in stale:
            async with self._uow() as uow:
                job = await uow.jobs.get(job_id, for_update=True)
                if job is None or job.status.is_final:
                    continue
                result = await finish_job(uow, job, status=JobStatus.EXPIRED, at=self._clock.now())
                await uow.commit()
            self._metrics.job_finished(result.status, result.costs)
            expired += 1
        return expired


async def finish_job(uow: UnitOfWork, job: Job, *, status: JobStatus, at: datetime) -> JobCompletion:
    """Finish a locked, active job: release open holds, charge, summarise, and queue the
    ``job.completed`` (and, on crossing the threshold, ``team.credits_low``) webhook events
    in the same transaction (caller commits)."""
    transition(job.status, status)
    team = await uow.teams.get(job.team_id)
    if team is None:  # pragma: no cover - foreign keys make this impossible
        raise InvalidValueError("job without team")
    for hold in await uow.credits.outstanding_holds(job.id):
        if hold.call_id is None:
            continue  # the job's own hold is settled below
        await uow.credits.apply(
            job.team_id,
            EntryType.RELEASE,
            hold.amount,
            at=at,
            job_id=job.id,
            call_id=hold.call_id,
            reason="released at job end (call unsettled)",
            idempotency_key=f"release:{hold.call_id}",
        )
    job_debit = ZERO
    completion_credits = team.budget.completion_credits(status)
    if job.held_credits > 0 or completion_credits > 0:
        settlement = await uow.credits.settle(
            job.team_id, held=job.held_credits, actual=completion_credits, at=at, job_id=job.id, call_id=None
        )
        job_debit = settlement.debit
    credits = job.totals.credits + job_debit
    await uow.jobs.finish(job.id, status=status, at=at, credits_charged=credits)
    await uow.usage.record_job(job, status=status, summary=job.totals, at=at)
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
