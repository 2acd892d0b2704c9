"""The hot path's two writes on the in-memory store, each atomic like its one statement."""

from datetime import datetime
from decimal import Decimal

import msgspec

from adapters.memory.store import StoreRepository
from adapters.memory.unit_of_work import MemoryUnitOfWork
from application.errors import NotFoundError
from application.ports.repositories import CallLease, SettleRequest
from domain.calls import LlmCall
from domain.errors import JobCallLimitError
from domain.ledger import NewEntry


class MemoryCallLedger(StoreRepository):
    async def reserve(self, lease: CallLease, *, at: datetime) -> None:
        # A unit of work gives the all-or-nothing of the one statement it stands for.
        async with MemoryUnitOfWork(self._s) as uow:
            job = self._s.jobs.get(lease.job_id)
            team = self._s.teams.get(lease.team_id)
            if job is None or team is None or job.team_id != lease.team_id:
                raise NotFoundError("job not found")
            started = job.start(at=at)  # JobNotActiveError when it accepts no call
            if job.calls_started >= team.budget.max_calls_per_job:
                raise JobCallLimitError(f"this job has started its limit of {team.budget.max_calls_per_job} calls")
            if lease.held > 0:
                await uow.credits.apply(
                    NewEntry.hold(lease.team_id, lease.held, at=at, job_id=lease.job_id, call_id=lease.call_id)
                )
            self._s.jobs[job.id] = started
            self._s.leases[lease.call_id] = lease
            await uow.commit()

    async def record(
        self, call: LlmCall, *, actual: Decimal, at: datetime | None, reason: str | None = None
    ) -> LlmCall | None:
        async with MemoryUnitOfWork(self._s) as uow:
            lease = self._s.leases.pop(call.id, None)
            if lease is None:
                return None
            if at is not None:
                job = self._s.jobs[call.job_id]
                self._s.jobs[call.job_id] = msgspec.structs.replace(job, last_activity_at=max(job.active_since, at))
            settlement = await uow.credits.settle(
                SettleRequest(
                    team_id=call.team_id,
                    held=lease.held,
                    actual=actual,
                    at=call.created_at,
                    job_id=call.job_id,
                    call_id=call.id,
                    reason=reason,
                )
            )
            recorded = msgspec.structs.replace(call, credits=settlement.debit, overdraft_credits=settlement.overdraft)
            await uow.calls.add(recorded)
            await uow.jobs.add_call_totals(call.job_id, recorded.summary())
            await uow.commit()
        return recorded
