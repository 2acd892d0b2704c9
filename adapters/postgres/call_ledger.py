"""The hot path's two writes: one statement to start a call, one to record it.

Each runs alone on a pooled connection in autocommit mode: one round trip, no BEGIN or
COMMIT of its own, durable when it returns. Both take the adapter's lock order (job row,
then team row): the CTEs that lock come first and the later ones depend on their rows,
which is what makes Postgres take the locks in that order.

``reserve`` locks the job with the conditions it must meet (active, not closing, under
the team's call limit); a job changed by someone who held its lock is re-checked at its
latest version. The hold is conditional like every hold, and the job moves on and the
lease is stored only when the hold was placed, so a refusal changes nothing.

``record`` starts by deleting the call's lease: whoever deletes it (the call's own
record, or the sweeper capturing an expired lease) records the call; the other finds no
lease and changes nothing. Then it locks the job, reads the team's balance at its latest
version, releases the hold, debits what the call used (capped at what the team can
pay), appends both ledger entries, adds the call to the job's totals and inserts it.

**Group commit.** Concurrent calls share commits: statements that arrive while a batch is
being committed wait for the next batch, which runs them in one transaction (one
pipeline, one round trip, one fsync) ordered by team and job, the adapter's lock order.
Each caller awaits the commit of the batch that carries its statement, so a returned
record is durable (``synchronous_commit`` stays on). A batch that fails is retried
statement by statement, each on its own, so one bad statement never fails the others.

A batch locks **all its jobs first**, in id order, before any statement runs: ordering
the statements is not enough, since the first statement locks its team and the second
then locks another job *after* that team. Two instances' batches over jobs of one team
(or a batch and a lone statement) then deadlocked, and the loser answered 503 "busy"
(found by the reliability suite: 500 calls over two instances, 50 per job). With every
job locked before any team, locks are taken jobs-then-team by every writer, as
completion takes them.
"""

import asyncio
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, localcontext
from typing import Any

import msgspec
import psycopg
import psycopg_pool

from adapters.postgres.errors import translate, translated
from adapters.postgres.pool import Pool, autocommit_connection
from adapters.postgres.repositories.credits import settle_debit_sql
from adapters.postgres.repositories.jobs import CALL_COLUMNS, call_params
from adapters.system import Uuid7Ids
from application.errors import NotFoundError
from application.ports.repositories import CallLease
from domain.calls import CallStatus, LlmCall
from domain.errors import InsufficientCreditsError, JobCallLimitError, JobNotActiveError
from domain.ledger import hold_key, settlement_keys
from domain.money import EXACT

_ids = Uuid7Ids()
_ACTIVE = "('pending', 'in_progress')"

_RESERVE = f"""
WITH job AS (
    SELECT j.id FROM jobs j JOIN teams t ON t.id = j.team_id
    WHERE j.id = %(job_id)s AND j.team_id = %(team_id)s
      AND j.status IN {_ACTIVE} AND j.closing_status IS NULL AND j.calls_started < t.max_calls_per_job
    FOR NO KEY UPDATE OF j
), moved AS (
    UPDATE teams SET held = held + %(held)s
    WHERE id = %(team_id)s AND %(held)s::numeric > 0 AND (SELECT count(*) FROM job) > 0
      AND allocated - used - held >= %(held)s
    RETURNING id
), allowed AS (
    SELECT job.id FROM job WHERE %(held)s::numeric = 0 OR EXISTS (SELECT 1 FROM moved)
), started AS (
    UPDATE jobs
    SET status = 'in_progress', calls_started = jobs.calls_started + 1,
        last_activity_at = GREATEST(jobs.last_activity_at, %(at)s)
    FROM allowed WHERE jobs.id = allowed.id
), entry AS (
    INSERT INTO credit_ledger (id, team_id, type, amount, job_id, call_id, idempotency_key, created_at)
    SELECT %(entry_id)s::uuid, moved.id, 'hold', -%(held)s::numeric, %(job_id)s::uuid, %(call_id)s::uuid,
           %(hold_key)s::text, %(at)s::timestamptz
    FROM moved
), lease AS (
    INSERT INTO call_leases (call_id, job_id, team_id, held, alias, provider, expires_at, created_at)
    SELECT %(call_id)s::uuid, allowed.id, %(team_id)s::uuid, %(held)s::numeric, %(alias)s::text, %(provider)s::text,
           %(expires_at)s::timestamptz, %(at)s::timestamptz
    FROM allowed
)
SELECT EXISTS (SELECT 1 FROM allowed) AS reserved
"""

_REFUSAL = """
SELECT j.status, j.closing_status, j.calls_started, t.max_calls_per_job
FROM jobs j JOIN teams t ON t.id = j.team_id
WHERE j.id = %s AND j.team_id = %s
"""

_CALL_VALUES = ", ".join(
    "plan.debit" if c == "credits" else "%(actual)s::numeric - plan.debit" if c == "overdraft_credits" else f"%({c})s"
    for c in (c.strip() for c in CALL_COLUMNS.split(","))
)

# The call's whole hold is released, and the debit capped by the domain's rule.
_SETTLE_DEBIT = settle_debit_sql(actual="%(actual)s::numeric", available="b.available", release="e.held")

_RECORD = f"""
WITH ended AS (
    DELETE FROM call_leases WHERE call_id = %(id)s RETURNING job_id, team_id, held
), job_lock AS (
    SELECT j.id FROM jobs j JOIN ended e ON j.id = e.job_id FOR NO KEY UPDATE OF j
), balance AS (
    SELECT t.id, t.allocated - t.used - t.held AS available
    FROM teams t JOIN ended e ON t.id = e.team_id
    WHERE (SELECT count(*) FROM job_lock) > 0
    FOR NO KEY UPDATE OF t
), plan AS (
    SELECT b.id AS team_id, e.job_id, e.held AS release, {_SETTLE_DEBIT} AS debit
    FROM balance b CROSS JOIN ended e
), moved AS (
    UPDATE teams SET held = teams.held - plan.release, used = teams.used + plan.debit
    FROM plan WHERE teams.id = plan.team_id AND (plan.release > 0 OR plan.debit > 0)
), entries AS (
    INSERT INTO credit_ledger (id, team_id, type, amount, job_id, call_id, reason, idempotency_key, created_at)
    SELECT %(release_id)s::uuid, plan.team_id, 'release', plan.release, plan.job_id, %(id)s::uuid,
           NULL, %(release_key)s::text, %(created_at)s::timestamptz
    FROM plan WHERE plan.release > 0
    UNION ALL
    SELECT %(debit_id)s::uuid, plan.team_id, 'debit', -plan.debit, plan.job_id, %(id)s::uuid,
           %(reason)s::text, %(debit_key)s::text, %(created_at)s::timestamptz
    FROM plan WHERE plan.debit > 0
), totals AS (
    UPDATE jobs
    SET total_calls = jobs.total_calls + 1,
        successful_calls = jobs.successful_calls + %(succeeded)s,
        failed_calls = jobs.failed_calls + (1 - %(succeeded)s),
        input_tokens = jobs.input_tokens + %(prompt_tokens)s,
        output_tokens = jobs.output_tokens + %(completion_tokens)s,
        provider_cost_usd = jobs.provider_cost_usd + %(provider_cost_usd)s,
        customer_cost_usd = jobs.customer_cost_usd + %(customer_price_usd)s,
        credits = jobs.credits + plan.debit,
        credits_charged = jobs.credits_charged + plan.debit,
        last_activity_at = COALESCE(
            GREATEST(jobs.last_activity_at, %(activity_at)s::timestamptz), jobs.last_activity_at
        )
    FROM plan WHERE jobs.id = plan.job_id
), call AS (
    INSERT INTO llm_calls ({CALL_COLUMNS})
    SELECT {_CALL_VALUES} FROM plan
)
SELECT debit FROM plan
"""

# A batch's jobs, locked in one order (id) before any of its statements locks a team.
_LOCK_JOBS = "SELECT id FROM jobs WHERE id = ANY(%s::uuid[]) ORDER BY id FOR NO KEY UPDATE"


@dataclass
class _Pending:
    query: str
    params: dict[str, Any]
    order: tuple[str, str]  # (team, job): the lock order a batch runs in
    done: "asyncio.Future[dict[str, Any] | None]" = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


MAX_BATCH = 64


class PostgresCallLedger:
    def __init__(self, pool: Pool, *, group_commit: bool = True) -> None:
        self._pool = pool
        self._group_commit = group_commit
        self._queue: list[_Pending] = []
        self._draining = False
        self._drainer: asyncio.Task[None] | None = None
        self.batches = 0  # commits made (for the benchmark and tests)

    async def _one(self, query: str, params: dict[str, Any], order: tuple[str, str]) -> dict[str, Any] | None:
        if not self._group_commit:
            return await self._alone(query, params)
        pending = _Pending(query=query, params=params, order=order)
        self._queue.append(pending)
        if not self._draining:
            self._draining = True
            self._drainer = asyncio.get_running_loop().create_task(self._drain())
        return await pending.done

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    await self._commit(batch)
                except Exception as exc:  # noqa: BLE001 - never leave a caller waiting
                    for p in batch:
                        if not p.done.done():
                            p.done.set_exception(exc)
        finally:
            self._draining = False

    async def _commit(self, batch: list[_Pending]) -> None:
        if len(batch) == 1:
            await self._settle_alone(batch[0])
            return
        batch.sort(key=lambda p: p.order)
        job_ids = sorted({p.order[1] for p in batch})
        try:
            # The pool rolls back a connection returned inside a failed transaction.
            async with self._pool.connection() as conn, conn.pipeline():
                await conn.execute(_LOCK_JOBS, (job_ids,))
                cursors = [await conn.execute(p.query, p.params) for p in batch]
                await conn.commit()
            rows = [await c.fetchone() for c in cursors]
        except psycopg.Error:
            # One statement (or the connection) failed the batch, which committed nothing:
            # each runs on its own, so a failure is only its own statement's.
            await asyncio.gather(*(self._settle_alone(p) for p in batch))
            return
        except (psycopg_pool.PoolTimeout, psycopg_pool.PoolClosed) as exc:
            for p in batch:
                if not p.done.done():
                    p.done.set_exception(translate(exc))
            return
        self.batches += 1
        for p, row in zip(batch, rows, strict=True):
            if not p.done.done():
                p.done.set_result(row)

    async def _settle_alone(self, pending: _Pending) -> None:
        try:
            row = await self._alone(pending.query, pending.params)
        except Exception as exc:  # noqa: BLE001 - handed to the caller that awaits it
            if not pending.done.done():
                pending.done.set_exception(exc)
            return
        self.batches += 1
        if not pending.done.done():
            pending.done.set_result(row)

    async def _alone(self, query: str, params: dict[str, Any]) -> dict[str, Any] | None:
        with translated():
            async with autocommit_connection(self._pool) as conn:
                cursor = await conn.execute(query, params)
                return await cursor.fetchone()

    async def reserve(self, lease: CallLease, *, at: datetime) -> None:
        params = {
            "call_id": lease.call_id,
            "job_id": lease.job_id,
            "team_id": lease.team_id,
            "held": lease.held,
            "alias": lease.alias,
            "provider": str(lease.provider),
            "expires_at": lease.expires_at,
            "at": at,
            "entry_id": _ids.new_id(),
            "hold_key": hold_key(lease.call_id),
        }
        row = await self._one(_RESERVE, params, (str(lease.team_id), str(lease.job_id)))
        if row is not None and row["reserved"]:
            return
        # Refused: say why (the rare path; the statement changed nothing).
        with translated():
            async with self._pool.connection() as conn:
                cursor = await conn.execute(_REFUSAL, (lease.job_id, lease.team_id))
                job = await cursor.fetchone()
        if job is None:
            raise NotFoundError("job not found")
        if job["status"] not in ("pending", "in_progress"):
            raise JobNotActiveError(f"job {lease.job_id} is {job['status']}; it accepts no more calls")
        if job["closing_status"] is not None:
            raise JobNotActiveError(f"job {lease.job_id} is being {job['closing_status']}; it accepts no more calls")
        if job["calls_started"] >= job["max_calls_per_job"]:
            raise JobCallLimitError(f"this job has started its limit of {job['max_calls_per_job']} calls")
        raise InsufficientCreditsError(f"needs {lease.held} credits, more than are available")

    async def record(
        self, call: LlmCall, *, actual: Decimal, at: datetime | None, reason: str | None = None
    ) -> LlmCall | None:
        release_key, debit_key = settlement_keys(call.job_id, call.id)
        params = {
            **call_params(call),
            "actual": actual,
            "succeeded": 1 if call.status is CallStatus.SUCCEEDED else 0,
            "prompt_tokens": call.usage.prompt_tokens,
            "completion_tokens": call.usage.completion_tokens,
            "activity_at": at,
            "reason": reason,
            "release_key": release_key,
            "debit_key": debit_key,
            "release_id": _ids.new_id(),
            "debit_id": _ids.new_id(),
        }
        row = await self._one(_RECORD, params, (str(call.team_id), str(call.job_id)))
        if row is None:
            return None
        debit: Decimal = row["debit"]
        with localcontext(EXACT):
            overdraft = actual - debit
        return msgspec.structs.replace(call, credits=debit, overdraft_credits=overdraft)
