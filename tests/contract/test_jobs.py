"""Jobs, their running totals and their calls."""

from uuid import uuid4

import msgspec
import pytest

from application.errors import ConflictError
from domain.calls import CallStatus, LlmCall
from domain.catalog import Provider
from domain.ids import CallId, JobId
from domain.jobs import CostSummary, JobStatus
from domain.llm import FinishReason
from domain.pricing import CallCost
from domain.usage import TokenUsage
from tests.contract.conftest import D, UowFactory, at, make_job, make_team


def call(job_id: JobId, team_id: object, minute: float, **changes: object) -> LlmCall:
    fields: dict[str, object] = {
        "id": CallId(uuid4()),
        "job_id": job_id,
        "team_id": team_id,
        "alias": "smart",
        "provider": Provider.OPENAI,
        "provider_model": "gpt-test",
        "status": CallStatus.SUCCEEDED,
        "usage": TokenUsage(input=1000, cached_input=200, cache_write=30, output=400, reasoning=50),
        "cost": CallCost(provider_cost_usd=D("0.000123456"), customer_price_usd=D("0.000246912")),
        "credits": D("0.002470"),
        "created_at": at(minute),
        "latency_ms": 812,
    }
    fields.update(changes)
    return LlmCall(**fields)  # type: ignore[arg-type]


async def test_job_round_trips_and_external_id_is_unique_per_team(uow: UowFactory) -> None:
    team = await make_team(uow)
    job = await make_job(uow, team, metadata={"doc": 123, "tags": ["a"]}, external_id="ext-1", held_credits=D(1))
    async with uow() as u:
        assert await u.jobs.get(job.id) == job
        assert await u.jobs.get(job.id, for_update=True) == job
        assert await u.jobs.get(JobId(uuid4())) is None
        assert await u.jobs.find_by_external_id(team.id, "ext-1") == job
        assert await u.jobs.find_by_external_id(team.id, "ext-2") is None
    other_team = await make_team(uow)
    await make_job(uow, other_team, external_id="ext-1")  # another team may reuse it
    async with uow() as u:
        with pytest.raises(ConflictError):
            await u.jobs.add(msgspec.structs.replace(job, id=JobId(uuid4())))


async def test_status_metadata_and_finish_are_persisted(uow: UowFactory) -> None:
    team = await make_team(uow)
    job = await make_job(uow, team)
    async with uow() as u:
        await u.jobs.set_status(job.id, JobStatus.IN_PROGRESS)
        await u.jobs.update_metadata(job.id, {"step": "two"})
        await u.commit()
    async with uow() as u:
        found = await u.jobs.get(job.id)
        assert found is not None
        assert (found.status, found.metadata) == (JobStatus.IN_PROGRESS, {"step": "two"})
        await u.jobs.finish(job.id, status=JobStatus.FAILED, at=at(9), credits_charged=D("0.5"))
        await u.commit()
    async with uow() as u:
        found = await u.jobs.get(job.id)
    assert found is not None
    assert (found.status, found.completed_at, found.credits_charged) == (JobStatus.FAILED, at(9), D("0.5"))


async def test_calls_round_trip_oldest_first_and_once(uow: UowFactory) -> None:
    team = await make_team(uow)
    job = await make_job(uow, team)
    later = call(job.id, team.id, 2)
    failed = call(
        job.id,
        team.id,
        1,
        status=CallStatus.FAILED,
        usage=TokenUsage(),
        cost=CallCost(provider_cost_usd=D(0), customer_price_usd=D(0)),
        credits=D(0),
        finish_reason=FinishReason.ERROR,
        error_code="provider_error",
        error_message="upstream said no",
        attempts=3,
        streamed=True,
        ttft_ms=40,
        usage_estimated=True,
        overdraft_credits=D("0.000001"),
        purpose="label",
    )
    async with uow() as u:
        await u.calls.add(later)
        await u.calls.add(failed)
        await u.commit()
    async with uow() as u:
        assert await u.calls.list_for_job(job.id) == [failed, later]
        assert await u.calls.list_for_job(JobId(uuid4())) == []
        with pytest.raises(ConflictError):
            await u.calls.add(later)


async def test_call_totals_add_up_on_the_job(uow: UowFactory) -> None:
    team = await make_team(uow)
    job = await make_job(uow, team)
    one = call(job.id, team.id, 1).summary()
    two = call(job.id, team.id, 2, status=CallStatus.FAILED).summary()
    async with uow() as u:
        await u.jobs.add_call_totals(job.id, one)
        await u.jobs.add_call_totals(job.id, two)
        await u.commit()
    async with uow() as u:
        found = await u.jobs.get(job.id)
    assert found is not None
    assert found.totals == one + two
    assert found.totals == CostSummary(
        total_calls=2,
        successful_calls=1,
        failed_calls=1,
        input_tokens=2460,
        output_tokens=900,
        provider_cost_usd=D("0.000246912"),
        customer_cost_usd=D("0.000493824"),
        credits=D("0.004940"),
    )
    assert found.credits_charged is None  # still active: nothing charged yet


async def test_jobs_list_newest_first_with_filters_and_keyset(uow: UowFactory) -> None:
    team = await make_team(uow)
    jobs = [await make_job(uow, team, created_at=at(i)) for i in range(5)]
    await make_job(uow, await make_team(uow), created_at=at(3))  # another team's
    async with uow() as u:
        await u.jobs.set_status(jobs[1].id, JobStatus.IN_PROGRESS)
        await u.commit()

    async def ids(**kw: object) -> list[JobId]:
        params: dict[str, object] = {"status": None, "created_from": None, "created_to": None, "before": None}
        params["limit"] = 10
        params.update(kw)
        async with uow() as u:
            found = await u.jobs.search(organization_id=None, team_id=team.id, **params)  # type: ignore[arg-type]
        return [j.id for j in found]

    assert await ids() == [j.id for j in reversed(jobs)]
    assert await ids(limit=2) == [jobs[4].id, jobs[3].id]
    assert await ids(before=(jobs[3].created_at, jobs[3].id), limit=2) == [jobs[2].id, jobs[1].id]
    assert await ids(status=JobStatus.IN_PROGRESS) == [jobs[1].id]
    assert await ids(created_from=at(1), created_to=at(3)) == [jobs[2].id, jobs[1].id]


async def test_stale_jobs_are_the_old_active_ones_oldest_first(uow: UowFactory) -> None:
    team = await make_team(uow)
    old = await make_job(uow, team, created_at=at(0))
    older = await make_job(uow, team, created_at=at(-5))
    finished = await make_job(uow, team, created_at=at(-10))
    await make_job(uow, team, created_at=at(30))
    async with uow() as u:
        await u.jobs.finish(finished.id, status=JobStatus.COMPLETED, at=at(1), credits_charged=D(0))
        await u.commit()
    async with uow() as u:
        assert await u.jobs.list_stale(at(10), 10) == [older.id, old.id]
        assert await u.jobs.list_stale(at(10), 1) == [older.id]
