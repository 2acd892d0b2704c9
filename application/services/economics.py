"""Job economics use cases: what each job type costs and what to charge for it, quotes
before a call or a job, and the billing export."""

from collections.abc import AsyncIterator
from datetime import date
from decimal import Decimal, localcontext

import msgspec

from application.errors import NoHistoryError, NotFoundError
from application.ports.repositories import EconomicsScope, JobExportRow, JobTypeStats
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.principal import TeamPrincipal
from application.services._access import Caller, listing_scope, own_team, visible_organization, visible_team
from application.services.calls import CallRequest
from application.services.usage import check_range
from domain.access import ensure_offered_to
from domain.admins import AdminPrincipal
from domain.budgets import prompt_token_upper_bound
from domain.economics import (
    DEFAULT_PERCENTILE,
    WhatIf,
    check_percentile,
    check_target_margin,
    mean_usd,
    suggested_flat_price,
    what_if,
)
from domain.errors import ModelNotAllowedError
from domain.ids import JobId, OrganizationId, TeamId
from domain.llm import tokens_for_bytes
from domain.money import EXACT
from domain.pricing import price_call, worst_case_cost_usd
from domain.usage import TokenUsage

# How much history a quote reads: the team's most recent finished jobs of the type, and
# its most recent calls (of every alias; the alias's successful ones among them count).
QUOTE_JOBS = 1_000
QUOTE_CALLS = 5_000
EXPORT_PAGE = 1_000


class Suggestion(msgspec.Struct, frozen=True, kw_only=True):
    target_margin: Decimal
    percentile: Decimal
    price_usd: Decimal
    what_if: WhatIf


class JobTypeEconomics(msgspec.Struct, frozen=True, kw_only=True):
    stats: JobTypeStats
    provider_cost_mean_usd: Decimal
    customer_price_mean_usd: Decimal
    margin_total_usd: Decimal
    margin_mean_usd: Decimal
    suggestion: Suggestion | None


class JobTypesReport(msgspec.Struct, frozen=True, kw_only=True):
    organization_id: OrganizationId | None
    team_id: TeamId | None
    first_day: date
    last_day: date
    percentile: Decimal
    target_margin: Decimal | None
    items: list[JobTypeEconomics]


class Amount(msgspec.Struct, frozen=True, kw_only=True):
    usd: Decimal
    credits: Decimal


class CallQuote(msgspec.Struct, frozen=True, kw_only=True):
    """``worst_case`` is exactly the hold the call would place; ``expected`` prices the
    estimated prompt and the alias's recent median output (``max_tokens`` without history)."""

    model: str
    max_tokens: int
    worst_case: Amount
    expected: Amount
    expected_input_tokens: int
    expected_output_tokens: int
    output_basis: str  # "recent_median" | "max_tokens"
    history_calls: int


class JobTypeQuote(msgspec.Struct, frozen=True, kw_only=True):
    team_id: TeamId
    job_type: str
    jobs: int
    credits_p50: Decimal
    credits_p95: Decimal
    customer_price_p50_usd: Decimal
    customer_price_p95_usd: Decimal


class EconomicsService:
    """Rules:

    - reports cover finished jobs by completion day (UTC, inclusive, at most 366 days),
      of the organizations the admin sees (a scoped admin: its own; another organization
      or team answers 404);
    - percentiles are nearest-rank, 0 < p ≤ 100 with at most 2 decimals (default 95);
      a target margin is 0 ≤ m < 1 (422 otherwise);
    - the suggested flat price is the smallest cent at which the job at the requested
      percentile of provider cost reaches the target margin; ``what_if`` is the window
      charged at that price;
    - a team key quotes only its own team and only aliases it may call (403 otherwise);
      a job-type quote without any finished job of that type answers 404 ``no_history``.
    """

    def __init__(self, *, uow: UnitOfWorkFactory) -> None:
        self._uow = uow

    async def job_types(
        self,
        actor: AdminPrincipal,
        *,
        organization_id: OrganizationId | None,
        team_id: TeamId | None,
        first_day: date,
        last_day: date,
        percentile: Decimal | None = None,
        target_margin: Decimal | None = None,
    ) -> JobTypesReport:
        check_range(first_day, last_day)
        p = check_percentile(percentile if percentile is not None else DEFAULT_PERCENTILE)
        if target_margin is not None:
            check_target_margin(target_margin)
        async with self._uow() as uow:
            scope = await self._scope(uow, actor, organization_id, team_id, first_day, last_day)
            stats = await uow.economics.job_type_stats(scope, percentile=p)
            prices = (
                {s.job_type: suggested_flat_price(s.provider_cost_usd.at_percentile, target_margin) for s in stats}
                if target_margin is not None
                else {}
            )
            losing = await uow.economics.jobs_costing_more(scope, prices) if prices else {}
        items = []
        for s in stats:
            with localcontext(EXACT):
                margin_total = s.customer_price_usd.total - s.provider_cost_usd.total
            suggestion = None
            if target_margin is not None:
                price = prices[s.job_type]
                suggestion = Suggestion(
                    target_margin=target_margin,
                    percentile=p,
                    price_usd=price,
                    what_if=what_if(
                        price_usd=price,
                        jobs=s.jobs,
                        provider_cost_usd=s.provider_cost_usd.total,
                        jobs_costing_more=losing.get(s.job_type, 0),
                    ),
                )
            items.append(
                JobTypeEconomics(
                    stats=s,
                    provider_cost_mean_usd=mean_usd(s.provider_cost_usd.total, s.jobs),
                    customer_price_mean_usd=mean_usd(s.customer_price_usd.total, s.jobs),
                    margin_total_usd=margin_total,
                    margin_mean_usd=mean_usd(margin_total, s.jobs),
                    suggestion=suggestion,
                )
            )
        return JobTypesReport(
            organization_id=scope.organization_id,
            team_id=scope.team_id,
            first_day=first_day,
            last_day=last_day,
            percentile=p,
            target_margin=target_margin,
            items=items,
        )

    async def export_jobs(
        self,
        actor: AdminPrincipal,
        *,
        organization_id: OrganizationId | None,
        team_id: TeamId | None,
        first_day: date,
        last_day: date,
    ) -> AsyncIterator[JobExportRow]:
        """Every finished job of the window, in (completion day, id) order, read page by page
        (each page its own short unit of work, so memory and connections stay bounded
        however long the export and however slow its reader). Scope errors raise before
        the first row."""
        check_range(first_day, last_day)
        async with self._uow() as uow:
            scope = await self._scope(uow, actor, organization_id, team_id, first_day, last_day)
            first = await uow.economics.export_page(scope, after=None, limit=EXPORT_PAGE)
        return self._pages(scope, first)

    async def _pages(self, scope: EconomicsScope, page: list[JobExportRow]) -> AsyncIterator[JobExportRow]:
        while page:
            for row in page:
                yield row
            if len(page) < EXPORT_PAGE:
                return
            last = page[-1]
            after: tuple[date, JobId] = (last.day, last.job_id)
            async with self._uow() as uow:
                page = await uow.economics.export_page(scope, after=after, limit=EXPORT_PAGE)

    async def quote_call(self, principal: TeamPrincipal, request: CallRequest) -> CallQuote:
        """What a call would hold (its worst case) and is expected to cost, before making it."""
        async with self._uow() as uow:
            team = await own_team(uow, principal)
            alias = await uow.aliases.get(request.model)
            if alias is None:
                raise ModelNotAllowedError(f"model '{request.model}' is not available to this team")
            ensure_offered_to(team.organization_id, team.access_groups, alias)
            history = await uow.economics.output_history(team.id, alias.alias, last_calls=QUOTE_CALLS)
        max_tokens = alias.max_tokens_for(request.max_tokens)
        # The very computation the call's hold uses (CallService._prepare).
        held = team.budget.call_hold(messages=request.messages, max_tokens=max_tokens, sheet=alias.customer_prices)
        worst_usd = worst_case_cost_usd(
            prompt_tokens=prompt_token_upper_bound(request.messages),
            completion_tokens=max_tokens,
            sheet=alias.customer_prices,
        )
        expected_in = sum(tokens_for_bytes(len(m.content.encode("utf-8"))) for m in request.messages)
        expected_out = min(history.median_output_tokens, max_tokens) if history is not None else max_tokens
        usage = TokenUsage(input=expected_in, output=expected_out)
        cost = price_call(usage, provider=alias.provider_costs, customer=alias.customer_prices)
        return CallQuote(
            model=alias.alias,
            max_tokens=max_tokens,
            worst_case=Amount(usd=worst_usd, credits=held),
            expected=Amount(usd=cost.customer_price_usd, credits=team.budget.call_credits(usage, cost)),
            expected_input_tokens=expected_in,
            expected_output_tokens=expected_out,
            output_basis="recent_median" if history is not None else "max_tokens",
            history_calls=history.calls if history is not None else 0,
        )

    async def job_type_quote(self, caller: Caller, team_id: TeamId, job_type: str) -> JobTypeQuote:
        """The credits (and price) per job of this type from the team's recent finished jobs."""
        async with self._uow() as uow:
            team = await visible_team(uow, caller, team_id)
            history = await uow.economics.job_type_history(team.id, job_type, last_jobs=QUOTE_JOBS)
        if history is None:
            raise NoHistoryError(f"this team has no finished job of type '{job_type}' to quote from")
        return JobTypeQuote(
            team_id=team.id,
            job_type=job_type,
            jobs=history.jobs,
            credits_p50=history.credits_p50,
            credits_p95=history.credits_p95,
            customer_price_p50_usd=history.customer_price_p50,
            customer_price_p95_usd=history.customer_price_p95,
        )

    @staticmethod
    async def _scope(
        uow: UnitOfWork,
        actor: AdminPrincipal,
        organization_id: OrganizationId | None,
        team_id: TeamId | None,
        first_day: date,
        last_day: date,
    ) -> EconomicsScope:
        """One team (of the organization, when both are given), one organization, or every
        one the actor sees; what it may not see answers 404."""
        org = listing_scope(actor, organization_id)
        if team_id is not None:
            team = await visible_team(uow, actor, team_id)
            if org is not None and team.organization_id != org:
                raise NotFoundError("team not found")
            org = team.organization_id
        elif org is not None:
            await visible_organization(uow, actor, org)
        return EconomicsScope(organization_id=org, team_id=team_id, first_day=first_day, last_day=last_day)
