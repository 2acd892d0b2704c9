"""The whole client flow on fakes: jobs, calls, streams, completion, budget modes."""

import asyncio
from datetime import timedelta
from decimal import Decimal

import pytest

from adapters.memory.providers import Reply
from application.errors import NotFoundError, ProviderRateLimitedError, ProviderUnavailableError, UnauthorizedError
from application.services.calls import CallFailed, CallFinished, CallRequest
from domain.budgets import BudgetMode
from domain.calls import CallStatus
from domain.catalog import Provider
from domain.errors import InsufficientCreditsError, JobNotActiveError, ModelNotAllowedError, TeamSuspendedError
from domain.jobs import JobStatus
from domain.ledger import replay
from domain.llm import ChatMessage, Role, TextDelta
from domain.organizations import TeamStatus
from domain.usage import TokenUsage
from tests.unit.application.conftest import World

D = Decimal
HELLO = [ChatMessage(Role.USER, "Hello")]


def ask(model: str = "smart", **kw: object) -> CallRequest:
    return CallRequest(model=model, messages=HELLO, **kw)  # type: ignore[arg-type]


def ledger_is_exact(world: World, team_id: object) -> None:
    entries = world.store.ledger[team_id]  # type: ignore[index]
    assert replay(entries) == world.store.balances[team_id]  # type: ignore[index]
    assert sum((e.amount for e in entries), D(0)) == world.store.balances[team_id].available  # type: ignore[index]


async def test_consumption_usd_charges_customer_price_times_rate(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(Reply(usage=TokenUsage(input=1000, output=500)), Reply(usage=TokenUsage(input=3, output=7)))
    job, created = await world.services.jobs.create_job(me, job_type="doc")
    assert created
    first = await world.services.calls.call(me, job.id, ask())
    second = await world.services.calls.call(me, job.id, ask())
    # 1000×2 + 500×8 = 6000 per 1M → $0.006 → 0.06 credits; 3×2+7×8 = 62 → $0.000062 → 0.00062
    assert first.call.cost.customer_price_usd == D("0.006")
    assert first.call.cost.provider_cost_usd == D("0.003")
    assert first.call.credits == D("0.06")
    assert second.call.credits == D("0.00062")
    done = await world.services.jobs.complete_job(me, job.id)
    assert done.status is JobStatus.COMPLETED
    assert done.costs.customer_cost_usd == D("0.006062")
    assert done.costs.provider_cost_usd == D("0.003031")
    assert done.costs.margin_usd == D("0.003031")
    assert done.credits_deducted == D("0.06062")
    assert done.credits_remaining == D("99.93938")
    balance = world.store.balances[team.id]
    assert balance.held == 0 and balance.used == D("0.06062")
    ledger_is_exact(world, team.id)


async def test_consumption_tokens_charges_tokens_over_rate(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_TOKENS, tokens_per_credit=1000)
    world.provider.push(Reply(usage=TokenUsage(input=1200, cached_input=300, output=500, reasoning=1)))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    result = await world.services.calls.call(me, job.id, ask())
    assert result.call.credits == D("2.001")
    done = await world.services.jobs.complete_job(me, job.id)
    assert done.credits_deducted == D("2.001")
    assert done.credits_remaining == D("97.999")
    ledger_is_exact(world, team.id)


async def test_job_based_charges_one_credit_per_completed_job(world: World) -> None:
    team, me = await world.team(BudgetMode.JOB_BASED, credits=D(2))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    assert world.store.balances[team.id].held == 1
    await world.services.calls.call(me, job.id, ask())
    await world.services.calls.call(me, job.id, ask())
    done = await world.services.jobs.complete_job(me, job.id)
    assert done.credits_deducted == 1
    assert done.credits_remaining == 1
    failed_job, _ = await world.services.jobs.create_job(me, job_type="doc")
    failed = await world.services.jobs.complete_job(me, failed_job.id, status=JobStatus.FAILED)
    assert failed.credits_deducted == 0
    assert failed.credits_remaining == 1
    ledger_is_exact(world, team.id)


async def test_job_based_refuses_a_job_below_one_credit(world: World) -> None:
    _, me = await world.team(BudgetMode.JOB_BASED, credits=D("0.5"))
    with pytest.raises(InsufficientCreditsError):
        await world.services.jobs.create_job(me, job_type="doc")


async def test_consumption_team_without_credit_cannot_create_a_job(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD, credits=None)
    with pytest.raises(InsufficientCreditsError):
        await world.services.jobs.create_job(me, job_type="doc")


async def test_second_completion_charges_nothing(world: World) -> None:
    team, me = await world.team(BudgetMode.JOB_BASED, credits=D(5))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    first = await world.services.jobs.complete_job(me, job.id)
    entries_after_first = len(world.store.ledger[team.id])
    second = await world.services.jobs.complete_job(me, job.id)
    assert second.credits_deducted == first.credits_deducted == 1
    assert second.costs == first.costs
    assert len(world.store.ledger[team.id]) == entries_after_first
    assert world.store.balances[team.id].used == 1


async def test_concurrent_completions_charge_once(world: World) -> None:
    team, me = await world.team(BudgetMode.JOB_BASED, credits=D(5))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    results = await asyncio.gather(*(world.services.jobs.complete_job(me, job.id) for _ in range(20)))
    assert {r.credits_deducted for r in results} == {D(1)}
    assert world.store.balances[team.id].used == 1
    ledger_is_exact(world, team.id)


async def test_external_id_returns_the_same_job(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    first, created = await world.services.jobs.create_job(me, job_type="doc", external_id="doc-123")
    again, created_again = await world.services.jobs.create_job(me, job_type="doc", external_id="doc-123")
    assert created and not created_again
    assert again.id == first.id


async def test_suspended_team_is_refused(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    await world.services.organizations.set_status(team.id, TeamStatus.SUSPENDED)
    with pytest.raises(TeamSuspendedError):
        await world.services.jobs.create_job(me, job_type="doc")
    with pytest.raises(TeamSuspendedError):
        await world.services.calls.call(me, job.id, ask())
    assert world.provider.requests == []


async def test_alias_outside_the_teams_access_groups_is_refused(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    with pytest.raises(ModelNotAllowedError):
        await world.services.calls.call(me, job.id, ask("premium"))
    with pytest.raises(ModelNotAllowedError):
        await world.services.calls.call(me, job.id, ask("no-such-alias"))
    assert world.provider.requests == []


async def test_call_beyond_available_credits_is_refused_before_the_provider(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD, credits=D("0.001"))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    # hold: (5+4+16+32 prompt-bound tokens × $2 + 100 × $8) / 1M → > 0.001 credits
    with pytest.raises(InsufficientCreditsError):
        await world.services.calls.call(me, job.id, ask())
    assert world.provider.requests == []
    assert world.store.balances[team.id].held == 0
    assert world.store.calls[job.id] == []


async def test_failed_provider_call_releases_its_hold_and_is_recorded(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(ProviderUnavailableError("upstream 503", attempts=3))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    with pytest.raises(ProviderUnavailableError):
        await world.services.calls.call(me, job.id, ask())
    balance = world.store.balances[team.id]
    assert balance.held == 0 and balance.used == 0
    [call] = world.store.calls[job.id]
    assert call.status is CallStatus.FAILED
    assert call.attempts == 3
    assert call.credits == 0
    done = await world.services.jobs.complete_job(me, job.id)
    assert done.costs.total_calls == 1 and done.costs.failed_calls == 1
    ledger_is_exact(world, team.id)


async def test_rate_limit_passes_through_with_retry_after(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(ProviderRateLimitedError("slow down", retry_after_s=7))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    with pytest.raises(ProviderRateLimitedError) as info:
        await world.services.calls.call(me, job.id, ask())
    assert info.value.retry_after_s == 7


async def test_max_tokens_defaults_to_the_alias_default(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    await world.services.calls.call(me, job.id, ask())
    await world.services.calls.call(me, job.id, ask(max_tokens=7))
    assert [r.max_tokens for _, r in world.provider.requests] == [100, 7]
    target, _ = world.provider.requests[0]
    assert target.api_key == "sk-test-provider-secret-1234"
    assert "sk-test-provider-secret" not in repr(target)


async def test_calls_on_a_finished_job_are_refused(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    await world.services.jobs.complete_job(me, job.id)
    with pytest.raises(JobNotActiveError):
        await world.services.calls.call(me, job.id, ask())


async def test_another_teams_job_is_not_found(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    _, other = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(other, job_type="doc")
    with pytest.raises(NotFoundError):
        await world.services.jobs.get_job(me, job.id)
    with pytest.raises(NotFoundError):
        await world.services.calls.call(me, job.id, ask())
    with pytest.raises(NotFoundError):
        await world.services.credits.team_credits(me, other.team_id)


async def test_unknown_or_revoked_key_is_unauthorized(world: World) -> None:
    with pytest.raises(UnauthorizedError):
        await world.services.client_auth.authenticate("sk-job-nope")
    with pytest.raises(UnauthorizedError):
        await world.services.client_auth.authenticate(None)


async def test_streamed_call_relays_deltas_and_records_usage(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(Reply(chunks=("a", "b", "c"), usage=TokenUsage(input=10, output=3)))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    stream = await world.services.calls.open_stream(me, job.id, ask())
    items = [item async for item in stream.items]
    assert [i.content for i in items if isinstance(i, TextDelta)] == ["a", "b", "c"]
    finished = items[-1]
    assert isinstance(finished, CallFinished)
    assert finished.call.usage == TokenUsage(input=10, output=3)
    assert finished.call.streamed
    assert world.store.balances[team.id].held == 0
    ledger_is_exact(world, team.id)


async def test_stream_failing_midway_is_recorded_failed_with_estimated_usage(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    cut = ProviderUnavailableError("stream cut")
    world.provider.push(Reply(chunks=("abcd", "efgh", "ijkl"), error=cut, fail_after=2))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    stream = await world.services.calls.open_stream(me, job.id, ask())
    items = [item async for item in stream.items]
    failed = items[-1]
    assert isinstance(failed, CallFailed)
    assert failed.code == "provider_error"
    assert failed.call.status is CallStatus.FAILED
    assert failed.call.usage_estimated
    assert failed.call.usage.output == 2  # 8 bytes of text ≈ 2 tokens
    assert failed.call.credits > 0
    assert world.store.balances[team.id].held == 0
    ledger_is_exact(world, team.id)


async def test_client_disconnect_mid_stream_records_the_call_and_settles(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(Reply(chunks=("abcd",) * 10))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    stream = await world.services.calls.open_stream(me, job.id, ask())
    iterator = aiter(stream.items)
    await anext(iterator)
    await anext(iterator)
    await iterator.aclose()  # what the HTTP layer does when the client goes away
    [call] = world.store.calls[job.id]
    assert call.usage_estimated and call.usage.output == 2
    assert world.provider.closed_streams == 1
    assert world.store.balances[team.id].held == 0
    ledger_is_exact(world, team.id)


async def test_failure_before_the_first_event_raises_and_records(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(ProviderUnavailableError("down"))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    with pytest.raises(ProviderUnavailableError):
        await world.services.calls.open_stream(me, job.id, ask())
    assert len(world.store.calls[job.id]) == 1
    assert world.store.balances[team.id].held == 0


async def test_a_crashed_call_blocks_completion_then_is_captured_as_unsettled(world: World) -> None:
    """A call that never recorded its outcome (its process died) keeps its hold while its
    lease is live: completion answers calls_in_flight; once the lease expires the sweeper
    captures the hold as an unsettled debit and the job finishes."""
    from uuid import UUID

    from application.ports.repositories import CallLease
    from domain.errors import CallsInFlightError
    from domain.ids import CallId
    from domain.ledger import EntryType

    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    now = world.clock.now()
    lease = CallLease(
        call_id=CallId(UUID(int=99)),
        job_id=job.id,
        team_id=team.id,
        held=D(3),
        alias="gpt",
        provider=Provider.OPENAI,
        expires_at=now + timedelta(seconds=300),
        created_at=now,
    )
    await world.services.jobs.ledger.reserve(lease, at=now)  # the crash: reserved, never recorded
    assert world.store.balances[team.id].held == 3
    with pytest.raises(CallsInFlightError):
        await world.services.jobs.complete_job(me, job.id)
    assert world.store.balances[team.id].held == 3  # a live lease is never released
    await world.services.jobs.expire_stale_jobs()
    assert world.store.balances[team.id].held == 3
    world.clock.advance(301)
    await world.services.jobs.expire_stale_jobs()
    assert world.store.balances[team.id].held == 0
    assert world.store.balances[team.id].used == 3  # captured, not released
    debit = [e for e in world.store.ledger[team.id] if e.type is EntryType.DEBIT]
    assert [(e.amount, e.reason) for e in debit] == [(D(-3), "unsettled")]
    assert world.store.jobs[job.id].status is JobStatus.COMPLETED  # the completion asked for
    (call,) = world.store.calls[job.id]
    assert call.unsettled and call.credits == 3
    ledger_is_exact(world, team.id)


async def test_sweeper_expires_stale_jobs_and_releases_their_holds(world: World) -> None:
    team, me = await world.team(BudgetMode.JOB_BASED, credits=D(3))
    old, _ = await world.services.jobs.create_job(me, job_type="doc")
    world.clock.advance(3601)
    fresh, _ = await world.services.jobs.create_job(me, job_type="doc")
    assert await world.services.jobs.expire_stale_jobs() == 1
    assert world.store.jobs[old.id].status is JobStatus.EXPIRED
    assert world.store.jobs[fresh.id].status is JobStatus.PENDING
    assert world.store.balances[team.id].held == 1  # only the fresh job's
    assert world.store.balances[team.id].used == 0
    ledger_is_exact(world, team.id)


async def test_allocation_with_the_same_idempotency_key_applies_once(world: World) -> None:
    team, _ = await world.team(BudgetMode.CONSUMPTION_USD, credits=None)
    first = await world.services.credits.allocate(team.id, D("10.5"), reason="top-up", idempotency_key="inv-1")
    again = await world.services.credits.allocate(team.id, D("10.5"), reason="top-up", idempotency_key="inv-1")
    assert first is not None and again is None
    assert world.store.balances[team.id].allocated == D("10.5")


async def test_usage_report_sums_the_finished_jobs(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(Reply(usage=TokenUsage(input=1000, output=500)))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    await world.services.calls.call(me, job.id, ask())
    await world.services.jobs.complete_job(me, job.id)
    day = world.clock.now().date()
    usage = await world.services.usage.team_usage(me, team.id, first_day=day, last_day=day)
    assert usage.report.jobs_completed == 1
    assert usage.report.totals.customer_cost_usd == D("0.006")
    assert usage.report.by_model[0].model == "smart"
    assert usage.balance.used == D("0.06")


async def test_completion_waits_for_a_call_in_flight_and_counts_it(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(Reply(chunks=("a", "b"), usage=TokenUsage(input=1000, output=500)))
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    stream = await world.services.calls.open_stream(me, job.id, ask())
    iterator = aiter(stream.items)
    await anext(iterator)
    completing = asyncio.create_task(world.services.jobs.complete_job(me, job.id))  # while the call runs
    await asyncio.sleep(0.05)
    assert not completing.done()
    assert world.store.balances[team.id].held > 0  # the running call's hold is not released
    with pytest.raises(JobNotActiveError):  # but the job takes no new call
        await world.services.calls.call(me, job.id, ask())
    rest = [item async for item in iterator]
    assert isinstance(rest[-1], CallFinished)
    done = await completing
    assert done.costs.total_calls == 1
    assert done.credits_deducted == D("0.06")
    job_after = world.store.jobs[job.id]
    assert job_after.totals.total_calls == 1
    assert job_after.credits_charged == D("0.06")
    day = world.clock.now().date()
    usage = await world.services.usage.team_usage(me, team.id, first_day=day, last_day=day)
    assert usage.report.totals.total_calls == 1
    assert usage.report.totals.credits == D("0.06")
    assert world.store.balances[team.id].held == 0
    assert world.store.balances[team.id].used == D("0.06")
    ledger_is_exact(world, team.id)


async def test_a_suspension_reaches_calls_within_the_cache_period(world: World) -> None:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    await world.services.calls.call(me, job.id, ask())  # team now cached
    await world.services.organizations.set_status(team.id, TeamStatus.SUSPENDED)
    world.clock.advance(1.01)  # the cache lives at most a second
    with pytest.raises(TeamSuspendedError):
        await world.services.calls.call(me, job.id, ask())


async def test_an_open_stream_holds_constant_memory_whatever_the_answers_length(world: World) -> None:
    """The relay keeps a running byte count, not the text: 8 MB relayed grow nothing."""
    import tracemalloc
    from collections.abc import AsyncIterator

    from domain.llm import FinishReason, StreamEnd

    async def fresh_chunks(target: object, request: object) -> AsyncIterator[TextDelta | StreamEnd]:
        for i in range(8192):  # a new 1 KB string per chunk, as a real adapter decodes them
            yield TextDelta(f"{i:08d}" + "x" * 1016)
        yield StreamEnd(finish_reason=FinishReason.STOP, usage=TokenUsage(input=1, output=8192), provider_model="m")

    world.provider.stream = fresh_chunks  # type: ignore[method-assign]
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    stream = await world.services.calls.open_stream(me, job.id, ask())
    iterator = aiter(stream.items)
    await anext(iterator)
    tracemalloc.start()
    try:
        for _ in range(8000):
            await anext(iterator)
        current, _ = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert current < 256 * 1024  # the 8 MB relayed are not kept
    rest = [item async for item in iterator]
    assert isinstance(rest[-1], CallFinished)
    await stream.close()


async def test_completion_metadata_merges_like_a_patch_and_a_null_removes_its_key(world: World) -> None:
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc", metadata={"k": 1, "keep": "x"})
    patched = await world.services.jobs.update_metadata(me, job.id, {"keep": None, "p": 2})
    assert patched.metadata == {"k": 1, "p": 2}
    await world.services.jobs.complete_job(me, job.id, metadata={"k": None, "done": True})
    assert (await world.services.jobs.get_job(me, job.id)).job.metadata == {"p": 2, "done": True}
