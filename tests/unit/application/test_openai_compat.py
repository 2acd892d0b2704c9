"""The /v1 use cases on fakes: which job a call lands in, and which models a team sees."""

from decimal import Decimal

from adapters.memory.providers import Reply
from application.services.calls import CallFinished, CallRequest
from application.services.one_call_jobs import NewJob
from domain.budgets import BudgetMode
from domain.catalog import Provider
from domain.jobs import JobStatus
from domain.llm import ChatMessage, Role, TextDelta
from domain.usage import TokenUsage
from tests.support.seeding import CUSTOMER, PROVIDER
from tests.unit.application.conftest import World

D = Decimal
ASK = CallRequest(model="smart", messages=[ChatMessage(Role.USER, "Hello")])
NEW = NewJob(job_type="chat.completions", metadata={"ticket": "T-1"})


async def test_a_call_with_a_job_id_lands_in_that_job_and_leaves_it_open(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    world.provider.push(Reply(usage=TokenUsage(input=1000, output=500)))
    done = await world.services.openai.complete(me, ASK, job_id=job.id, new_job=NEW)
    assert done.job_id == job.id and done.result.call.credits == D("0.06")
    assert world.store.jobs[job.id].status is JobStatus.IN_PROGRESS


async def test_a_call_without_a_job_id_gets_a_one_call_job_completed_after_it(world: World) -> None:
    team, me = await world.team(BudgetMode.JOB_BASED)
    done = await world.services.openai.complete(me, ASK, job_id=None, new_job=NEW)
    job = world.store.jobs[done.job_id]
    assert job.status is JobStatus.COMPLETED and job.metadata == {"ticket": "T-1"}
    assert job.credits_charged == D(1) and world.store.balances[team.id].held == 0


async def test_a_one_call_stream_finishes_its_job_before_the_last_item(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_TOKENS)
    world.provider.push(Reply(chunks=("a", "b"), usage=TokenUsage(input=5000, output=5000)))
    opened = await world.services.openai.open_stream(me, ASK, job_id=None, new_job=NEW)
    items = []
    async for item in opened.items:
        if isinstance(item, CallFinished):
            assert world.store.jobs[opened.job_id].status is JobStatus.COMPLETED
        items.append(item)
    await opened.close()
    assert [i.content for i in items if isinstance(i, TextDelta)] == ["a", "b"]
    assert world.store.jobs[opened.job_id].credits_charged == D(1)  # 10,000 tokens / 10,000 per credit


async def test_a_stream_left_before_its_end_still_finishes_its_job(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(Reply(chunks=("a", "b", "c")))
    opened = await world.services.openai.open_stream(me, ASK, job_id=None, new_job=NEW)
    first = await anext(opened.items)
    assert isinstance(first, TextDelta)
    await opened.close()
    assert world.store.jobs[opened.job_id].status is JobStatus.FAILED
    assert world.store.balances[team.id].held == 0 and world.store.balances[team.id].used > 0


async def test_models_are_exactly_the_aliases_the_team_may_call(world: World) -> None:
    other = await world.services.organizations.create_organization(name="Other")
    for alias, organization in (("ours", world.organization.id), ("theirs", other.id)):
        await world.services.models.create_alias(
            alias=alias,
            provider=Provider.OPENAI,
            provider_model="gpt-test",
            customer_prices=CUSTOMER,
            provider_costs=PROVIDER,
            access_groups=("standard",),
            organization_id=organization,
        )
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    assert [a.alias for a in await world.services.openai.models(me)] == ["ours", "smart"]
    assert await world.services.openai.model(me, "premium") is None  # exists, not in the team's groups
    assert await world.services.openai.model(me, "theirs") is None  # another organization's
    assert (await world.services.openai.model(me, "smart")) is not None
