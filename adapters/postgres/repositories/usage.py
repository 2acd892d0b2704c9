"""Job cost summaries and the per-day usage rollups that keep usage reports fast.

A report reads only ``team_usage_summaries`` (totals and by_day) and
``team_model_usage_summaries`` (by_model): at most one row per day, and one per day and
model, whatever the number of calls. Both are written when a job finishes, in the
transaction of its charge, and a call that settles after its job finished is added to
them (see the job and call repositories).
"""

from datetime import UTC, date, datetime

from adapters.postgres.repositories.jobs import summary_from, summary_params
from adapters.postgres.session import Session
from application.ports.repositories import DayUsage, ModelUsage, UsageReport
from domain.ids import TeamId
from domain.jobs import EMPTY_SUMMARY, CostSummary, Job, JobStatus

_SUMS = (
    "total_calls",
    "successful_calls",
    "failed_calls",
    "input_tokens",
    "output_tokens",
    "provider_cost_usd",
    "customer_cost_usd",
    "credits",
)

# The summary row is inserted once (a second completion inserts nothing, so nothing is
# added twice); the day and per-model rollups are fed only by that insert.
_RECORD_JOB = f"""
WITH summary AS (
    INSERT INTO job_cost_summaries (job_id, team_id, status, completed_at, day, {", ".join(_SUMS)})
    VALUES (%(job_id)s, %(team_id)s, %(status)s, %(at)s, %(day)s, {", ".join(f"%({c})s" for c in _SUMS)})
    ON CONFLICT (job_id) DO NOTHING
    RETURNING team_id, day
), day_totals AS (
    INSERT INTO team_usage_summaries AS u (team_id, day, jobs_total, jobs_completed, jobs_failed, jobs_cancelled,
                                           jobs_expired, {", ".join(_SUMS)})
    SELECT team_id, day, 1, %(completed)s, %(failed)s, %(cancelled)s, %(expired)s,
           {", ".join(f"%({c})s" for c in _SUMS)}
    FROM summary
    ON CONFLICT (team_id, day) DO UPDATE
    SET jobs_total = u.jobs_total + 1,
        jobs_completed = u.jobs_completed + excluded.jobs_completed,
        jobs_failed = u.jobs_failed + excluded.jobs_failed,
        jobs_cancelled = u.jobs_cancelled + excluded.jobs_cancelled,
        jobs_expired = u.jobs_expired + excluded.jobs_expired,
        {", ".join(f"{c} = u.{c} + excluded.{c}" for c in _SUMS)}
)
INSERT INTO team_model_usage_summaries AS m (team_id, day, model, calls, tokens, provider_cost_usd, customer_cost_usd)
SELECT summary.team_id, summary.day, c.alias, count(*),
       sum(c.input_tokens::bigint + c.cached_input_tokens + c.cache_write_tokens + c.output_tokens
           + c.reasoning_tokens),
       sum(c.provider_cost_usd), sum(c.customer_price_usd)
FROM summary JOIN llm_calls c ON c.job_id = %(job_id)s
GROUP BY summary.team_id, summary.day, c.alias
ON CONFLICT (team_id, day, model) DO UPDATE
SET calls = m.calls + excluded.calls, tokens = m.tokens + excluded.tokens,
    provider_cost_usd = m.provider_cost_usd + excluded.provider_cost_usd,
    customer_cost_usd = m.customer_cost_usd + excluded.customer_cost_usd
"""

_DAYS = f"""
SELECT day, jobs_total, jobs_completed, jobs_failed, jobs_cancelled, {", ".join(_SUMS)}
FROM team_usage_summaries
WHERE team_id = %s AND day BETWEEN %s AND %s
ORDER BY day
"""

_MODELS = """
SELECT model, sum(calls)::bigint AS calls, sum(tokens)::bigint AS tokens, sum(customer_cost_usd) AS customer_cost_usd
FROM team_model_usage_summaries
WHERE team_id = %s AND day BETWEEN %s AND %s
GROUP BY model
ORDER BY model COLLATE "C"
"""


def usage_day(at: datetime) -> date:
    """The (UTC) day a completion counts in."""
    return at.astimezone(UTC).date() if at.tzinfo is not None else at.date()


class PostgresUsageRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def record_job(self, job: Job, *, status: JobStatus, summary: CostSummary, at: datetime) -> None:
        await self._s.run(
            _RECORD_JOB,
            {
                "job_id": job.id,
                "team_id": job.team_id,
                "status": status.value,
                "at": at,
                "day": usage_day(at),
                "completed": int(status is JobStatus.COMPLETED),
                "failed": int(status is JobStatus.FAILED),
                "cancelled": int(status is JobStatus.CANCELLED),
                "expired": int(status is JobStatus.EXPIRED),
                **summary_params(summary),
            },
        )

    async def team_usage(self, team_id: TeamId, *, first_day: date, last_day: date) -> UsageReport:
        days, models = await self._s.many(
            (_DAYS, (team_id, first_day, last_day)),
            (_MODELS, (team_id, first_day, last_day)),
        )
        day_summaries = [(row, summary_from(row)) for row in days]
        return UsageReport(
            jobs_total=sum(r["jobs_total"] for r in days),
            jobs_completed=sum(r["jobs_completed"] for r in days),
            jobs_failed=sum(r["jobs_failed"] for r in days),
            jobs_cancelled=sum(r["jobs_cancelled"] for r in days),
            totals=sum((s for _, s in day_summaries), EMPTY_SUMMARY),
            by_model=[
                ModelUsage(
                    model=r["model"], calls=r["calls"], tokens=r["tokens"], customer_cost_usd=r["customer_cost_usd"]
                )
                for r in models
            ],
            by_day=[
                DayUsage(
                    day=row["day"],
                    calls=s.total_calls,
                    tokens=s.total_tokens,
                    provider_cost_usd=s.provider_cost_usd,
                    customer_cost_usd=s.customer_cost_usd,
                )
                for row, s in day_summaries
            ],
        )
