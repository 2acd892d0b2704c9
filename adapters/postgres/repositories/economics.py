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

An organization's report (no team filter) does not sort its window: it reads
``job_type_rollups`` (jobs and exact sums per measure, day, type and log-spaced bucket,
written in the completion statement), finds in Python the bucket holding each rank
(``domain.economics.locate_rank``, exact integer ranks) and reads only that bucket's jobs
in value order through the bucket indexes (0011_job_type_rollup.sql). Calls and tokens
below 1000 are their bucket and need no read. A team's report, or one of every
organization, keeps the direct statement (a team's window is read by its own index).
"""

from datetime import date
from decimal import Decimal
from typing import Any

from psycopg import sql

from adapters.postgres.repositories.jobs import BUCKETS
from adapters.postgres.repositories.rows import from_row
from adapters.postgres.session import SessionRepository
from application.ports.repositories import (
    CountSpread,
    EconomicsScope,
    JobExportRow,
    JobTypeHistory,
    JobTypeStats,
    MoneySpread,
    OutputHistory,
)
from domain.economics import EXACT_BELOW, locate_rank, nearest_rank
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


# The rollup's measures (0011_job_type_rollup.sql): 1 calls, 2 tokens, 3 provider cost,
# 4 customer price, each with its value over a summary row and its bucket expression.
CALLS, TOKENS, COST, PRICE = 1, 2, 3, 4
_VALUE = {
    CALLS: "total_calls",
    TOKENS: "input_tokens + output_tokens",
    COST: "provider_cost_usd",
    PRICE: "customer_cost_usd",
}
_STATUSES = ("completed", "failed", "cancelled", "expired")

# Statuses are read from the calls rows, totals from the money rows (every measure's rows
# count the same jobs); counts are integers, so their sums stay bigint.
_HISTOGRAM = f"""
SELECT job_type, measure, bucket, sum(jobs) AS jobs,
       {", ".join(f"sum({c}) FILTER (WHERE measure = {CALLS}) AS {c}" for c in _STATUSES)},
       sum(total) FILTER (WHERE measure IN ({COST}, {PRICE})) AS total
FROM job_type_rollups
WHERE organization_id = %(org)s AND measure = ANY('{{1,2,3,4}}'::smallint[]) AND day BETWEEN %(first)s AND %(last)s
GROUP BY job_type, measure, bucket
HAVING sum(jobs) > 0
"""


def _bucket_read(measure: int) -> str:
    """The value at an offset of one bucket's jobs of the window, for each requested
    (type, bucket, offset): a range of the measure's bucket index, sorted."""
    value = _VALUE[measure]
    bucket = BUCKETS[measure].format(v=value)
    return f"""
SELECT {measure} AS measure, w.job_type, w.bucket, w.off, v.value
FROM unnest(%(types{measure})s::text[], %(buckets{measure})s::int[], %(offsets{measure})s::bigint[])
    AS w (job_type, bucket, off)
CROSS JOIN LATERAL (
    SELECT ({value})::numeric AS value FROM job_cost_summaries
    WHERE organization_id = %(org)s AND job_type = w.job_type AND {bucket} = w.bucket
      AND day BETWEEN %(first)s AND %(last)s
    ORDER BY 1
    OFFSET w.off LIMIT 1
) AS v
"""


def bucket_read_query(measures: list[int]) -> str:
    return "UNION ALL".join(_bucket_read(m) for m in measures)


# Jobs costing more than a price: every job of the buckets above the price's, and those of
# its bucket that cost more (read in that bucket only).
_COST_BUCKET = BUCKETS[COST]
_ROLLUP_COSTING_MORE = f"""
WITH p AS (
    SELECT job_type, price, {_COST_BUCKET.format(v="price")} AS bucket
    FROM unnest(%(types)s::text[], %(prices)s::numeric[]) AS p (job_type, price)
)
SELECT p.job_type, r.jobs,
       r.above + (SELECT count(*) FROM job_cost_summaries s
                  WHERE s.organization_id = %(org)s AND s.job_type = p.job_type
                    AND {_COST_BUCKET.format(v="s.provider_cost_usd")} = p.bucket
                    AND s.day BETWEEN %(first)s AND %(last)s AND s.provider_cost_usd > p.price) AS costing_more
FROM p JOIN (
    SELECT r.job_type, sum(r.jobs) AS jobs, coalesce(sum(r.jobs) FILTER (WHERE r.bucket > p.bucket), 0) AS above
    FROM job_type_rollups r JOIN p ON p.job_type = r.job_type
    WHERE r.organization_id = %(org)s AND r.measure = {COST} AND r.day BETWEEN %(first)s AND %(last)s
    GROUP BY r.job_type
) AS r ON r.job_type = p.job_type
"""


def rolled_up(scope: EconomicsScope) -> bool:
    """Whether the report reads the rollup: one organization's, without a team filter."""
    return scope.organization_id is not None and scope.team_id is None


def histogram_query() -> str:
    return _HISTOGRAM


def rollup_costing_more_query() -> str:
    return _ROLLUP_COSTING_MORE


Lookup = tuple[str, int, int, int]  # (job type, measure, bucket, offset in the bucket)


class _Histogram:
    """One job type's rollup rows of the window: per measure, (bucket, jobs) ascending."""

    def __init__(self) -> None:
        self.buckets: dict[int, list[tuple[int, int]]] = {m: [] for m in _VALUE}
        self.totals: dict[int, Decimal] = {m: Decimal(0) for m in _VALUE}
        self.statuses: dict[str, int] = dict.fromkeys(_STATUSES, 0)

    @property
    def jobs(self) -> int:
        return sum(n for _, n in self.buckets[CALLS])


def _ranks(n: int, percentile: Decimal) -> dict[int, list[int]]:
    """The ranks each measure reports: p50, p95 (p99, the requested) and max."""
    p50, p95, p99, req = (nearest_rank(n, p) for p in (Decimal(50), Decimal(95), Decimal(99), percentile))
    return {CALLS: [p50, p95, n], TOKENS: [p50, p95, n], COST: [p50, p95, p99, n, req], PRICE: [p50, p95, p99, n, req]}


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
    return from_row(
        JobTypeStats,
        row,
        calls=CountSpread(p50=calls[0], p95=calls[1], max=row["calls_max"]),
        tokens=CountSpread(p50=int(tokens[0]), p95=int(tokens[1]), max=int(row["tokens_max"])),
        provider_cost_usd=_money(row["cost_total"], row["cost"], row["cost_max"]),
        customer_price_usd=_money(row["price_total"], row["price"], row["price_max"]),
    )


class PostgresEconomicsRepository(SessionRepository):
    async def job_type_stats(self, scope: EconomicsScope, *, percentile: Decimal) -> list[JobTypeStats]:
        if rolled_up(scope):
            return await self._rolled_up_stats(scope, percentile)
        # The sorts of a large window stay in memory (the default 4 MB would spill to disk).
        rows = await self._s.many((WORK_MEM, None), (stats_query(scope), stats_params(scope, percentile)))
        return [_stats(r) for r in rows[1]]

    async def _rolled_up_stats(self, scope: EconomicsScope, percentile: Decimal) -> list[JobTypeStats]:
        params = _params(scope)
        histograms: dict[str, _Histogram] = {}
        for r in await self._s.all(_HISTOGRAM, params):
            h = histograms.setdefault(r["job_type"], _Histogram())
            measure = int(r["measure"])
            h.buckets[measure].append((int(r["bucket"]), int(r["jobs"])))
            if r["total"] is not None:
                h.totals[measure] += r["total"]
            if measure == CALLS:
                for status in _STATUSES:
                    h.statuses[status] += int(r[status])
        # Every rank's bucket; a bucket of integers below EXACT_BELOW is its value.
        located: dict[tuple[str, int], list[Lookup]] = {}
        values: dict[Lookup, Decimal] = {}
        for job_type, h in histograms.items():
            for measure, ranks in _ranks(h.jobs, percentile).items():
                counts = sorted(h.buckets[measure])
                found = [(job_type, measure, *locate_rank(counts, rank)) for rank in ranks]
                located[(job_type, measure)] = found
                for lookup in found:
                    if measure in (CALLS, TOKENS) and lookup[2] < EXACT_BELOW:
                        values[lookup] = Decimal(lookup[2])
        needed = sorted({lk for found in located.values() for lk in found if lk not in values})
        if needed:
            read = {**params}
            measures = sorted({lk[1] for lk in needed})
            for m in measures:
                mine = [lk for lk in needed if lk[1] == m]
                read[f"types{m}"] = [lk[0] for lk in mine]
                read[f"buckets{m}"] = [lk[2] for lk in mine]
                read[f"offsets{m}"] = [lk[3] for lk in mine]
            for r in await self._s.all(bucket_read_query(measures), read):
                values[(r["job_type"], int(r["measure"]), int(r["bucket"]), int(r["off"]))] = r["value"]
        stats = []
        for job_type in sorted(histograms):
            h = histograms[job_type]
            calls, tokens, cost, price = ([values[lk] for lk in located[(job_type, m)]] for m in _VALUE)
            stats.append(
                JobTypeStats(
                    job_type=job_type,
                    jobs=h.jobs,
                    completed=h.statuses["completed"],
                    failed=h.statuses["failed"],
                    cancelled=h.statuses["cancelled"],
                    expired=h.statuses["expired"],
                    calls=CountSpread(p50=int(calls[0]), p95=int(calls[1]), max=int(calls[2])),
                    tokens=CountSpread(p50=int(tokens[0]), p95=int(tokens[1]), max=int(tokens[2])),
                    provider_cost_usd=MoneySpread(
                        total=h.totals[COST], p50=cost[0], p95=cost[1], p99=cost[2], max=cost[3], at_percentile=cost[4]
                    ),
                    customer_price_usd=MoneySpread(
                        total=h.totals[PRICE],
                        p50=price[0],
                        p95=price[1],
                        p99=price[2],
                        max=price[3],
                        at_percentile=price[4],
                    ),
                )
            )
        return stats

    async def jobs_costing_more(self, scope: EconomicsScope, prices: dict[str, Decimal]) -> dict[str, int]:
        if not prices:
            return {}
        types = list(prices)
        query = rollup_costing_more_query() if rolled_up(scope) else costing_more_query(scope)
        rows = await self._s.all(query, {**_params(scope), "types": types, "prices": [prices[t] for t in types]})
        # (a type of the rollup whose jobs all moved to other buckets has rows of 0 jobs)
        return {r["job_type"]: int(r["costing_more"]) for r in rows if r.get("jobs", 1)}

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
            from_row(
                JobExportRow,
                r,
                status=JobStatus(r["status"]),
                calls=r["total_calls"],
                customer_price_usd=r["customer_cost_usd"],
            )
            for r in rows
        ]
