"""Organizations, teams, virtual keys, aliases, access groups and credentials."""

from uuid import uuid4

import msgspec
import pytest

from application.errors import ConflictError
from application.ports.repositories import ApiKey, StoredCredential, TeamPatch
from domain.access import AccessGroup, ModelAlias
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.ids import ApiKeyId, CredentialId, OrganizationId, TeamId
from domain.ledger import EntryType, NewEntry
from domain.organizations import Organization, TeamStatus
from domain.pricing import PriceSheet
from domain.routing import AliasTarget, RoutingStrategy
from domain.secrets import digest_key
from tests.contract.conftest import T0, D, UowFactory, at, make_org, make_team
from tests.support.entities import new_team

CUSTOMER = PriceSheet(input_per_million=D("2.5"), output_per_million=D("10"), cached_input_per_million=D("1.25"))
PROVIDER = PriceSheet(
    input_per_million=D("1"),
    output_per_million=D("4"),
    cache_write_per_million=D("1.25"),
    reasoning_per_million=D("4.000000001"),
)


async def test_organization_round_trips_and_unknown_is_none(uow: UowFactory) -> None:
    org = await make_org(uow, slug="acme")
    async with uow() as u:
        assert await u.organizations.get(org.id) == org
        assert await u.organizations.get(OrganizationId(uuid4())) is None


async def test_taken_slug_is_a_conflict(uow: UowFactory) -> None:
    await make_org(uow, slug="acme")
    other = Organization(id=OrganizationId(uuid4()), name="Other", slug="acme", created_at=T0)
    async with uow() as u:
        with pytest.raises(ConflictError):
            await u.organizations.add(other)


async def test_team_round_trips_with_budget_and_ordered_groups(uow: UowFactory) -> None:
    async with uow() as u:
        for name in ("zeta", "alpha", "mid"):
            await u.access_groups.add(AccessGroup(name=name))
        await u.commit()
    team = await make_team(uow, groups=("zeta", "alpha"), mode=BudgetMode.CONSUMPTION_TOKENS)
    async with uow() as u:
        assert await u.teams.get(team.id) == team
        assert await u.teams.get(TeamId(uuid4())) is None
    changed = msgspec.structs.replace(
        team,
        name="Renamed",
        status=TeamStatus.SUSPENDED,
        budget=BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD, credits_per_usd=D("12.5"), tokens_per_credit=500),
        access_groups=("mid", "zeta"),
        version=2,
    )
    patch = TeamPatch(
        name="Renamed",
        status=TeamStatus.SUSPENDED,
        budget_mode=BudgetMode.CONSUMPTION_USD,
        credits_per_usd=D("12.5"),
        tokens_per_credit=500,
        access_groups=("mid", "zeta"),
    )
    async with uow() as u:
        assert await u.teams.update(team.id, patch, expected_version=2) is None
        assert await u.teams.update(team.id, patch, expected_version=1) == changed
        await u.commit()
    async with uow() as u:
        assert await u.teams.get(team.id) == changed


async def test_a_team_update_writes_only_its_fields_and_credit_movements_keep_the_version(uow: UowFactory) -> None:
    team = await make_team(uow)
    async with uow() as u:
        await u.teams.update(team.id, TeamPatch(status=TeamStatus.SUSPENDED), expected_version=None)
        await u.credits.apply(NewEntry(team.id, EntryType.ALLOCATION, D(5), created_at=at(1)))
        renamed = await u.teams.update(team.id, TeamPatch(name="Renamed"), expected_version=None)
        await u.commit()
    assert renamed == msgspec.structs.replace(team, name="Renamed", status=TeamStatus.SUSPENDED, version=3)
    async with uow() as u:
        assert await u.teams.update(team.id, TeamPatch(), expected_version=3) == renamed
        assert await u.teams.update(TeamId(uuid4()), TeamPatch(name="x"), expected_version=None) is None


async def test_keys_are_found_by_digest_until_revoked(uow: UowFactory) -> None:
    team = await make_team(uow)
    first = ApiKey(
        id=ApiKeyId(uuid4()),
        team_id=team.id,
        organization_id=team.organization_id,
        prefix="sk-job-aaaa",
        digest=digest_key("sk-job-aaaa-secret"),
        created_at=at(0),
    )
    second = msgspec.structs.replace(first, id=ApiKeyId(uuid4()), digest=digest_key("other"), created_at=at(1))
    async with uow() as u:
        await u.api_keys.add(first)
        await u.api_keys.add(second)
        await u.commit()
    async with uow() as u:
        assert await u.api_keys.find_active(digest_key("sk-job-aaaa-secret")) == first
        assert await u.api_keys.find_active(digest_key("unknown")) is None
        assert await u.api_keys.revoke(first.id, at(5)) is True
        assert await u.api_keys.revoke(first.id, at(6)) is False
        assert await u.api_keys.revoke(ApiKeyId(uuid4()), at(6)) is False
        await u.commit()
    async with uow() as u:
        assert await u.api_keys.find_active(first.digest) is None
        keys = await u.api_keys.list_for_team(team.id)
    assert keys == [msgspec.structs.replace(first, revoked_at=at(5)), second]


def alias(name: str, groups: tuple[str, ...] = (), **changes: object) -> ModelAlias:
    fields: dict[str, object] = {
        "alias": name,
        "provider": Provider.ANTHROPIC,
        "provider_model": "claude-test",
        "customer_prices": CUSTOMER,
        "provider_costs": PROVIDER,
        "default_max_tokens": 256,
        "access_groups": groups,
    }
    fields.update(changes)
    return ModelAlias(**fields)  # type: ignore[arg-type]


async def test_alias_round_trips_exact_prices_and_creates_its_groups(uow: UowFactory) -> None:
    org = await make_org(uow)
    second = AliasTarget(
        provider=Provider.OPENAI,
        provider_model="gpt-second",
        customer_prices=PriceSheet(input_per_million=D("0.000000001"), output_per_million=D("7")),
        provider_costs=PriceSheet(
            input_per_million=D("1.5"), output_per_million=D("6"), cached_input_per_million=D("0.15")
        ),
    )
    cheap = alias("cheap", ("standard",), targets=(second,))
    smart = alias(
        "smart",
        ("standard", "beta"),
        fallbacks=("cheap",),
        organization_id=org.id,
        targets=(msgspec.structs.replace(second, provider_model="gpt-third"),),
        routing=RoutingStrategy.CHEAPEST,
        cache_ttl_s=60,
        cached_response_price_factor=D("0.25"),
    )
    async with uow() as u:
        await u.aliases.add(cheap)
        await u.aliases.add(smart)
        await u.commit()
    async with uow() as u:
        found = await u.aliases.get("smart")
        # The fallback's targets come with the alias: its primary, then its own targets.
        assert found == msgspec.structs.replace(
            smart, access_groups=("beta", "standard"), fallback_targets=cheap.own_targets
        )
        assert found is not None and found.provider_costs.reasoning_per_million == D("4.000000001")
        assert await u.aliases.get("nope") is None
        assert [a.alias for a in await u.aliases.list()] == ["cheap", "smart"]
        # "smart" joined a group that existed: the group changed (version 2).
        assert await u.access_groups.get("standard") == AccessGroup(
            name="standard", models=("cheap", "smart"), version=2
        )


async def test_duplicate_alias_and_group_are_conflicts(uow: UowFactory) -> None:
    async with uow() as u:
        await u.aliases.add(alias("smart"))
        await u.access_groups.add(AccessGroup(name="team-a", models=("smart",)))
        await u.commit()
    async with uow() as u:
        with pytest.raises(ConflictError):
            await u.aliases.add(alias("smart"))
    async with uow() as u:
        with pytest.raises(ConflictError):
            await u.access_groups.add(AccessGroup(name="team-a"))
    async with uow() as u:
        assert await u.access_groups.get("team-a") == AccessGroup(name="team-a", models=("smart",))
        assert await u.access_groups.get("missing") is None


async def test_active_credential_is_the_newest_active_one(uow: UowFactory) -> None:
    org = await make_org(uow)

    def credential(minute: int, *, active: bool = True, provider: Provider = Provider.OPENAI) -> StoredCredential:
        return StoredCredential(
            id=CredentialId(uuid4()),
            organization_id=org.id,
            provider=provider,
            name=f"key-{minute}",
            encrypted_key="gAAAA-token",
            key_hint="sk-…abcd",
            is_active=active,
            created_at=at(minute),
            api_base="http://127.0.0.1:9999/v1" if minute == 1 else None,
        )

    old, newest_active, inactive = credential(0), credential(1), credential(2, active=False)
    async with uow() as u:
        for c in (old, newest_active, inactive, credential(3, provider=Provider.GEMINI)):
            await u.credentials.add(c)
        await u.commit()
    async with uow() as u:
        assert await u.credentials.active_for(org.id, Provider.OPENAI) == newest_active
        assert await u.credentials.active_for(org.id, Provider.ANTHROPIC) is None
        assert await u.credentials.active_for(OrganizationId(uuid4()), Provider.OPENAI) is None


async def test_team_rate_limits_round_trip_and_clear(uow: UowFactory) -> None:
    team = await make_team(uow)
    assert (team.rpm_limit, team.tpm_limit) == (None, None)
    async with uow() as u:
        limited = await u.teams.update(team.id, TeamPatch(rpm_limit=60, tpm_limit=90_000), expected_version=None)
        await u.commit()
    assert limited == msgspec.structs.replace(team, rpm_limit=60, tpm_limit=90_000, version=2)
    async with uow() as u:
        assert await u.teams.get(team.id) == limited
        renamed = await u.teams.update(team.id, TeamPatch(name="Renamed"), expected_version=None)
        assert renamed is not None and (renamed.rpm_limit, renamed.tpm_limit) == (60, 90_000)
        cleared = await u.teams.update(team.id, TeamPatch(rpm_limit=None), expected_version=None)
        await u.commit()
    assert cleared is not None and (cleared.rpm_limit, cleared.tpm_limit) == (None, 90_000)
    async with uow() as u:
        assert await u.teams.get(team.id) == cleared


async def test_a_team_created_with_rate_limits_keeps_them(uow: UowFactory) -> None:
    org = await make_org(uow)
    team = new_team(
        org.id, mode=BudgetMode.JOB_BASED, name="Limited", created_at=T0, rpm_limit=5, tpm_limit=3_000_000_000 // 3
    )
    async with uow() as u:
        await u.teams.add(team)
        await u.commit()
    async with uow() as u:
        assert await u.teams.get(team.id) == team
