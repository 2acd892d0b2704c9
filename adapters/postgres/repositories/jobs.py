"""Jobs with their running totals, and the calls recorded in them."""

from datetime import datetime
from decimal import Decimal
from typing import Any, Unpack

from psycopg import sql
from psycopg.types.json import Jsonb

from adapters.postgres.repositories.rows import from_row
from adapters.postgres.session import SessionRepository
from application.ports.repositories import CallLease, JobFilters, JobQuery
from domain.calls import CallStatus, LlmCall
from domain.ids import CallId, JobId, OrganizationId, TeamId
from domain.jobs import CostSummary, Job, JobStatus
from domain.llm import FinishReason
from domain.pricing import CallCost
from domain.usage import TokenUsage

# The jobs table has one column per CostSummary field, of the same name.
_TOTALS: tuple[str, ...] = CostSummary.__struct_fields__
_JOB_COLUMNS = (
    "id, team_id, job_type, status, metadata, external_id, created_at, completed_at, held_credits, credits_charged, "
    "last_activity_at, calls_started, closing_status, " + ", ".join(_TOTALS)
)
_ACTIVE = "('pending', 'in_progress')"


# The job-types rollup (0011_job_type_rollup.sql): a finished job's four measures, each as
# (measure, bucket, value). The bucket expressions are the ones the bucket indexes are on.
BUCKETS = {
    1: "saasllm_bucket(({v}))",
    2: "saasllm_bucket(({v}))",
    3: "saasllm_bucket(({v}) * 1000000000)",
    4: "saasllm_bucket(({v}) * 1000000000)",
}


def rollup_measures(calls: str, tokens: str, cost: str, price: str) -> str:
    """``VALUES (1, bucket, value), ...`` of one summary's values (SQL expressions)."""
    values = {1: calls, 2: tokens, 3: cost, 4: price}
    return "VALUES " + ", ".join(
        f"({m}::smallint, {BUCKETS[m].format(v=v)}, ({v})::numeric)" for m, v in values.items()
    )


ROLLUP_MEASURES = rollup_measures(
    "s.total_calls", "s.input_tokens + s.output_tokens", "s.provider_cost_usd", "s.customer_cost_usd"
)
# Before the call was added: the summary's new values minus the call's.
_ROLLUP_MEASURES_BEFORE = rollup_measures(
    "s.total_calls - %(total_calls)s",
    "s.input_tokens - %(input_tokens)s + s.output_tokens - %(output_tokens)s",
    "s.provider_cost_usd - %(provider_cost_usd)s",
    "s.customer_cost_usd - %(customer_cost_usd)s",
)
_STATUSES = ("completed", "failed", "cancelled", "expired")


def _add_totals(table: str) -> str:
    """``SET total_calls = total_calls + %(total_calls)s, ...`` for a summary-shaped table."""
    return ", ".join(f"{c} = {table}.{c} + %({c})s" for c in _TOTALS)


# A call that settles after its job finished still counts: in the job's charge (NULL
# while the job is active, so adding to it changes nothing then), in its cost summary
# and in its team's day, which only exist once the job is finished.
_ADD_CALL_TOTALS = f"""
WITH job AS (
    UPDATE jobs SET {_add_totals("jobs")}, credits_charged = jobs.credits_charged + %(credits)s
    WHERE id = %(job_id)s
    RETURNING id
), summary AS (
    UPDATE job_cost_summaries SET {_add_totals("job_cost_summaries")}
    WHERE job_id = %(job_id)s
    RETURNING team_id, day, organization_id, job_type, status, total_calls, input_tokens, output_tokens,
              provider_cost_usd, customer_cost_usd
), moves AS (
    -- the job leaves its buckets of before the call and joins those of after (one row per
    -- key, so the upsert below touches each row once)
    SELECT s.organization_id, m.measure, s.day, s.job_type, m.bucket, s.status, sum(m.jobs) AS jobs,
           sum(m.value) AS total
    FROM summary s CROSS JOIN LATERAL (
        SELECT n.measure, n.bucket, 1 AS jobs, n.value FROM ({ROLLUP_MEASURES}) AS n (measure, bucket, value)
        UNION ALL
        SELECT o.measure, o.bucket, -1, -o.value FROM ({_ROLLUP_MEASURES_BEFORE}) AS o (measure, bucket, value)
    ) AS m
    GROUP BY s.organization_id, m.measure, s.day, s.job_type, m.bucket, s.status
), rollup AS (
    INSERT INTO job_type_rollups AS r (organization_id, measure, day, job_type, bucket, jobs, {", ".join(_STATUSES)},
                                       total)
    SELECT organization_id, measure, day, job_type, bucket, jobs,
           {", ".join(f"CASE WHEN status = '{st}' THEN jobs ELSE 0 END" for st in _STATUSES)}, total
    FROM moves
    ORDER BY measure, bucket
    ON CONFLICT (organization_id, measure, day, job_type, bucket) DO UPDATE
    SET jobs = r.jobs + excluded.jobs, {", ".join(f"{st} = r.{st} + excluded.{st}" for st in _STATUSES)},
        total = r.total + excluded.total
), day AS (
    UPDATE team_usage_summaries SET {_add_totals("team_usage_summaries")}
    FROM summary
    WHERE team_usage_summaries.team_id = summary.team_id AND team_usage_summaries.day = summary.day
)
SELECT count(*) AS jobs FROM job
"""

CALL_COLUMNS = (
    "id, job_id, team_id, alias, provider, provider_model, status, input_tokens, cached_input_tokens, "
    "cache_write_tokens, output_tokens, reasoning_tokens, provider_cost_usd, customer_price_usd, credits, "
    "overdraft_credits, usage_estimated, finish_reason, latency_ms, ttft_ms, attempts, streamed, error_code, "
    "error_message, credential_id, purpose, created_at, unsettled, cached"
)

# A call recorded after its job finished also joins the per-model usage of the job's
# completion day (the job's calls before that were added when it finished).
_ADD_CALL = f"""
WITH call AS (
    INSERT INTO llm_calls ({CALL_COLUMNS})
    VALUES ({", ".join(f"%({c.strip()})s" for c in CALL_COLUMNS.split(","))})
    RETURNING job_id, alias
)
INSERT INTO team_model_usage_summaries AS m
    (team_id, day, model, calls, failed_calls, tokens, provider_cost_usd, customer_cost_usd)
SELECT s.team_id, s.day, call.alias, 1, CASE WHEN %(status)s = 'failed' THEN 1 ELSE 0 END, %(total_tokens)s,
       %(provider_cost_usd)s, %(customer_price_usd)s
FROM call JOIN job_cost_summaries s ON s.job_id = call.job_id
ON CONFLICT (team_id, day, model) DO UPDATE
SET calls = m.calls + excluded.calls, failed_calls = m.failed_calls + excluded.failed_calls,
    tokens = m.tokens + excluded.tokens,
    provider_cost_usd = m.provider_cost_usd + excluded.provider_cost_usd,
    customer_cost_usd = m.customer_cost_usd + excluded.customer_cost_usd
RETURNING 1
"""


_LEASE_COLUMNS = "call_id, job_id, team_id, held, alias, provider, expires_at, created_at"

_RENEW_LEASE = """
WITH renewed AS (
    UPDATE call_leases SET expires_at = GREATEST(expires_at, %(until)s)
    WHERE call_id = %(call_id)s
    RETURNING job_id
), touched AS (
    UPDATE jobs SET last_activity_at = GREATEST(last_activity_at, %(at)s)
    WHERE id = %(job_id)s AND EXISTS (SELECT 1 FROM renewed)
)
SELECT EXISTS (SELECT 1 FROM renewed) AS renewed
"""


def summary_params(summary: CostSummary) -> dict[str, Any]:
    return {c: getattr(summary, c) for c in _TOTALS}


def summary_from(row: dict[str, Any]) -> CostSummary:
    return CostSummary(**{c: row[c] for c in _TOTALS})


def _job(row: dict[str, Any]) -> Job:
    return from_row(
        Job,
        row,
        status=JobStatus(row["status"]),
        totals=summary_from(row),
        closing_status=JobStatus(row["closing_status"]) if row["closing_status"] is not None else None,
    )


class PostgresJobRepository(SessionRepository):
    async def add(self, job: Job) -> None:
        params = {
            "id": job.id,
            "team_id": job.team_id,
            "job_type": job.job_type,
            "status": job.status.value,
            "metadata": Jsonb(job.metadata),
            "external_id": job.external_id,
            "created_at": job.created_at,
            "completed_at": job.completed_at,
            "held_credits": job.held_credits,
            "credits_charged": job.credits_charged,
            "last_activity_at": job.last_activity_at or job.created_at,
            "calls_started": job.calls_started,
            "closing_status": job.closing_status.value if job.closing_status is not None else None,
            **summary_params(job.totals),
        }
        columns = _JOB_COLUMNS.split(", ")
        await self._s.run(
            f"INSERT INTO jobs ({_JOB_COLUMNS}) VALUES ({', '.join(f'%({c})s' for c in columns)})", params
        )

    async def get(self, job_id: JobId, *, for_update: bool = False) -> Job | None:
        lock = " FOR UPDATE" if for_update else ""
        row = await self._s.one(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = %s{lock}", (job_id,))
        return _job(row) if row is not None else None

    async def find_by_external_id(self, team_id: TeamId, external_id: str) -> Job | None:
        row = await self._s.one(
            f"SELECT {_JOB_COLUMNS} FROM jobs WHERE team_id = %s AND external_id = %s", (team_id, external_id)
        )
        return _job(row) if row is not None else None

    async def set_status(self, job_id: JobId, status: JobStatus) -> None:
        await self._s.run(f"UPDATE jobs SET status = %s WHERE id = %s AND status IN {_ACTIVE}", (status.value, job_id))

    async def add_call_totals(self, job_id: JobId, summary: CostSummary) -> None:
        await self._s.one_locking_job(job_id, _ADD_CALL_TOTALS, {"job_id": job_id, **summary_params(summary)})

    async def finish(self, job_id: JobId, *, status: JobStatus, at: datetime, credits_charged: Decimal) -> None:
        await self._s.run(
            "UPDATE jobs SET status = %s, completed_at = %s, credits_charged = %s WHERE id = %s",
            (status.value, at, credits_charged, job_id),
        )

    async def update_metadata(self, job_id: JobId, metadata: dict[str, object]) -> None:
        await self._s.run("UPDATE jobs SET metadata = %s WHERE id = %s", (Jsonb(metadata), job_id))

    async def search(
        self, *, organization_id: OrganizationId | None, team_id: TeamId | None, **filters: Unpack[JobFilters]
    ) -> list[Job]:
        query = JobQuery(**filters)
        params = {
            "team_id": team_id,
            "org": organization_id,
            "status": query.status.value if query.status is not None else None,
            "created_from": query.created_from,
            "created_to": query.created_to,
            "before_at": query.before[0] if query.before else None,
            "before_id": query.before[1] if query.before else None,
            "limit": query.limit,
        }
        clauses = {
            "team_id": "team_id = %(team_id)s",
            "org": "team_id IN (SELECT id FROM teams WHERE organization_id = %(org)s)",
            "status": "status = %(status)s",
            "created_from": "created_at >= %(created_from)s",
            "created_to": "created_at < %(created_to)s",
            "before_at": "(created_at, id) < (%(before_at)s, %(before_id)s)",
        }
        where = [sql.SQL("TRUE")] + [sql.SQL(f) for name, f in clauses.items() if params[name] is not None]
        statement = sql.SQL(
            "SELECT {columns} FROM jobs WHERE {where} ORDER BY created_at DESC, id DESC LIMIT %(limit)s"
        )
        composed = statement.format(columns=sql.SQL(_JOB_COLUMNS), where=sql.SQL(" AND ").join(where))
        rows = await self._s.all(composed.as_string(), params)
        return [_job(r) for r in rows]

    async def list_stale(self, active_before: datetime, limit: int) -> list[JobId]:
        rows = await self._s.all(
            f"""
            SELECT id FROM jobs WHERE status IN {_ACTIVE} AND last_activity_at < %s
            ORDER BY last_activity_at LIMIT %s
            """,
            (active_before, limit),
        )
        return [JobId(r["id"]) for r in rows]

    async def begin_closing(self, job_id: JobId, status: JobStatus) -> None:
        await self._s.run(
            f"""
            UPDATE jobs SET closing_status = %s
            WHERE id = %s AND status IN {_ACTIVE} AND closing_status IS NULL
            """,
            (status.value, job_id),
        )

    async def list_closing(self, limit: int) -> list[JobId]:
        rows = await self._s.all(
            f"SELECT id FROM jobs WHERE closing_status IS NOT NULL AND status IN {_ACTIVE} ORDER BY id LIMIT %s",
            (limit,),
        )
        return [JobId(r["id"]) for r in rows]


def _call(row: dict[str, Any]) -> LlmCall:
    return from_row(
        LlmCall,
        row,
        status=CallStatus(row["status"]),
        usage=TokenUsage(
            input=row["input_tokens"],
            cached_input=row["cached_input_tokens"],
            cache_write=row["cache_write_tokens"],
            output=row["output_tokens"],
            reasoning=row["reasoning_tokens"],
        ),
        cost=CallCost(provider_cost_usd=row["provider_cost_usd"], customer_price_usd=row["customer_price_usd"]),
        finish_reason=FinishReason(row["finish_reason"]) if row["finish_reason"] is not None else None,
    )


class PostgresCallRepository(SessionRepository):
    async def add(self, call: LlmCall) -> None:
        await self._s.one_locking_job(call.job_id, _ADD_CALL, call_params(call))

    async def renew_lease(self, job_id: JobId, call_id: CallId, *, until: datetime, at: datetime) -> bool:
        row = await self._s.one_locking_job(
            job_id, _RENEW_LEASE, {"call_id": call_id, "job_id": job_id, "until": until, "at": at}
        )
        return bool(row and row["renewed"])

    async def expired_leases(self, now: datetime, limit: int) -> list[CallLease]:
        rows = await self._s.all(
            f"SELECT {_LEASE_COLUMNS} FROM call_leases WHERE expires_at < %s ORDER BY expires_at LIMIT %s",
            (now, limit),
        )
        return [_lease(r) for r in rows]

    async def in_flight(self, job_id: JobId) -> int:
        row = await self._s.one("SELECT count(*) AS n FROM call_leases WHERE job_id = %s", (job_id,))
        return int(row["n"]) if row is not None else 0

    async def list_for_job(self, job_id: JobId) -> list[LlmCall]:
        rows = await self._s.all(
            f"SELECT {CALL_COLUMNS} FROM llm_calls WHERE job_id = %s ORDER BY created_at, id", (job_id,)
        )
        return [_call(r) for r in rows]


def call_params(call: LlmCall) -> dict[str, Any]:
    """The columns of a call row, by name (``total_tokens`` too, for the rollups)."""
    usage = call.usage
    return {
        "id": call.id,
        "job_id": call.job_id,
        "team_id": call.team_id,
        "alias": call.alias,
        "provider": str(call.provider),
        "provider_model": call.provider_model,
        "status": call.status.value,
        "input_tokens": usage.input,
        "cached_input_tokens": usage.cached_input,
        "cache_write_tokens": usage.cache_write,
        "output_tokens": usage.output,
        "reasoning_tokens": usage.reasoning,
        "total_tokens": usage.total_tokens,
        "provider_cost_usd": call.cost.provider_cost_usd,
        "customer_price_usd": call.cost.customer_price_usd,
        "credits": call.credits,
        "overdraft_credits": call.overdraft_credits,
        "usage_estimated": call.usage_estimated,
        "finish_reason": call.finish_reason.value if call.finish_reason is not None else None,
        "latency_ms": call.latency_ms,
        "ttft_ms": call.ttft_ms,
        "attempts": call.attempts,
        "streamed": call.streamed,
        "error_code": call.error_code,
        "error_message": call.error_message,
        "credential_id": call.credential_id,
        "purpose": call.purpose,
        "created_at": call.created_at,
        "unsettled": call.unsettled,
        "cached": call.cached,
    }


def _lease(row: dict[str, Any]) -> CallLease:
    return from_row(CallLease, row)
