"""Per-team rate limits on fakes: what is refused, what is counted, what a refusal leaves."""

import asyncio
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from adapters.memory.providers import Reply
from application.errors import RateLimitedError, UnavailableError
from application.ports.rate_limits import LimitedResource, RateLimitRefusal
from application.principal import TeamPrincipal
from application.services.calls import CallRequest
from application.services.one_call_jobs import NewJob
from application.services.organizations import TeamChanges
from application.services.rate_limits import CallRateLimits
from domain.admins import AdminPrincipal, AdminRole
from domain.budgets import BudgetMode
from domain.errors import InvalidValueError
from domain.ids import AdminUserId, TeamId
from domain.llm import ChatMessage, Role
from domain.organizations import Team
from domain.rate_limits import RateLimits
from domain.usage import TokenUsage
from tests.unit.application.conftest import World

D = Decimal
ASK = CallRequest(model="smart", messages=[ChatMessage(Role.USER, "Hello")])
ADMIN = AdminPrincipal(user_id=AdminUserId(uuid4()), email="ops@example.com", role=AdminRole.ADMIN)


async def limited(world: World, **limits: Any) -> tuple[Team, TeamPrincipal]:
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    team = await world.services.organizations.update_team(ADMIN, team.id, TeamChanges(**limits))
    world.clock.advance(2)  # past the call path's 1 s team cache
    return team, me


async def test_requests_over_the_limit_are_refused_before_anything_is_held(world: World) -> None:
    team, me = await limited(world, rpm_limit=2)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    for _ in range(2):
        await world.services.calls.call(me, job.id, ASK)
    ledger_before = list(world.store.ledger[team.id])
    with pytest.raises(RateLimitedError) as refused:
        await world.services.calls.call(me, job.id, ASK)
    assert (refused.value.resource, refused.value.limit, refused.value.remaining) == ("requests", 2, 0)
    assert 0 < refused.value.retry_after_s <= 60
    assert len(world.provider.requests) == 2
    assert len(world.store.calls[job.id]) == 2
    assert world.store.ledger[team.id] == ledger_before and world.store.balances[team.id].held == 0


async def test_tokens_are_counted_as_used_and_the_next_call_waits(world: World) -> None:
    _, me = await limited(world, tpm_limit=1000)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    world.provider.push(Reply(usage=TokenUsage(input=600, output=300)), Reply(usage=TokenUsage(input=200, output=100)))
    await world.services.calls.call(me, job.id, ASK)  # 900 counted
    await world.services.calls.call(me, job.id, ASK)  # fits at admission: 1200 after
    with pytest.raises(RateLimitedError) as refused:
        await world.services.calls.call(me, job.id, ASK)
    assert refused.value.resource == "tokens" and refused.value.remaining == 0 and refused.value.retryable


async def test_a_request_larger_than_the_whole_token_limit_is_refused_for_good(world: World) -> None:
    _, me = await limited(world, tpm_limit=10)
    big = CallRequest(model="smart", messages=[ChatMessage(Role.USER, "x" * 400)])  # ~100 tokens
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    with pytest.raises(RateLimitedError) as refused:
        await world.services.calls.call(me, job.id, big)
    assert not refused.value.retryable and "larger than" in refused.value.detail
    await world.services.calls.call(me, job.id, ASK)  # a small one still fits


async def test_a_refused_one_call_job_leaves_no_job(world: World) -> None:
    team, me = await world.team(BudgetMode.JOB_BASED)
    await world.services.organizations.update_team(ADMIN, team.id, TeamChanges(rpm_limit=1))
    world.clock.advance(2)
    await world.services.one_call_jobs.call(me, NewJob(job_type="x"), ASK)
    jobs_before = dict(world.store.jobs)
    with pytest.raises(RateLimitedError):
        await world.services.one_call_jobs.call(me, NewJob(job_type="x"), ASK)
    with pytest.raises(RateLimitedError):
        await world.services.openai.open_stream(me, ASK, job_id=None, new_job=NewJob(job_type="x"))
    assert world.store.jobs == jobs_before  # no job, no hold: job_based holds its credit at creation
    assert world.store.balances[team.id].held == 0


async def test_concurrent_calls_never_exceed_the_request_limit(world: World) -> None:
    _, me = await limited(world, rpm_limit=5)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    outcomes = await asyncio.gather(
        *(world.services.calls.call(me, job.id, ASK) for _ in range(12)),
        return_exceptions=True,
    )
    assert sum(not isinstance(o, BaseException) for o in outcomes) == 5
    assert all(isinstance(o, RateLimitedError) for o in outcomes if isinstance(o, BaseException))


class RaisingCounters:
    """Rate-limit counters whose every call raises ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def acquire(self, team_id: TeamId, limits: RateLimits, *, tokens: int) -> RateLimitRefusal | None:
        raise self.error

    async def add_tokens(self, team_id: TeamId, limits: RateLimits, tokens: int) -> None:
        raise self.error


async def test_a_team_without_limits_touches_no_counter(world: World) -> None:
    refusing = RaisingCounters(AssertionError("counted a team without limits"))
    team, _ = await world.team(BudgetMode.CONSUMPTION_USD)
    admission = await CallRateLimits(refusing).admit(team, ASK.messages)
    await CallRateLimits(refusing).settle(admission, TokenUsage(input=5))


async def test_unreachable_counters_let_calls_through(world: World) -> None:
    team, _ = await limited(world, rpm_limit=1)
    limits = CallRateLimits(RaisingCounters(UnavailableError("down")))
    admission = await limits.admit(team, ASK.messages)
    await limits.settle(admission, TokenUsage(input=5))


async def test_limits_are_set_cleared_and_checked_through_team_updates(world: World) -> None:
    team, _ = await world.team(BudgetMode.CONSUMPTION_USD)
    assert (team.rpm_limit, team.tpm_limit) == (None, None)
    updated = await world.services.organizations.update_team(
        ADMIN, team.id, TeamChanges(rpm_limit=60, tpm_limit=90_000)
    )
    assert (updated.rpm_limit, updated.tpm_limit, updated.version) == (60, 90_000, team.version + 1)
    renamed = await world.services.organizations.update_team(ADMIN, team.id, TeamChanges(name="renamed"))
    assert (renamed.rpm_limit, renamed.tpm_limit) == (60, 90_000)  # untouched by other changes
    cleared = await world.services.organizations.update_team(ADMIN, team.id, TeamChanges(tpm_limit=None))
    assert (cleared.rpm_limit, cleared.tpm_limit) == (60, None)
    with pytest.raises(InvalidValueError):
        await world.services.organizations.update_team(ADMIN, team.id, TeamChanges(rpm_limit=0))


async def test_an_admitted_call_carries_its_teams_windows_to_both_surfaces(world: World) -> None:
    _, me = await limited(world, rpm_limit=5, tpm_limit=1000)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    result = await world.services.calls.call(me, job.id, ASK)
    requests, tokens = result.rate_limits
    assert (requests.resource, requests.limit, requests.remaining) == (LimitedResource.REQUESTS, 5, 4)
    assert (tokens.resource, tokens.limit) == (LimitedResource.TOKENS, 1000) and tokens.remaining < 1000
    stream = await world.services.calls.open_stream(me, job.id, ASK)
    assert stream.rate_limits[0].remaining == 3
    await stream.close()
    one = await world.services.one_call_jobs.call(me, NewJob(job_type="x"), ASK)
    assert one.result.rate_limits[0].remaining == 2
    chat = await world.services.openai.open_stream(me, ASK, job_id=None, new_job=NewJob(job_type="x"))
    assert chat.rate_limits[0].remaining == 1
    await chat.close()
    done = await world.services.openai.complete(me, ASK, job_id=job.id, new_job=NewJob(job_type="x"))
    assert done.result.rate_limits[0].remaining == 0


async def test_no_windows_without_limits_or_when_they_cannot_be_read(world: World) -> None:
    _, free = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(free, job_type="doc")
    assert (await world.services.calls.call(free, job.id, ASK)).rate_limits == ()

    class Unreadable:
        async def acquire(self, team_id: TeamId, limits: RateLimits, *, tokens: int) -> RateLimitRefusal | None:
            return None

        async def add_tokens(self, team_id: TeamId, limits: RateLimits, tokens: int) -> None:
            return None

        async def windows(self, team_id: TeamId, limits: RateLimits) -> tuple[Any, ...]:
            raise UnavailableError("down")

    team, _ = await limited(world, rpm_limit=1)
    admission = await CallRateLimits(Unreadable()).admit(team, ASK.messages)
    assert admission.windows == () and admission.limits.requests_per_minute == 1  # admitted all the same
