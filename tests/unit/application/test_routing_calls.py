"""Routing inside the call service: one trial for a half-open target, cut streams count
against their target without falling back, and fallbacks an organization could use."""

import asyncio
from decimal import Decimal
from typing import Any
from uuid import uuid4

import pytest

from adapters.memory.providers import Reply
from application.errors import ProviderContentFilteredError, ProviderUnavailableError
from application.services.calls import CallFailed, CallFinished, CallRequest
from application.services.models import AliasChanges, TargetSpec
from domain.admins import AdminPrincipal, AdminRole
from domain.budgets import BudgetMode
from domain.catalog import Provider
from domain.errors import InvalidValueError
from domain.ids import AdminUserId
from domain.llm import ChatMessage, Role
from domain.pricing import PriceSheet
from tests.unit.application.conftest import World

D = Decimal
SHEET = PriceSheet(input_per_million=D(1), output_per_million=D(2))
OWNER = AdminPrincipal(user_id=AdminUserId(uuid4()), email="owner@example.com", role=AdminRole.OWNER)
ASK = CallRequest(model="duo", messages=[ChatMessage(Role.USER, "Hello")])


async def duo(world: World) -> None:
    """An alias with two targets (gpt-a first, then gpt-b) on the scripted provider."""
    await world.services.models.create_alias(
        alias="duo",
        provider=Provider.OPENAI,
        provider_model="gpt-a",
        customer_prices=SHEET,
        provider_costs=SHEET,
        access_groups=("standard",),
        targets=(TargetSpec(provider=Provider.OPENAI, provider_model="gpt-b", provider_costs=SHEET),),
    )


def models_asked(world: World) -> list[str]:
    return [target.model for target, _ in world.provider.requests]


async def drain(stream: Any) -> list[Any]:
    try:
        return [item async for item in stream.items]
    finally:
        await stream.close()


async def test_after_the_cool_down_only_one_call_tries_the_half_open_target(world: World) -> None:
    await duo(world)
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    for _ in range(3):  # three failures at gpt-a open its circuit; gpt-b serves each
        world.provider.push(ProviderUnavailableError("529"), Reply())
        await world.services.calls.call(me, job.id, ASK)
    assert models_asked(world) == ["gpt-a", "gpt-b"] * 3
    await world.services.calls.call(me, job.id, ASK)
    assert models_asked(world)[-1] == "gpt-b"  # open: skipped
    world.clock.advance(31)  # half-open
    world.provider.requests.clear()
    world.provider.push(*(Reply(delay_s=0.05) for _ in range(4)))
    streams = await asyncio.gather(*(world.services.calls.open_stream(me, job.id, ASK) for _ in range(4)))
    assert sorted(models_asked(world)) == ["gpt-a", "gpt-b", "gpt-b", "gpt-b"]  # one trial, the rest elsewhere
    for stream in streams:
        assert isinstance((await drain(stream))[-1], CallFinished)
    world.provider.requests.clear()
    await world.services.calls.call(me, job.id, ASK)
    assert models_asked(world) == ["gpt-a"]  # the trial succeeded: closed again


async def test_a_trial_ended_without_an_outcome_is_handed_back(world: World) -> None:
    await duo(world)
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    for _ in range(3):
        world.provider.push(ProviderUnavailableError("529"), Reply())
        await world.services.calls.call(me, job.id, ASK)
    world.clock.advance(31)
    world.provider.requests.clear()
    # The trial call is refused for its content (says nothing of the target's health).
    world.provider.push(ProviderContentFilteredError("no"))
    with pytest.raises(ProviderContentFilteredError):
        await world.services.calls.call(me, job.id, ASK)
    await world.services.calls.call(me, job.id, ASK)  # the next call may take the trial
    assert models_asked(world) == ["gpt-a", "gpt-a"]


async def test_a_stream_cut_after_its_first_event_counts_against_its_target_and_never_falls_back(
    world: World,
) -> None:
    await duo(world)
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    for _ in range(3):
        world.provider.push(Reply(chunks=("Hel", "lo"), fail_after=1, error=ProviderUnavailableError("reset")))
        items = await drain(await world.services.calls.open_stream(me, job.id, ASK))
        assert isinstance(items[-1], CallFailed)
    assert models_asked(world) == ["gpt-a"] * 3  # no fallback once the client had bytes
    await world.services.calls.call(me, job.id, ASK)
    assert models_asked(world)[-1] == "gpt-b"  # three cut streams opened gpt-a's circuit


async def test_a_content_filter_mid_stream_does_not_count_against_the_target(world: World) -> None:
    await duo(world)
    _, me = await world.team(BudgetMode.CONSUMPTION_USD)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    for _ in range(3):
        world.provider.push(Reply(chunks=("Hel", "lo"), fail_after=1, error=ProviderContentFilteredError("no")))
        await drain(await world.services.calls.open_stream(me, job.id, ASK))
    await world.services.calls.call(me, job.id, ASK)
    assert models_asked(world)[-1] == "gpt-a"


async def test_fallbacks_bound_to_another_organization_are_refused(world: World) -> None:
    s = world.services
    other = await s.organizations.create_organization(name="Other Corp")

    async def alias(name: str, organization: Any, fallbacks: tuple[str, ...] = ()) -> None:
        await s.models.create_alias(
            alias=name,
            provider=Provider.OPENAI,
            provider_model="gpt-test",
            customer_prices=SHEET,
            provider_costs=SHEET,
            organization_id=organization,
            fallbacks=fallbacks,
            actor=OWNER,
        )

    await alias("theirs", other.id)
    await alias("ours", world.organization.id)
    with pytest.raises(InvalidValueError, match="another organization"):
        await alias("mine", world.organization.id, fallbacks=("theirs",))
    assert await s.models.get_alias("mine") is None
    with pytest.raises(InvalidValueError, match="another organization"):
        await s.models.update_alias(OWNER, "ours", AliasChanges(fallbacks=("smart", "theirs")))
    assert (await s.models.get_alias("ours")).fallbacks == ()  # type: ignore[union-attr]
    # What the organization may use is fine: platform-wide aliases and its own.
    await s.models.update_alias(OWNER, "ours", AliasChanges(fallbacks=("smart",)))
    await alias("also-ours", world.organization.id, fallbacks=("ours", "smart"))
    # A platform-wide alias may fall back to one organization's (that organization's teams use it).
    await s.models.update_alias(OWNER, "smart", AliasChanges(fallbacks=("theirs",)))
