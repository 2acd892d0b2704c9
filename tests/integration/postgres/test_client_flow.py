"""The client use cases end to end on Postgres: exact money from the call to the usage report."""

import pytest

from adapters.memory.providers import Reply
from application.errors import ProviderUnavailableError
from application.services.calls import CallFailed, CallFinished, CallRequest
from domain.budgets import BudgetMode
from domain.calls import CallStatus
from domain.errors import InsufficientCreditsError, JobNotActiveError
from domain.jobs import JobStatus
from domain.llm import ChatMessage, Role, TextDelta
from domain.usage import TokenUsage
from tests.integration.postgres.conftest import D, Instance, ledger_state, make_team, seed

HELLO = [ChatMessage(Role.USER, "Hello")]


def ask(**kw: object) -> CallRequest:
    return CallRequest(model="smart", messages=HELLO, **kw)  # type: ignore[arg-type]


async def test_consumption_job_is_priced_charged_and_reported_exactly(instance: Instance, postgres_url: str) -> None:
    services = instance.services
    organization = await seed(services)
    team, me = await make_team(services, organization, BudgetMode.CONSUMPTION_USD, credits=D(100))
    instance.provider.push(
        Reply(usage=TokenUsage(input=1000, output=500)),
        Reply(chunks=("Hi", " there"), usage=TokenUsage(input=3, output=7)),
        ProviderUnavailableError("upstream 503"),
    )
    job, _ = await services.jobs.create_job(me, job_type="doc", metadata={"doc": 1})
    first = await services.calls.call(me, job.id, ask(purpose="summary"))
    stream = await services.calls.open_stream(me, job.id, ask())
    items = [item async for item in stream.items]
    assert [i.content for i in items if isinstance(i, TextDelta)] == ["Hi", " there"]
    assert isinstance(items[-1], CallFinished) and items[-1].call.credits == D("0.00062")
    with pytest.raises(ProviderUnavailableError):
        await services.calls.call(me, job.id, ask())
    done = await services.jobs.complete_job(me, job.id)

    assert first.call.credits == D("0.06")
    assert (done.costs.total_calls, done.costs.successful_calls, done.costs.failed_calls) == (3, 2, 1)
    assert done.costs.customer_cost_usd == D("0.006062")
    assert done.costs.provider_cost_usd == D("0.003031")
    assert (done.credits_deducted, done.credits_remaining) == (D("0.06062"), D("99.93938"))
    assert await services.jobs.complete_job(me, job.id) == done  # idempotent

    view = await services.jobs.get_job(me, job.id)
    assert [c.status for c in view.calls] == [CallStatus.SUCCEEDED, CallStatus.SUCCEEDED, CallStatus.FAILED]
    assert view.calls[0].purpose == "summary" and view.calls[1].streamed
    day = done.completed_at.date()
    usage = await services.usage.team_usage(me, team.id, first_day=day, last_day=day)
    assert usage.report.totals == done.costs
    assert [(m.model, m.calls, m.tokens, m.customer_cost_usd) for m in usage.report.by_model] == [
        ("smart", 3, 1510, D("0.006062"))
    ]
    assert usage.balance.available == D("99.93938")
    cached, replayed, ledger_sum = await ledger_state(postgres_url, team.id)
    assert cached == replayed and ledger_sum == cached.available


async def test_job_based_holds_one_credit_and_refuses_when_none_is_left(instance: Instance) -> None:
    services = instance.services
    organization = await seed(services)
    _, me = await make_team(services, organization, BudgetMode.JOB_BASED, credits=D(1))
    job, _ = await services.jobs.create_job(me, job_type="doc")
    with pytest.raises(InsufficientCreditsError):  # a second job does not fit in one credit
        await services.jobs.create_job(me, job_type="doc")
    await services.calls.call(me, job.id, ask())
    done = await services.jobs.complete_job(me, job.id, status=JobStatus.FAILED)
    assert (done.credits_deducted, done.credits_remaining) == (0, 1)  # failed jobs cost nothing
    with pytest.raises(JobNotActiveError):
        await services.calls.call(me, job.id, ask())


async def test_a_stream_failing_midway_is_recorded_and_billed_at_its_estimate(instance: Instance) -> None:
    services = instance.services
    organization = await seed(services)
    _, me = await make_team(services, organization, BudgetMode.CONSUMPTION_TOKENS, credits=D(10))
    instance.provider.push(Reply(chunks=("abcd", "efgh", "ijkl"), fail_after=2, error=ProviderUnavailableError("cut")))
    job, _ = await services.jobs.create_job(me, job_type="doc")
    stream = await services.calls.open_stream(me, job.id, ask())
    items = [item async for item in stream.items]
    assert isinstance(items[-1], CallFailed)
    call = items[-1].call
    assert call.usage_estimated and call.usage.output == 2 and call.credits > 0
    view = await services.jobs.get_job(me, job.id)
    assert view.calls == [call]
    assert view.job.totals.credits == call.credits
