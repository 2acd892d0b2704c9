"""Admin use cases on fakes: roles and organization scope, the audit trail, webhook events."""

from decimal import Decimal
from uuid import uuid4

import msgspec
import pytest

from adapters.memory.providers import Reply
from adapters.vault.fernet import FernetVault
from application.errors import ConflictError, NotFoundError
from application.ports.admin import Webhook
from application.services.credentials import CredentialChanges, CredentialService
from application.services.models import AliasChanges, CostOverrides
from application.services.organizations import TeamChanges
from domain.admins import AdminPrincipal, AdminRole, ForbiddenError
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.errors import InvalidValueError
from domain.ids import AdminUserId
from domain.jobs import JobStatus
from domain.organizations import Organization, TeamStatus
from domain.pricing import PriceSheet
from domain.usage import TokenUsage
from tests.support.seeding import CUSTOMER
from tests.unit.application.conftest import World
from tests.unit.application.test_client_flow import ask

D = Decimal
PROVIDER_KEY = "sk-provider-very-secret-0042"


def principal(role: AdminRole, organization: Organization | None = None) -> AdminPrincipal:
    return AdminPrincipal(
        user_id=AdminUserId(uuid4()),
        email=f"{role}@example.com",
        role=role,
        organization_id=organization.id if organization else None,
    )


OWNER = principal(AdminRole.OWNER)
VIEWER = principal(AdminRole.VIEWER)


async def subscribe(world: World, organization: Organization, *events: str) -> None:
    hook = Webhook(
        id=uuid4(),
        organization_id=organization.id,
        url="https://receiver.example/hook",
        events=events,
        secret="whsec_test",
        created_at=world.clock.now(),
    )
    async with world.services.webhooks._uow() as uow:
        await uow.webhooks.add(hook)
        await uow.commit()


def events(world: World) -> list[tuple[str, dict[str, object]]]:
    return [(d.event, d.payload) for d in world.store.deliveries.values()]


async def test_every_admin_write_is_audited_with_its_actor_and_no_secret(world: World) -> None:
    s, me = world.services, OWNER
    org = await s.organizations.create_organization(name="Beta Corp", actor=me)
    await s.organizations.update_organization(me, org.id, name="Beta Inc")
    team, key = await s.organizations.create_team(
        organization_id=org.id, name="t", budget=BudgetPolicy(mode=BudgetMode.JOB_BASED), credits=D(5), actor=me
    )
    await s.organizations.update_team(me, team.id, TeamChanges(name="renamed", credits_per_usd=D("12.5")))
    await s.credits.adjust(me, team.id, D("2.5"), reason="top-up", idempotency_key="inv-1")
    await s.credits.adjust(me, team.id, D("2.5"), reason="top-up", idempotency_key="inv-1")  # replay: no entry
    await s.organizations.set_status(team.id, TeamStatus.SUSPENDED, actor=me)
    await s.organizations.set_status(team.id, TeamStatus.ACTIVE, actor=me)
    second = await s.organizations.issue_key(team.id, actor=me)
    await s.organizations.revoke_key(me, team.id, second.key_id)
    await s.models.create_alias(
        alias="fast", provider=Provider.OPENAI, provider_model="gpt-x", customer_prices=CUSTOMER,
        cost_overrides=CostOverrides(input_per_million=D(1), output_per_million=D(2)), actor=me,
    )  # fmt: skip
    await s.models.update_alias(me, "fast", AliasChanges(output_price_per_million=D(9)))
    await s.models.create_access_group(name="beta", models=("fast",), actor=me)
    await s.models.update_access_group(me, "beta", ("fast", "smart"))
    credential = await s.credentials.add_credential(
        organization_id=org.id, provider=Provider.OPENAI, name="main", api_key=PROVIDER_KEY, actor=me
    )
    await s.credentials.update_credential(me, credential.id, CredentialChanges(api_key=PROVIDER_KEY + "-v2"))
    await s.credentials.set_active(me, credential.id, False)
    await s.credentials.set_active(me, credential.id, True)
    await s.credentials.delete_credential(me, credential.id)
    await s.models.delete_access_group(me, "beta")
    await s.models.delete_alias(me, "fast")
    empty = await s.organizations.create_organization(name="Empty", actor=me)
    await s.organizations.delete_organization(me, empty.id)

    mine = [e for e in world.store.audit if e.actor_id == me.user_id]
    assert [e.action for e in mine] == [
        "organization.create",
        "organization.update",
        "team.create",
        "team.update",
        "team.credits.allocation",
        "team.suspend",
        "team.resume",
        "team.key.create",
        "team.key.revoke",
        "model.create",
        "model.update",
        "model_access_group.create",
        "model_access_group.update",
        "credential.create",
        "credential.update",
        "credential.deactivate",
        "credential.activate",
        "credential.delete",
        "model_access_group.delete",
        "model.delete",
        "organization.create",
        "organization.delete",
    ]
    assert all(e.actor_email == me.email for e in mine)
    by_action = {e.action: e for e in mine}
    assert by_action["organization.update"].before == {"name": "Beta Corp", "slug": "beta-corp"}
    assert by_action["organization.update"].after == {"name": "Beta Inc", "slug": "beta-corp"}
    assert by_action["team.update"].after is not None and by_action["team.update"].after["credits_per_usd"] == "12.5"
    assert by_action["credential.update"].after is not None
    assert by_action["credential.update"].after["api_key"] == "[redacted]"
    assert by_action["credential.update"].after["key_hint"] == "sk-…2-v2"
    assert by_action["model.update"].after is not None
    assert by_action["model.update"].after["customer_prices"]["output_per_million"] == "9"
    trail = repr(world.store.audit)
    assert PROVIDER_KEY not in trail and key.api_key not in trail and second.api_key not in trail
    assert "gAAAA" not in trail  # not even the ciphertext


async def test_viewers_read_but_never_write(world: World) -> None:
    s, org = world.services, world.organization
    team, _ = await world.team(BudgetMode.JOB_BASED)
    assert (await s.organizations.get_team(VIEWER, team.id)).id == team.id
    assert [a.alias for a in await s.models.list_aliases(actor=VIEWER)] == ["premium", "smart"]
    writes = [
        s.organizations.create_organization(name="x", actor=VIEWER),
        s.organizations.update_organization(VIEWER, org.id, name="x"),
        s.organizations.delete_organization(VIEWER, org.id),
        s.organizations.create_team(
            organization_id=org.id, name="x", budget=BudgetPolicy(mode=BudgetMode.JOB_BASED), actor=VIEWER
        ),
        s.organizations.update_team(VIEWER, team.id, TeamChanges(name="x")),
        s.organizations.set_status(team.id, TeamStatus.SUSPENDED, actor=VIEWER),
        s.organizations.issue_key(team.id, actor=VIEWER),
        s.credits.adjust(VIEWER, team.id, D(1), reason=None, idempotency_key=None),
        s.models.update_alias(VIEWER, "smart", AliasChanges(default_max_tokens=5)),
        s.models.create_access_group(name="x", actor=VIEWER),
        s.credentials.add_credential(
            organization_id=org.id, provider=Provider.OPENAI, name="x", api_key="sk-x-123456789", actor=VIEWER
        ),
    ]
    for write in writes:
        with pytest.raises(ForbiddenError):
            await write
    assert not [e for e in world.store.audit if e.actor_id == VIEWER.user_id]


async def test_a_scoped_admin_sees_its_organization_only_and_no_platform_config(world: World) -> None:
    s = world.services
    other = await s.organizations.create_organization(name="Other")
    theirs, _ = await s.organizations.create_team(
        organization_id=other.id, name="theirs", budget=BudgetPolicy(mode=BudgetMode.JOB_BASED)
    )
    mine, _ = await world.team(BudgetMode.JOB_BASED)
    scoped = principal(AdminRole.ADMIN, world.organization)
    assert [o.id for o in await s.organizations.list_organizations(scoped)] == [world.organization.id]
    assert [t.id for t in await s.organizations.list_teams(scoped)] == [mine.id]
    hidden = [
        s.organizations.get_organization(scoped, other.id),
        s.organizations.get_team(scoped, theirs.id),
        s.organizations.update_team(scoped, theirs.id, TeamChanges(name="x")),
        s.organizations.list_teams(scoped, organization_id=other.id),
        s.credits.adjust(scoped, theirs.id, D(1), reason=None, idempotency_key=None),
        s.credentials.list_credentials(scoped, other.id),
        s.usage.organization_usage(scoped, other.id, first_day=world.clock.now().date(),
                                   last_day=world.clock.now().date()),
        s.jobs.search_jobs(scoped, team_id=theirs.id),
    ]  # fmt: skip
    for read in hidden:
        with pytest.raises(NotFoundError) as caught:
            await read
        assert caught.value.detail in {"organization not found", "team not found"}
    # Platform-wide configuration: readable, not writable; its own organization stays.
    assert await s.models.get_alias("smart", actor=scoped) is not None
    for write in (
        s.models.update_alias(scoped, "smart", AliasChanges(default_max_tokens=5)),
        s.models.create_access_group(name="x", actor=scoped),
        s.organizations.create_organization(name="mine now", actor=scoped),
        s.organizations.delete_organization(scoped, world.organization.id),
    ):
        with pytest.raises(ForbiddenError):
            await write
    assert (await s.organizations.update_team(scoped, mine.id, TeamChanges(name="ok"))).name == "ok"


async def test_alias_costs_follow_the_catalog_or_the_overrides_and_unknown_models_need_costs(world: World) -> None:
    s = world.services
    with pytest.raises(InvalidValueError):
        await s.models.create_alias(
            alias="mystery", provider=Provider.OPENAI, provider_model="gpt-unknown", customer_prices=CUSTOMER,
            cost_overrides=CostOverrides(input_per_million=D(1)), actor=OWNER,
        )  # fmt: skip
    with pytest.raises(InvalidValueError):  # fallbacks name existing aliases
        await s.models.update_alias(OWNER, "smart", AliasChanges(fallbacks=("nope",)))
    changed = await s.models.update_alias(
        OWNER, "smart", AliasChanges(provider_output_cost_per_million=D("4.5"), fallbacks=("premium",))
    )
    assert changed.provider_costs == PriceSheet(input_per_million=D(1), output_per_million=D("4.5"))
    with pytest.raises(ConflictError):  # "smart" falls back to it
        await s.models.delete_alias(OWNER, "premium")
    with pytest.raises(InvalidValueError):  # moved to a model the catalog does not know, without costs
        await s.models.update_alias(OWNER, "smart", AliasChanges(provider_model="gpt-other"))


async def test_an_organization_with_teams_cannot_be_deleted(world: World) -> None:
    await world.team(BudgetMode.JOB_BASED)
    with pytest.raises(ConflictError):
        await world.services.organizations.delete_organization(OWNER, world.organization.id)


async def test_job_completion_queues_job_completed_in_its_transaction_once(world: World) -> None:
    await subscribe(world, world.organization, "job.completed")
    team, me = await world.team(BudgetMode.CONSUMPTION_USD)
    world.provider.push(Reply(usage=TokenUsage(input=1000, output=500)))
    job, _ = await world.services.jobs.create_job(me, job_type="doc", external_id="ext-1")
    await world.services.calls.call(me, job.id, ask())
    assert events(world) == []  # nothing before completion, nothing per call
    done = await world.services.jobs.complete_job(me, job.id)
    await world.services.jobs.complete_job(me, job.id)  # idempotent: no second event
    [(event, payload)] = events(world)
    assert event == "job.completed"
    assert payload["job_id"] == str(job.id) and payload["team_id"] == str(team.id)
    assert payload["status"] == "completed" and payload["external_id"] == "ext-1"
    assert done.credits_deducted == D("0.06") and payload["credits_deducted"] == "0.06"
    assert payload["costs"] == {
        "total_calls": 1,
        "successful_calls": 1,
        "failed_calls": 0,
        "input_tokens": 1000,
        "output_tokens": 500,
        "total_tokens": 1500,
        "provider_cost_usd": "0.003",
        "customer_cost_usd": "0.006",
        "margin_usd": "0.003",
    }


async def test_credits_low_is_sent_once_per_crossing_at_completion_and_adjustment(world: World) -> None:
    await subscribe(world, world.organization, "team.credits_low")
    s = world.services
    team, me = await world.team(BudgetMode.JOB_BASED, credits=D(10))
    for _ in range(9):  # 10 → 1 available: 1 is not below 10 % of 10
        job, _ = await s.jobs.create_job(me, job_type="doc")
        await s.jobs.complete_job(me, job.id)
    assert events(world) == []
    job, _ = await s.jobs.create_job(me, job_type="doc")
    await s.jobs.complete_job(me, job.id)  # 0 left: below the threshold
    [(event, payload)] = events(world)
    assert event == "team.credits_low"
    assert (payload["team_id"], payload["remaining"], payload["threshold"]) == (str(team.id), "0", "1")
    await s.credits.adjust(OWNER, team.id, D("0.5"), reason=None, idempotency_key=None)  # still low: no repeat
    assert len(events(world)) == 1
    await s.credits.adjust(OWNER, team.id, D(100), reason=None, idempotency_key=None)  # lifted: flag lowered
    await s.credits.adjust(OWNER, team.id, D(-100), reason=None, idempotency_key=None)  # falls again
    assert [e for e, _ in events(world)] == ["team.credits_low", "team.credits_low"]


async def test_rotation_moves_every_credential_to_the_newest_key(world: World) -> None:
    old, new = FernetVault.generate_key(), FernetVault.generate_key()

    def service(*keys: str) -> CredentialService:
        return CredentialService(
            uow=world.services.credentials._uow,
            vault=FernetVault(list(keys)),
            clock=world.clock,
            ids=world.services.organizations._ids,
        )

    world.store.credentials.clear()  # the world's own was written under yet another key
    stored = await service(old).add_credential(
        organization_id=world.organization.id, provider=Provider.OPENAI, name="k1", api_key=PROVIDER_KEY
    )
    both = service(new, old)
    keys = await both.stored_keys(world.organization.id)
    assert (Provider.OPENAI, PROVIDER_KEY, None) in keys  # written under key 1, read with key 2 added
    result = await both.rotate_keys()
    assert (result.rotated, result.current, result.skipped) == (1, 0, 0)
    assert (await both.rotate_keys()).rotated == 0  # idempotent
    assert (Provider.OPENAI, PROVIDER_KEY, None) in await service(new).stored_keys(world.organization.id)
    assert world.store.credentials[stored.id].encrypted_key != stored.encrypted_key


async def test_an_admin_reads_a_job_of_its_organization_and_its_usage(world: World) -> None:
    team, me = await world.team(BudgetMode.JOB_BASED)
    job, _ = await world.services.jobs.create_job(me, job_type="doc")
    await world.services.jobs.complete_job(me, job.id, status=JobStatus.FAILED)
    scoped = principal(AdminRole.VIEWER, world.organization)
    assert (await world.services.jobs.get_job(scoped, job.id)).job.id == job.id
    today = world.clock.now().date()
    usage = await world.services.usage.team_usage(scoped, team.id, first_day=today, last_day=today)
    assert usage.report.jobs_failed == 1
    outsider = principal(AdminRole.OWNER, await world.services.organizations.create_organization(name="Else"))
    with pytest.raises(NotFoundError):
        await world.services.jobs.get_job(outsider, job.id)
    overview = await world.services.usage.overview(OWNER, organization_id=None, first_day=today, last_day=today)
    assert overview.jobs_failed == 1
    assert msgspec.structs.asdict(overview)["jobs_total"] == 1
