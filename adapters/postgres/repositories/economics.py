"""Job economics reads: cost spreads per job type, quote histories and the billing export.

Everything reads ``job_cost_summaries`` (one row per finished job, written in the
completion transaction with the job's type and organization), through
``job_cost_summaries_org_day_idx`` (an organization's window, index-only) or the team's
``(team_id, day)`` index. Percentiles are computed by Postgres's ``percentile_disc``,
which is nearest-rank: it returns the row at ``ceil(f · n)``. ``f`` is a float8, and a
fraction such as 0.1 is stored a hair above its value, so ``ceil(0.1 · 30)`` would give
4, not 3; the fraction sent is ``p/100 − 1e-12`` instead. With at most 2 decimals in p,
``p · n / 100`` is an integer or at least 1e-4 above one, so for any n below 10⁸ the
shift changes no rank but the float error can no longer push one up (the contract tests
compare these ranks with ``domain.economics.nearest_rank``).
"""

from datetime import date
from decimal import Decimal
from typing import Any

from psycopg import sql

from adapters.postgres.session import Session
from application.ports.repositories import (
    CountSpread,
    EconomicsScope,
    JobExportRow,
    JobTypeHistory,
    JobTypeStats,
    MoneySpread,
    OutputHistory,
)
from domain.ids import JobId, TeamId
from domain.jobs import JobStatus

WORK_MEM = "SELECT set_config('work_mem', '64MB', true)"  # for this transaction only
_FRACTION = "(%(p{n})s::numeric / 100 - 0.000000000001)::float8"
_FRACTIONS = "ARRAY[" + ", ".join(_FRACTION.format(n=n) for n in ("50", "95", "99", "req")) + "]"


def _where(scope: EconomicsScope, alias: str = "") -> sql.Composable:
    """Only the filters in use are in the statement, so its plan fits them."""
    a = alias
    parts = [sql.SQL(f"{a}day BETWEEN %(first)s AND %(last)s")]
    if scope.team_id is not None:
        parts.append(sql.SQL(f"{a}team_id = %(team)s"))
    if scope.organization_id is not None:
        parts.append(sql.SQL(f"{a}organization_id = %(org)s"))
    return sql.SQL(" AND ").join(parts)


def _params(scope: EconomicsScope) -> dict[str, Any]:
    return {"first": scope.first_day, "last": scope.last_day, "team": scope.team_id, "org": scope.organization_id}


_STATS = """
SELECT job_type,
       count(*) AS jobs,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'expired') AS expired,
       percentile_disc({fractions}) WITHIN GROUP (ORDER BY total_calls) AS calls,
       max(total_calls) AS calls_max,
       percentile_disc({fractions}) WITHIN GROUP (ORDER BY input_tokens + output_tokens) AS tokens,
       max(input_tokens + output_tokens) AS tokens_max,
       sum(provider_cost_usd) AS cost_total,
       percentile_disc({fractions}) WITHIN GROUP (ORDER BY provider_cost_usd) AS cost,
       max(provider_cost_usd) AS cost_max,
       sum(customer_cost_usd) AS price_total,
       percentile_disc({fractions}) WITHIN GROUP (ORDER BY customer_cost_usd) AS price,
       max(customer_cost_usd) AS price_max
FROM job_cost_summaries
WHERE {where}
GROUP BY job_type
ORDER BY job_type COLLATE "C"
"""

_COSTING_MORE = """
SELECT s.job_type, count(*) FILTER (WHERE s.provider_cost_usd > p.price) AS costing_more
FROM job_cost_summaries s
JOIN unnest(%(types)s::text[], %(prices)s::numeric[]) AS p (job_type, price) ON p.job_type = s.job_type
WHERE {where}
GROUP BY s.job_type
"""

_HISTORY = """
SELECT count(*) AS jobs,
       percentile_disc(ARRAY[(50::numeric / 100 - 0.000000000001)::float8,
                             (95::numeric / 100 - 0.000000000001)::float8])
           WITHIN GROUP (ORDER BY credits + job_credits) AS credits,
       percentile_disc(ARRAY[(50::numeric / 100 - 0.000000000001)::float8,
                             (95::numeric / 100 - 0.000000000001)::float8])
           WITHIN GROUP (ORDER BY customer_cost_usd) AS price
FROM (
    SELECT credits, job_credits, customer_cost_usd FROM job_cost_summaries
    WHERE team_id = %(team)s AND job_type = %(type)s
    ORDER BY completed_at DESC
    LIMIT %(limit)s
) recent
"""

# The team's newest calls by its (team_id, created_at) index, then this alias's among
# them: bounded work however busy the team is, and no index added to the call table.
_OUTPUT = """
SELECT count(*) AS calls,
       percentile_disc((50::numeric / 100 - 0.000000000001)::float8)
           WITHIN GROUP (ORDER BY output_tokens + reasoning_tokens) AS median
FROM (
    SELECT alias, status, output_tokens, reasoning_tokens FROM llm_calls
    WHERE team_id = %(team)s
    ORDER BY created_at DESC
    LIMIT %(limit)s
) recent
WHERE alias = %(alias)s AND status = 'succeeded'
"""

# A page of the export: the summaries by keyset, each job's row for its creation time and
# external id, and its calls for the tokens by category (the summary keeps the API's
# prompt/completion totals only).
_EXPORT = """
SELECT s.job_id, j.external_id, s.team_id, s.organization_id, s.job_type, s.status, j.created_at,
       s.completed_at, s.day, s.total_calls, s.successful_calls, s.failed_calls,
       s.provider_cost_usd, s.customer_cost_usd, s.credits + s.job_credits AS credits,
       c.input_tokens, c.cached_input_tokens, c.cache_write_tokens, c.output_tokens, c.reasoning_tokens
FROM (
    SELECT * FROM job_cost_summaries
    WHERE {where} AND (%(after_day)s::date IS NULL OR (day, job_id) > (%(after_day)s::date, %(after_job)s::uuid))
    ORDER BY day, job_id
    LIMIT %(limit)s
) s
JOIN jobs j ON j.id = s.job_id
CROSS JOIN LATERAL (
    SELECT coalesce(sum(input_tokens), 0)::bigint AS input_tokens,
           coalesce(sum(cached_input_tokens), 0)::bigint AS cached_input_tokens,
           coalesce(sum(cache_write_tokens), 0)::bigint AS cache_write_tokens,
           coalesce(sum(output_tokens), 0)::bigint AS output_tokens,
           coalesce(sum(reasoning_tokens), 0)::bigint AS reasoning_tokens
    FROM llm_calls WHERE job_id = s.job_id
) c
ORDER BY s.day, s.job_id
"""


def stats_query(scope: EconomicsScope) -> str:
    """The spreads statement for this scope (also explained by ``make bench-db``)."""
    return sql.SQL(_STATS).format(fractions=sql.SQL(_FRACTIONS), where=_where(scope)).as_string()


def costing_more_query(scope: EconomicsScope) -> str:
    return sql.SQL(_COSTING_MORE).format(where=_where(scope, "s.")).as_string()


def export_query(scope: EconomicsScope) -> str:
    return sql.SQL(_EXPORT).format(where=_where(scope)).as_string()


def stats_params(scope: EconomicsScope, percentile: Decimal) -> dict[str, Any]:
    return {**_params(scope), "p50": 50, "p95": 95, "p99": 99, "preq": percentile}


def _money(total: Decimal, points: list[Decimal], top: Decimal) -> MoneySpread:
    p50, p95, p99, requested = points
    return MoneySpread(total=total, p50=p50, p95=p95, p99=p99, max=top, at_percentile=requested)


def _stats(row: dict[str, Any]) -> JobTypeStats:
    calls, tokens = row["calls"], row["tokens"]
    return JobTypeStats(
        job_type=row["job_type"],
        jobs=row["jobs"],
        completed=row["completed"],
        failed=row["failed"],
        cancelled=row["cancelled"],
        expired=row["expired"],
        calls=CountSpread(p50=calls[0], p95=calls[1], max=row["calls_max"]),
        tokens=CountSpread(p50=int(tokens[0]), p95=int(tokens[1]), max=int(row["tokens_max"])),
        provider_cost_usd=_money(row["cost_total"], row["cost"], row["cost_max"]),
        customer_price_usd=_money(row["price_total"], row["price"], row["price_max"]),
    )


class PostgresEconomicsRepository:
    def __init__(self, session: Session) -> None:
        self._s = session

    async def job_type_stats(self, scope: EconomicsScope, *, percentile: Decimal) -> list[JobTypeStats]:
        # The sorts of a large window stay in memory (the default 4 MB would spill to disk).
        rows = await self._s.many((WORK_MEM, None), (stats_query(scope), stats_params(scope, percentile)))
        return [_stats(r) for r in rows[1]]

    async def jobs_costing_more(self, scope: EconomicsScope, prices: dict[str, Decimal]) -> dict[str, int]:
        if not prices:
            return {}
        types = list(prices)
        rows = await self._s.all(
            costing_more_query(scope), {**_params(scope), "types": types, "prices": [prices[t] for t in types]}
        )
        return {r["job_type"]: int(r["costing_more"]) for r in rows}

    async def job_type_history(self, team_id: TeamId, job_type: str, *, last_jobs: int) -> JobTypeHistory | None:
        row = await self._s.one(_HISTORY, {"team": team_id, "type": job_type, "limit": last_jobs})
        if row is None or row["jobs"] == 0:
            return None
        return JobTypeHistory(
            jobs=row["jobs"],
            credits_p50=row["credits"][0],
            credits_p95=row["credits"][1],
            customer_price_p50=row["price"][0],
            customer_price_p95=row["price"][1],
        )

    async def output_history(self, team_id: TeamId, alias: str, *, last_calls: int) -> OutputHistory | None:
        row = await self._s.one(_OUTPUT, {"team": team_id, "alias": alias, "limit": last_calls})
        if row is None or row["calls"] == 0:
            return None
        return OutputHistory(calls=row["calls"], median_output_tokens=int(row["median"]))

    async def export_page(
        self, scope: EconomicsScope, *, after: tuple[date, JobId] | None, limit: int
    ) -> list[JobExportRow]:
        params = {
            **_params(scope),
            "after_day": after[0] if after else None,
            "after_job": after[1] if after else None,
            "limit": limit,
        }
        rows = await self._s.all(export_query(scope), params)
        return [
            JobExportRow(
                job_id=r["job_id"],
                external_id=r["external_id"],
                team_id=r["team_id"],
                organization_id=r["organization_id"],
                job_type=r["job_type"],
                status=JobStatus(r["status"]),
                created_at=r["created_at"],
                completed_at=r["completed_at"],
                day=r["day"],
                calls=r["total_calls"],
                successful_calls=r["successful_calls"],
                failed_calls=r["failed_calls"],
                input_tokens=r["input_tokens"],
                cached_input_tokens=r["cached_input_tokens"],
                cache_write_tokens=r["cache_write_tokens"],
                output_tokens=r["output_tokens"],
                reasoning_tokens=r["reasoning_tokens"],
                provider_cost_usd=r["provider_cost_usd"],
                customer_price_usd=r["customer_cost_usd"],
                credits=r["credits"],
            )
            for r in rows
        ]
