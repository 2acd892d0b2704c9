"""Webhook events, written to the outbox in the transaction of what caused them.

Nothing is sent here: the delivery worker (``WebhookService.deliver_due``) sends later,
so a slow receiver never slows the request, and an event exists iff its cause committed.
"""

from datetime import datetime
from decimal import Decimal
from typing import Any

from application.ports.unit_of_work import UnitOfWork
from domain.alerts import credits_low, low_credit_threshold
from domain.jobs import CostSummary, Job, JobStatus
from domain.ledger import CreditBalance
from domain.organizations import Team

JOB_COMPLETED = "job.completed"
CREDITS_LOW = "team.credits_low"


def fixed(value: Decimal) -> str:
    """A decimal as fixed-point text ('0.000000001', never '1E-9')."""
    text = format(value, "f")
    return (text.rstrip("0").rstrip(".") if "." in text else text) or "0"


async def job_finished(
    uow: UnitOfWork,
    team: Team,
    job: Job,
    *,
    status: JobStatus,
    at: datetime,
    costs: CostSummary,
    credits_deducted: Decimal,
    balance: CreditBalance,
) -> None:
    """``job.completed`` (for every final status; ``status`` tells which), then the credits check."""
    payload: dict[str, Any] = {
        "job_id": str(job.id),
        "team_id": str(team.id),
        "organization_id": str(team.organization_id),
        "job_type": job.job_type,
        "external_id": job.external_id,
        "status": status.value,
        "completed_at": at.isoformat(),
        "costs": {
            "total_calls": costs.total_calls,
            "successful_calls": costs.successful_calls,
            "failed_calls": costs.failed_calls,
            "input_tokens": costs.input_tokens,
            "output_tokens": costs.output_tokens,
            "total_tokens": costs.total_tokens,
            "provider_cost_usd": fixed(costs.provider_cost_usd),
            "customer_cost_usd": fixed(costs.customer_cost_usd),
            "margin_usd": fixed(costs.margin_usd),
        },
        "credits_deducted": fixed(credits_deducted),
        "credits_remaining": fixed(max(balance.available, Decimal(0))),
    }
    await uow.webhooks.enqueue(team.organization_id, JOB_COMPLETED, payload, at)
    await credits_changed(uow, team, balance, at=at, topped_up=False)


async def credits_changed(
    uow: UnitOfWork, team: Team, balance: CreditBalance, *, at: datetime, topped_up: bool
) -> None:
    """Raise the team's low-credits flag (and queue ``team.credits_low``) when it first falls
    below its threshold (``low_credit_threshold``, else 10 % of the allocation); lower it
    after a top-up that lifts it above, so the next fall notifies again: one event per
    crossing. Costs nothing while the team is above the threshold and not topped up."""
    if credits_low(balance, team.low_credit_threshold):
        await _notify_low(uow, team, balance, at=at)
    elif topped_up:
        await uow.teams.clear_credits_low(team.id)


async def threshold_changed(uow: UnitOfWork, team: Team, balance: CreditBalance, *, at: datetime) -> None:
    """The team's threshold moved: below the new one it is a crossing (notified once, as
    any other); above it the flag is lowered, so the next fall below notifies."""
    if credits_low(balance, team.low_credit_threshold):
        await _notify_low(uow, team, balance, at=at)
    else:
        await uow.teams.clear_credits_low(team.id)


async def _notify_low(uow: UnitOfWork, team: Team, balance: CreditBalance, *, at: datetime) -> None:
    if await uow.teams.flag_credits_low(team.id, at):
        payload = {
            "team_id": str(team.id),
            "organization_id": str(team.organization_id),
            "allocated": fixed(balance.allocated),
            "used": fixed(balance.used),
            "held": fixed(balance.held),
            "remaining": fixed(max(balance.available, Decimal(0))),
            "threshold": fixed(low_credit_threshold(balance, team.low_credit_threshold)),
            "at": at.isoformat(),
        }
        await uow.webhooks.enqueue(team.organization_id, CREDITS_LOW, payload, at)
