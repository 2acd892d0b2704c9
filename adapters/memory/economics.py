"""In-memory job economics: the reference computation, straight from the definitions in
``domain/economics.py`` (the contract tests hold the Postgres adapter to it)."""

from datetime import date
from decimal import Decimal

from adapters.memory.store import JobSummaryRow, StoreRepository, endings
from application.ports.repositories import (
    CountSpread,
    EconomicsScope,
    JobExportRow,
    JobTypeHistory,
    JobTypeStats,
    MoneySpread,
    OutputHistory,
)
from domain.calls import CallStatus
from domain.economics import percentile_of
from domain.ids import JobId, TeamId
from domain.money import ZERO
from domain.usage import NO_USAGE

_P50, _P95, _P99 = Decimal(50), Decimal(95), Decimal(99)


def _counts(values: list[int]) -> CountSpread:
    ordered = sorted(values)
    return CountSpread(p50=int(percentile_of(ordered, _P50)), p95=int(percentile_of(ordered, _P95)), max=ordered[-1])


def _money(values: list[Decimal], percentile: Decimal) -> MoneySpread:
    ordered = sorted(values)

    def at(p: Decimal) -> Decimal:
        return Decimal(percentile_of(ordered, p))

    return MoneySpread(
        total=sum(ordered, ZERO),
        p50=at(_P50),
        p95=at(_P95),
        p99=at(_P99),
        max=ordered[-1],
        at_percentile=at(percentile),
    )


class MemoryEconomicsRepository(StoreRepository):
    def _rows(self, scope: EconomicsScope) -> list[JobSummaryRow]:
        teams = self._s.teams
        return [
            r
            for r in self._s.job_summaries.values()
            if scope.first_day <= r.at.date() <= scope.last_day
            and (scope.team_id is None or r.job.team_id == scope.team_id)
            and (
                scope.organization_id is None
                or (r.job.team_id in teams and teams[r.job.team_id].organization_id == scope.organization_id)
            )
        ]

    async def job_type_stats(self, scope: EconomicsScope, *, percentile: Decimal) -> list[JobTypeStats]:
        by_type: dict[str, list[JobSummaryRow]] = {}
        for row in self._rows(scope):
            by_type.setdefault(row.job.job_type, []).append(row)
        stats = []
        for job_type in sorted(by_type):
            rows = by_type[job_type]
            stats.append(
                JobTypeStats(
                    job_type=job_type,
                    jobs=len(rows),
                    **endings(rows),
                    calls=_counts([r.summary.total_calls for r in rows]),
                    tokens=_counts([r.summary.total_tokens for r in rows]),
                    provider_cost_usd=_money([r.summary.provider_cost_usd for r in rows], percentile),
                    customer_price_usd=_money([r.summary.customer_cost_usd for r in rows], percentile),
                )
            )
        return stats

    async def jobs_costing_more(self, scope: EconomicsScope, prices: dict[str, Decimal]) -> dict[str, int]:
        found = dict.fromkeys(prices, 0)
        seen: set[str] = set()
        for row in self._rows(scope):
            job_type = row.job.job_type
            if job_type in prices:
                seen.add(job_type)
                found[job_type] += row.summary.provider_cost_usd > prices[job_type]
        return {t: n for t, n in found.items() if t in seen}

    async def job_type_history(self, team_id: TeamId, job_type: str, *, last_jobs: int) -> JobTypeHistory | None:
        rows = sorted(
            (r for r in self._s.job_summaries.values() if r.job.team_id == team_id and r.job.job_type == job_type),
            key=lambda r: r.at,
            reverse=True,
        )[:last_jobs]
        if not rows:
            return None
        credits = sorted(r.summary.credits + r.job_credits for r in rows)
        prices = sorted(r.summary.customer_cost_usd for r in rows)
        return JobTypeHistory(
            jobs=len(rows),
            credits_p50=Decimal(percentile_of(credits, _P50)),
            credits_p95=Decimal(percentile_of(credits, _P95)),
            customer_price_p50=Decimal(percentile_of(prices, _P50)),
            customer_price_p95=Decimal(percentile_of(prices, _P95)),
        )

    async def output_history(self, team_id: TeamId, alias: str, *, last_calls: int) -> OutputHistory | None:
        calls = sorted(
            (c for calls in self._s.calls.values() for c in calls if c.team_id == team_id),
            key=lambda c: c.created_at,
            reverse=True,
        )[:last_calls]
        outputs = sorted(
            c.usage.completion_tokens for c in calls if c.alias == alias and c.status is CallStatus.SUCCEEDED
        )
        if not outputs:
            return None
        return OutputHistory(calls=len(outputs), median_output_tokens=int(percentile_of(outputs, _P50)))

    async def export_page(
        self, scope: EconomicsScope, *, after: tuple[date, JobId] | None, limit: int
    ) -> list[JobExportRow]:
        rows = sorted(self._rows(scope), key=lambda r: (r.at.date(), str(r.job.id)))
        if after is not None:
            rows = [r for r in rows if (r.at.date(), str(r.job.id)) > (after[0], str(after[1]))]
        out = []
        for r in rows[:limit]:
            usage = sum((c.usage for c in self._s.calls.get(r.job.id, [])), NO_USAGE)
            team = self._s.teams[r.job.team_id]
            out.append(
                JobExportRow(
                    job_id=r.job.id,
                    external_id=r.job.external_id,
                    team_id=r.job.team_id,
                    organization_id=team.organization_id,
                    job_type=r.job.job_type,
                    status=r.status,
                    created_at=r.job.created_at,
                    completed_at=r.at,
                    day=r.at.date(),
                    calls=r.summary.total_calls,
                    successful_calls=r.summary.successful_calls,
                    failed_calls=r.summary.failed_calls,
                    input_tokens=usage.input,
                    cached_input_tokens=usage.cached_input,
                    cache_write_tokens=usage.cache_write,
                    output_tokens=usage.output,
                    reasoning_tokens=usage.reasoning,
                    provider_cost_usd=r.summary.provider_cost_usd,
                    customer_price_usd=r.summary.customer_cost_usd,
                    credits=r.summary.credits + r.job_credits,
                )
            )
        return out
