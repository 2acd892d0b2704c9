"""Repository methods behind the admin API: listing, updating and deleting tenants,
aliases, groups and credentials; the admin job search; the credits-low flag."""

from uuid import uuid4

import msgspec
import pytest

from application.errors import ConflictError, NotFoundError
from application.ports.admin import Webhook
from application.ports.repositories import (
    AliasPatch,
    CredentialPatch,
    OrganizationPatch,
    PricePatch,
    StoredCredential,
)
from domain.access import AccessGroup
from domain.admins import AdminRole, AdminUser
from domain.catalog import Provider
from domain.ids import AdminUserId, CredentialId, JobId, OrganizationId
from domain.jobs import JobStatus
from domain.organizations import Organization
from domain.pricing import PriceSheet
from tests.contract.conftest import D, UowFactory, at, finish_job, make_job, make_org, make_team
from tests.contract.test_tenants import alias


async def test_organizations_list_oldest_first_with_scope_and_keyset(uow: UowFactory) -> None:
    orgs = []
    for i in range(3):
        org = Organization(id=OrganizationId(uuid4()), name=f"Org {i}", slug=f"org-{i}", created_at=at(i))
        orgs.append(org)
    async with uow() as u:
        for org in reversed(orgs):
            await u.organizations.add(org)
        await u.commit()
    async with uow() as u:
        assert await u.organizations.list(only=None, after=None, limit=10) == orgs
        assert await u.organizations.list(only=None, after=None, limit=2) == orgs[:2]
        assert await u.organizations.list(only=None, after=(orgs[0].created_at, orgs[0].id), limit=5) == orgs[1:]
        assert await u.organizations.list(only=orgs[1].id, after=None, limit=5) == [orgs[1]]
        assert await u.organizations.list(only=OrganizationId(uuid4()), after=None, limit=5) == []


async def test_organization_update_keeps_slugs_unique(uow: UowFactory) -> None:
    first, second = await make_org(uow, slug="first"), await make_org(uow, slug="second")
    renamed = msgspec.structs.replace(first, name="Renamed", slug="renamed", version=2)
    async with uow() as u:
        patch = OrganizationPatch(name="Renamed", slug="renamed")
        assert await u.organizations.update(first.id, patch, expected_version=None) == renamed
        await u.commit()
    async with uow() as u:
        assert await u.organizations.get(first.id) == renamed
        with pytest.raises(ConflictError):
            await u.organizations.update(second.id, OrganizationPatch(slug="renamed"), expected_version=None)


async def test_an_update_writes_only_given_fields_and_only_from_the_expected_version(uow: UowFactory) -> None:
    org = await make_org(uow, slug="acme")
    async with uow() as u:
        assert await u.organizations.update(org.id, OrganizationPatch(name="B"), expected_version=2) is None
        renamed = await u.organizations.update(org.id, OrganizationPatch(name="B"), expected_version=1)
        assert renamed == msgspec.structs.replace(org, name="B", version=2)  # the slug untouched
        assert await u.organizations.update(org.id, OrganizationPatch(), expected_version=2) == renamed
        assert await u.organizations.update(org.id, OrganizationPatch(), expected_version=1) is None
        unknown = OrganizationId(uuid4())
        assert await u.organizations.update(unknown, OrganizationPatch(name="x"), expected_version=None) is None


async def test_deleting_an_organization_takes_its_credentials_webhooks_and_scoped_admins(uow: UowFactory) -> None:
    org, other = await make_org(uow), await make_org(uow)
    mine = credential(org.id, 0)
    theirs = credential(other.id, 1)
    scoped = AdminUser(
        id=AdminUserId(uuid4()),
        email="scoped@example.com",
        password_hash="$argon2id$fake",
        role=AdminRole.ADMIN,
        created_at=at(0),
        organization_id=org.id,
    )
    hook = Webhook(id=uuid4(), organization_id=org.id, url="https://x.test/h", events=("job.completed",),
                   secret="whsec_x", created_at=at(0))  # fmt: skip
    async with uow() as u:
        await u.credentials.add(mine)
        await u.credentials.add(theirs)
        await u.admin_users.add(scoped)
        await u.webhooks.add(hook)
        await u.commit()
    async with uow() as u:
        assert await u.organizations.delete(org.id) is True
        assert await u.organizations.delete(org.id) is False
        await u.commit()
    async with uow() as u:
        assert await u.organizations.get(org.id) is None
        assert await u.credentials.get(mine.id) is None
        assert await u.credentials.get(theirs.id) == theirs
        assert await u.admin_users.get(scoped.id) is None
        assert await u.webhooks.list_for_organization(org.id) == []


async def test_teams_list_by_organization_oldest_first(uow: UowFactory) -> None:
    org, other = await make_org(uow), await make_org(uow)
    first = await make_team(uow, org=org)
    theirs = await make_team(uow, org=other)
    second = msgspec.structs.replace(first, id=uuid4(), created_at=at(5), name="Second")
    async with uow() as u:
        await u.teams.add(second)  # type: ignore[arg-type]
        await u.commit()
    async with uow() as u:
        mine = await u.teams.list(organization_id=org.id, after=None, limit=10)
        everyone = await u.teams.list(organization_id=None, after=None, limit=10)
        page = await u.teams.list(organization_id=org.id, after=(first.created_at, first.id), limit=10)
    assert [t.id for t in mine] == [first.id, second.id]
    assert {t.id for t in everyone} == {first.id, second.id, theirs.id}
    assert [t.id for t in page] == [second.id]


async def test_credits_low_flag_is_raised_once_until_cleared(uow: UowFactory) -> None:
    team = await make_team(uow)
    async with uow() as u:
        assert await u.teams.flag_credits_low(team.id, at(1)) is True
        assert await u.teams.flag_credits_low(team.id, at(2)) is False
        await u.commit()
    async with uow() as u:
        assert await u.teams.flag_credits_low(team.id, at(3)) is False
        assert await u.teams.clear_credits_low(team.id) is True
        assert await u.teams.clear_credits_low(team.id) is False
        assert await u.teams.flag_credits_low(team.id, at(4)) is True


async def test_alias_update_replaces_config_and_groups_and_delete_detaches(uow: UowFactory) -> None:
    async with uow() as u:
        await u.aliases.add(alias("smart", ("standard", "beta")))
        await u.aliases.add(alias("cheap", ("standard",)))
        await u.commit()
    changed = alias(
        "smart",
        ("premium", "standard"),
        provider=Provider.OPENAI,
        provider_model="gpt-x",
        customer_prices=PriceSheet(input_per_million=D("3"), output_per_million=D("12.5")),
        default_max_tokens=1000,
        fallbacks=("cheap",),
        version=2,
        # read with the alias: its fallback's targets (the fallback's primary here)
        fallback_targets=alias("cheap", ("standard",)).own_targets,
    )
    patch = AliasPatch(
        provider=Provider.OPENAI,
        provider_model="gpt-x",
        default_max_tokens=1000,
        fallbacks=("cheap",),
        access_groups=("premium", "standard"),
        customer_prices=PricePatch(
            input_per_million=D("3"),
            output_per_million=D("12.5"),
            cached_input_per_million=None,
            cache_write_per_million=None,
            reasoning_per_million=None,
        ),
    )
    async with uow() as u:
        assert await u.aliases.update("smart", patch, expected_version=2) is None
        assert await u.aliases.update("smart", patch, expected_version=1) == changed
        await u.commit()
    async with uow() as u:
        assert await u.aliases.get("smart") == changed
        # Groups it left or joined changed too; the one it stayed in did not (it is at 2 since
        # "cheap" joined it).
        assert await u.access_groups.get("beta") == AccessGroup(name="beta", models=(), version=2)
        assert await u.access_groups.get("premium") == AccessGroup(name="premium", models=("smart",))
        assert (await u.access_groups.get("standard")) == AccessGroup(
            name="standard", models=("cheap", "smart"), version=2
        )
        assert await u.aliases.delete("smart") is True
        assert await u.aliases.delete("smart") is False
        await u.commit()
    async with uow() as u:
        assert await u.aliases.get("smart") is None
        assert await u.access_groups.get("standard") == AccessGroup(name="standard", models=("cheap",), version=3)


async def test_groups_list_set_models_and_delete_detaches_teams(uow: UowFactory) -> None:
    async with uow() as u:
        await u.aliases.add(alias("a", ("g1",)))
        await u.aliases.add(alias("b"))
        await u.access_groups.add(AccessGroup(name="g2", models=("b",)))
        await u.commit()
    team = await make_team(uow, groups=("g1", "g2"))
    async with uow() as u:
        assert await u.access_groups.list() == [
            AccessGroup(name="g1", models=("a",)),
            AccessGroup(name="g2", models=("b",)),
        ]
        assert await u.access_groups.set_models("g1", ("b", "a"), expected_version=7) is None
        assert await u.access_groups.set_models("g1", ("b", "a"), expected_version=1) == AccessGroup(
            name="g1", models=("a", "b"), version=2
        )
        await u.access_groups.set_models("g2", (), expected_version=None)
        await u.commit()
    async with uow() as u:
        assert await u.access_groups.list() == [
            AccessGroup(name="g1", models=("a", "b"), version=2),
            AccessGroup(name="g2", version=2),
        ]
        joined, left = await u.aliases.get("a"), await u.aliases.get("b")
        assert joined is not None and joined.version == 1  # was in g1 already
        assert left is not None and left.version == 4  # put in g2 when g2 was made, then joined g1, left g2
        with pytest.raises(NotFoundError):
            await u.access_groups.set_models("g1", ("missing",), expected_version=None)
    async with uow() as u:
        assert await u.access_groups.delete("g1") is True
        assert await u.access_groups.delete("g1") is False
        await u.commit()
    async with uow() as u:
        found = await u.teams.get(team.id)
        groups = await u.aliases.get("a")
    assert found is not None and found.access_groups == ("g2",) and found.version == team.version + 1
    assert groups is not None and groups.access_groups == () and groups.version == 2


def credential(org_id: OrganizationId, minute: int, *, key: str = "gAAAA-old") -> StoredCredential:
    return StoredCredential(
        id=CredentialId(uuid4()),
        organization_id=org_id,
        provider=Provider.OPENAI,
        name=f"key-{minute}",
        encrypted_key=key,
        key_hint="sk-…abcd",
        is_active=True,
        created_at=at(minute),
    )


async def test_credentials_get_list_update_delete(uow: UowFactory) -> None:
    org, other = await make_org(uow), await make_org(uow)
    first, second, theirs = credential(org.id, 0), credential(org.id, 1), credential(other.id, 2)
    async with uow() as u:
        for c in (second, first, theirs):
            await u.credentials.add(c)
        await u.commit()
    changed = msgspec.structs.replace(
        first,
        name="renamed",
        is_active=False,
        encrypted_key="gAAAA-new",
        key_hint="sk-…wxyz",
        api_base="https://x.test",
        version=2,
    )
    async with uow() as u:
        assert await u.credentials.get(first.id) == first
        assert await u.credentials.get(CredentialId(uuid4())) is None
        assert await u.credentials.list_for_organization(org.id) == [first, second]
        patch = CredentialPatch(
            name="renamed", is_active=False, encrypted_key="gAAAA-new", key_hint="sk-…wxyz", api_base="https://x.test"
        )
        assert await u.credentials.update(first.id, patch, expected_version=2) is None
        assert await u.credentials.update(first.id, patch, expected_version=1) == changed
        renamed = await u.credentials.update(second.id, CredentialPatch(name="other"), expected_version=None)
        assert renamed == msgspec.structs.replace(second, name="other", version=2)  # the ciphertext untouched
        await u.commit()
    async with uow() as u:
        assert await u.credentials.get(first.id) == changed
        assert await u.credentials.active_for(org.id, Provider.OPENAI) == renamed
        assert await u.credentials.delete(second.id) is True
        assert await u.credentials.delete(second.id) is False
        await u.commit()
    async with uow() as u:
        assert await u.credentials.list_for_organization(org.id) == [changed]


async def test_credentials_are_listed_in_id_batches_and_swapped_only_from_the_expected_ciphertext(
    uow: UowFactory,
) -> None:
    org, other = await make_org(uow), await make_org(uow)
    creds = [credential(org.id, 0), credential(other.id, 1), credential(org.id, 2)]
    async with uow() as u:
        for c in creds:
            await u.credentials.add(c)
        await u.commit()
    by_id = sorted(creds, key=lambda c: c.id)
    async with uow() as u:
        assert await u.credentials.list_all(after=None, limit=2) == by_id[:2]
        assert await u.credentials.list_all(after=by_id[1].id, limit=2) == by_id[2:]
        assert await u.credentials.replace_encrypted_key(creds[0].id, old="gAAAA-stale", new="gAAAA-x") is False
        assert await u.credentials.replace_encrypted_key(creds[0].id, old="gAAAA-old", new="gAAAA-new") is True
        await u.commit()
    async with uow() as u:
        found = await u.credentials.get(creds[0].id)
    assert found is not None and found.encrypted_key == "gAAAA-new"
    assert found.version == 1  # re-encryption changes nothing the API shows


async def test_job_search_spans_teams_and_filters_by_organization(uow: UowFactory) -> None:
    org, other = await make_org(uow), await make_org(uow)
    team_a, team_b, theirs = (
        await make_team(uow, org=org),
        await make_team(uow, org=org),
        await make_team(uow, org=other),
    )
    a0 = await make_job(uow, team_a, created_at=at(0))
    b1 = await make_job(uow, team_b, created_at=at(1))
    t2 = await make_job(uow, theirs, created_at=at(2))
    a3 = await make_job(uow, team_a, created_at=at(3))
    async with uow() as u:
        await u.jobs.set_status(a3.id, JobStatus.IN_PROGRESS)
        await u.commit()

    async def ids(**kw: object) -> list[JobId]:
        params: dict[str, object] = {
            "organization_id": None,
            "team_id": None,
            "status": None,
            "created_from": None,
            "created_to": None,
            "before": None,
            "limit": 10,
        }
        params.update(kw)
        async with uow() as u:
            return [j.id for j in await u.jobs.search(**params)]  # type: ignore[arg-type]

    assert await ids() == [a3.id, t2.id, b1.id, a0.id]
    assert await ids(organization_id=org.id) == [a3.id, b1.id, a0.id]
    assert await ids(organization_id=org.id, team_id=team_a.id) == [a3.id, a0.id]
    assert await ids(organization_id=other.id, team_id=team_a.id) == []
    assert await ids(status=JobStatus.IN_PROGRESS) == [a3.id]
    assert await ids(created_from=at(1), created_to=at(3)) == [t2.id, b1.id]
    assert await ids(before=(t2.created_at, t2.id), limit=1) == [b1.id]


async def test_overview_sums_an_organizations_teams_by_team_day_and_model(uow: UowFactory) -> None:
    from tests.contract.test_usage import DAY, call

    org, other = await make_org(uow), await make_org(uow)
    async with uow() as u:
        await u.aliases.add(alias("smart", provider=Provider.OPENAI))
        await u.commit()
    team_a, team_b, theirs = (
        await make_team(uow, org=org),
        await make_team(uow, org=org),
        await make_team(uow, org=other),
    )
    ja, jb, jt, jx = [await make_job(uow, t) for t in (team_a, team_b, theirs, team_a)]
    sa = await finish_job(
        uow, ja, [call(ja, "smart", 100, "0.001"), call(ja, "gone", 10, "0.0001")], JobStatus.COMPLETED, 60
    )
    sb = await finish_job(uow, jb, [call(jb, "smart", 50, "0.0005")], JobStatus.FAILED, 60 * 24 + 5)
    st = await finish_job(uow, jt, [call(jt, "smart", 20, "0.0002")], JobStatus.COMPLETED, 60)
    await finish_job(uow, jx, [], JobStatus.EXPIRED, 60 * 2)
    last = DAY.replace(day=31)
    async with uow() as u:
        mine = await u.usage.overview(organization_id=org.id, first_day=DAY, last_day=last)
        everything = await u.usage.overview(organization_id=None, first_day=DAY, last_day=last)
        first_day = await u.usage.overview(organization_id=org.id, first_day=DAY, last_day=DAY)
    assert (mine.jobs_total, mine.jobs_completed, mine.jobs_failed, mine.jobs_cancelled, mine.jobs_expired) == (
        3, 1, 1, 0, 1
    )  # fmt: skip
    assert mine.totals == sa + sb
    assert sorted((t.team_id, t.jobs, t.totals) for t in mine.by_team) == sorted(
        [(team_a.id, 2, sa), (team_b.id, 1, sb)]
    )
    assert [
        (m.model, m.provider, m.calls, m.tokens, m.provider_cost_usd, m.customer_cost_usd) for m in mine.by_model
    ] == [
        ("gone", None, 1, 10, D("0.00005"), D("0.0001")),
        ("smart", Provider.OPENAI, 2, 150, D("0.00075"), D("0.0015")),
    ]
    assert [(d.day, d.calls, d.customer_cost_usd) for d in mine.by_day] == [
        (DAY, 2, D("0.0011")),
        (DAY.replace(day=2), 1, D("0.0005")),
    ]
    assert everything.totals == sa + sb + st and everything.jobs_total == 4
    assert first_day.totals == sa and [d.day for d in first_day.by_day] == [DAY]
