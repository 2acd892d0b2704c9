"""Job cost summaries and the per-day usage rollups that keep usage reports fast.

A report reads only ``team_usage_summaries`` (totals and by_day) and
``team_model_usage_summaries`` (by_model): at most one row per day, and one per day and
model, whatever the number of calls. Both are written when a job finishes, in the
transaction of its charge, and a call that settles after its job finished is added to
them (see the job and call repositories).
"""

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

from adapters.postgres.repositories.jobs import ROLLUP_MEASURES, summary_from, summary_params
from adapters.postgres.repositories.rows import from_row
from adapters.postgres.session import SessionRepository
from application.ports.repositories import (
    DayUsage,
    JobOutcomes,
    ModelTotals,
    ModelUsage,
    OpenJobs,
    TeamTotals,
    UsageOverview,
    UsageReport,
)
from domain.ids import OrganizationId, TeamId
from domain.jobs import EMPTY_SUMMARY, CostSummary, Job, JobStatus
from domain.money import ZERO

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
    INSERT INTO job_cost_summaries (job_id, team_id, status, completed_at, day, organization_id, job_type,
                                    job_credits, {", ".join(_SUMS)})
    SELECT %(job_id)s, %(team_id)s, %(status)s, %(at)s, %(day)s, t.organization_id, %(job_type)s,
           %(job_credits)s, {", ".join(f"%({c})s" for c in _SUMS)}
    FROM teams t WHERE t.id = %(team_id)s
    ON CONFLICT (job_id) DO NOTHING
    RETURNING team_id, day, organization_id, job_type, total_calls, input_tokens, output_tokens, provider_cost_usd,
              customer_cost_usd
), rollup AS (
    INSERT INTO job_type_rollups AS r (organization_id, measure, day, job_type, bucket, jobs, completed, failed,
                                       cancelled, expired, total)
    SELECT s.organization_id, m.measure, s.day, s.job_type, m.bucket, 1, %(completed)s, %(failed)s,
           %(cancelled)s, %(expired)s, m.value
    FROM summary s CROSS JOIN LATERAL ({ROLLUP_MEASURES}) AS m (measure, bucket, value)
    ORDER BY m.measure
    ON CONFLICT (organization_id, measure, day, job_type, bucket) DO UPDATE
    SET jobs = r.jobs + 1, completed = r.completed + excluded.completed, failed = r.failed + excluded.failed,
        cancelled = r.cancelled + excluded.cancelled, expired = r.expired + excluded.expired,
        total = r.total + excluded.total
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
INSERT INTO team_model_usage_summaries AS m
    (team_id, day, model, calls, failed_calls, tokens, provider_cost_usd, customer_cost_usd)
SELECT summary.team_id, summary.day, c.alias, count(*), count(*) FILTER (WHERE c.status = 'failed'),
       sum(c.input_tokens::bigint + c.cached_input_tokens + c.cache_write_tokens + c.output_tokens
           + c.reasoning_tokens),
       sum(c.provider_cost_usd), sum(c.customer_price_usd)
FROM summary JOIN llm_calls c ON c.job_id = %(job_id)s
GROUP BY summary.team_id, summary.day, c.alias
ON CONFLICT (team_id, day, model) DO UPDATE
SET calls = m.calls + excluded.calls, failed_calls = m.failed_calls + excluded.failed_calls,
    tokens = m.tokens + excluded.tokens,
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


# Overviews (one organization, or every team) read the same rollups, grouped three ways
# in one round trip. Counts are cast back to bigint: sum(bigint) would be numeric.
_SCOPE = """
WHERE day BETWEEN %(first)s AND %(last)s
  AND (%(org)s::uuid IS NULL OR team_id IN (SELECT id FROM teams WHERE organization_id = %(org)s::uuid))
"""
_JOB_COUNTS = ("jobs_total", "jobs_completed", "jobs_failed", "jobs_cancelled", "jobs_expired")
_COUNTS = (*_JOB_COUNTS, "total_calls", "successful_calls", "failed_calls", "input_tokens", "output_tokens")
_SUMMED = ", ".join(f"sum({c})::bigint AS {c}" if c in _COUNTS else f"sum({c}) AS {c}" for c in (*_JOB_COUNTS, *_SUMS))
_OVERVIEW_TEAMS = f"SELECT team_id, {_SUMMED} FROM team_usage_summaries {_SCOPE} GROUP BY team_id ORDER BY team_id"
_OVERVIEW_DAYS = f"SELECT day, {_SUMMED} FROM team_usage_summaries {_SCOPE} GROUP BY day ORDER BY day"
_OVERVIEW_MODELS = f"""
SELECT m.model, a.provider, sum(m.calls)::bigint AS calls, sum(m.failed_calls)::bigint AS failed_calls,
       sum(m.tokens)::bigint AS tokens,
       sum(m.provider_cost_usd) AS provider_cost_usd, sum(m.customer_cost_usd) AS customer_cost_usd
FROM (SELECT * FROM team_model_usage_summaries {_SCOPE}) m
LEFT JOIN model_aliases a ON a.alias = m.model
GROUP BY m.model, a.provider
ORDER BY m.model COLLATE "C"
"""


# Open jobs carry running totals (updated by each recorded call): summing them is live
# usage, read through the partial index of open jobs (never the team's finished ones).
_OPEN_SUMS = ", ".join(
    f"coalesce(sum({c}), 0)::bigint AS {c}" if c in _COUNTS else f"coalesce(sum({c}), 0) AS {c}" for c in _SUMS
)
_OPEN_JOBS = f"""
SELECT count(*)::bigint AS jobs, {_OPEN_SUMS}
FROM jobs
WHERE team_id = %(team)s AND status IN ('pending', 'in_progress')
  AND created_at < %(before)s AND COALESCE(last_activity_at, created_at) >= %(since)s
"""


def usage_day(at: datetime) -> date:
    """The (UTC) day a completion counts in."""
    return at.astimezone(UTC).date() if at.tzinfo is not None else at.date()


def _day_usage(row: dict[str, Any], summary: CostSummary) -> DayUsage:
    return DayUsage(
        day=row["day"],
        calls=summary.total_calls,
        tokens=summary.total_tokens,
        provider_cost_usd=summary.provider_cost_usd,
        customer_cost_usd=summary.customer_cost_usd,
    )


class PostgresUsageRepository(SessionRepository):
    async def record_job(
        self, job: Job, *, status: JobStatus, summary: CostSummary, at: datetime, job_credits: Decimal = ZERO
    ) -> None:
        await self._s.run(
            _RECORD_JOB,
            {
                "job_id": job.id,
                "team_id": job.team_id,
                "job_type": job.job_type,
                "job_credits": job_credits,
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

    async def open_jobs(self, team_id: TeamId, *, created_before: datetime, active_since: datetime) -> OpenJobs:
        row = await self._s.one(_OPEN_JOBS, {"team": team_id, "before": created_before, "since": active_since})
        assert row is not None
        return OpenJobs(jobs=row["jobs"], totals=summary_from(row))

    async def job_outcomes(self, team_id: TeamId) -> JobOutcomes:
        row = await self._s.one(
            """
            SELECT coalesce(sum(jobs_total), 0) AS finished, coalesce(sum(jobs_completed), 0) AS completed,
                   coalesce(sum(jobs_failed), 0) AS failed, coalesce(sum(jobs_cancelled), 0) AS cancelled,
                   coalesce(sum(jobs_expired), 0) AS expired
            FROM team_usage_summaries WHERE team_id = %s
            """,
            (team_id,),
        )
        assert row is not None
        return JobOutcomes(**{k: int(v) for k, v in row.items()})

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
            by_model=[from_row(ModelUsage, r) for r in models],
            by_day=[_day_usage(row, s) for row, s in day_summaries],
        )

    async def overview(
        self, *, organization_id: OrganizationId | None, first_day: date, last_day: date
    ) -> UsageOverview:
        params = {"org": organization_id, "first": first_day, "last": last_day}
        teams, days, models = await self._s.many(
            (_OVERVIEW_TEAMS, params), (_OVERVIEW_DAYS, params), (_OVERVIEW_MODELS, params)
        )
        by_team = [TeamTotals(team_id=r["team_id"], jobs=r["jobs_total"], totals=summary_from(r)) for r in teams]
        return UsageOverview(
            jobs_total=sum(r["jobs_total"] for r in teams),
            jobs_completed=sum(r["jobs_completed"] for r in teams),
            jobs_failed=sum(r["jobs_failed"] for r in teams),
            jobs_cancelled=sum(r["jobs_cancelled"] for r in teams),
            jobs_expired=sum(r["jobs_expired"] for r in teams),
            totals=sum((t.totals for t in by_team), EMPTY_SUMMARY),
            by_team=by_team,
            by_model=[from_row(ModelTotals, r) for r in models],
            by_day=[_day_usage(r, summary_from(r)) for r in days],
        )
