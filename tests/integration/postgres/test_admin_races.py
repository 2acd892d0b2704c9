"""Admin writes under concurrency, on real Postgres: the interleavings that lose updates."""

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from adapters.memory.system import CountingSecrets, FakeClock
from adapters.postgres.pool import Pool
from adapters.postgres.unit_of_work import postgres_unit_of_work
from adapters.security.argon2 import Argon2PasswordHasher
from adapters.system import Uuid7Ids
from adapters.vault.fernet import FernetVault
from application.errors import ConflictError, PreconditionFailedError
from application.ports.unit_of_work import UnitOfWorkFactory
from application.services.admin_users import AdminUserService
from application.services.credentials import CredentialChanges, CredentialService
from application.services.organizations import OrganizationService, TeamChanges
from domain.admins import AdminPrincipal, AdminRole, AdminUser
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.ids import AdminUserId
from domain.organizations import Team, TeamStatus
from tests.races import Rendezvous, Until, pause_after

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FAST_HASHER = Argon2PasswordHasher(time_cost=1, memory_cost_kib=8192, parallelism=1)
OWNER = AdminPrincipal(user_id=AdminUserId(uuid4()), email="owner@example.com", role=AdminRole.OWNER)


async def owners(pool: Pool, n: int) -> list[AdminUser]:
    made = [
        AdminUser(
            id=AdminUserId(uuid4()),
            email=f"owner{i}@example.com",
            password_hash="$argon2id$not-used",
            role=AdminRole.OWNER,
            created_at=T0,
        )
        for i in range(n)
    ]
    uow = postgres_unit_of_work(pool)
    async with uow() as u:
        for user in made:
            await u.admin_users.add(user)
        await u.commit()
    return made


def principal(user: AdminUser) -> AdminPrincipal:
    return AdminPrincipal(user_id=user.id, email=user.email, role=user.role)


@pytest.mark.parametrize("moves", [("demote", "demote"), ("delete", "demote"), ("delete", "delete")])
async def test_two_owners_removed_at_once_leave_one_owner(clean_postgres: Pool, moves: tuple[str, str]) -> None:
    a, b = await owners(clean_postgres, 2)
    # Both transactions read the owners before either writes: what two requests racing do.
    uow = pause_after(postgres_unit_of_work(clean_postgres), "admin_users", "list", Rendezvous(2))
    service = AdminUserService(uow=uow, hasher=FAST_HASHER, clock=FakeClock(T0))

    async def remove(move: str, actor: AdminUser, target: AdminUser) -> None:
        if move == "delete":
            await service.delete_user(principal(actor), target.id)
        else:
            await service.update_user(principal(actor), target.id, role=AdminRole.ADMIN)

    outcomes = await asyncio.gather(remove(moves[0], b, a), remove(moves[1], a, b), return_exceptions=True)
    assert sorted(type(o).__name__ for o in outcomes) == ["ConflictError", "NoneType"]
    assert all(o is None or isinstance(o, ConflictError) for o in outcomes)
    async with postgres_unit_of_work(clean_postgres)() as u:
        left = [x for x in await u.admin_users.list() if x.role is AdminRole.OWNER]
    assert len(left) == 1


def organization_service(uow: UnitOfWorkFactory) -> OrganizationService:
    return OrganizationService(uow=uow, clock=FakeClock(T0), ids=Uuid7Ids(), secrets=CountingSecrets())


async def one_team(pool: Pool) -> tuple[OrganizationService, Team]:
    services = organization_service(postgres_unit_of_work(pool))
    org = await services.create_organization(name="Acme")
    team, _ = await services.create_team(
        organization_id=org.id, name="Team", budget=BudgetPolicy(mode=BudgetMode.JOB_BASED)
    )
    return services, team


async def test_a_rename_racing_a_suspension_leaves_the_team_suspended(clean_postgres: Pool) -> None:
    services, team = await one_team(clean_postgres)
    gate = Until()
    renaming = organization_service(pause_after(postgres_unit_of_work(clean_postgres), "teams", "get", gate))
    # The rename reads the team (active), the suspension commits, then the rename writes.
    rename = asyncio.create_task(renaming.update_team(OWNER, team.id, TeamChanges(name="Renamed")))
    await gate.reached.wait()
    await services.set_status(team.id, TeamStatus.SUSPENDED, actor=OWNER)
    gate.open()
    renamed = await rename
    assert (renamed.name, renamed.status) == ("Renamed", TeamStatus.SUSPENDED)
    stored = await services.get_team(OWNER, team.id)
    assert (stored.name, stored.status, stored.version) == ("Renamed", TeamStatus.SUSPENDED, team.version + 2)


async def test_a_stale_version_is_refused_even_when_the_race_is_lost_after_the_read(clean_postgres: Pool) -> None:
    services, team = await one_team(clean_postgres)
    gate = Until()
    renaming = organization_service(pause_after(postgres_unit_of_work(clean_postgres), "teams", "get", gate))
    rename = asyncio.create_task(
        renaming.update_team(OWNER, team.id, TeamChanges(name="Renamed"), expected_version=team.version)
    )
    await gate.reached.wait()  # it read the version it expected; the suspension moves it on
    await services.set_status(team.id, TeamStatus.SUSPENDED, actor=OWNER)
    gate.open()
    with pytest.raises(PreconditionFailedError):
        await rename
    stored = await services.get_team(OWNER, team.id)
    assert (stored.name, stored.status) == ("Team", TeamStatus.SUSPENDED)


async def test_a_credential_rename_racing_rotate_keys_keeps_the_rotated_ciphertext(clean_postgres: Pool) -> None:
    old_key, new_key = FernetVault.generate_key(), FernetVault.generate_key()
    before_rotation = FernetVault([old_key])
    after_rotation = FernetVault([new_key, old_key])
    uow = postgres_unit_of_work(clean_postgres)
    org = organization_service(uow)
    organization = await org.create_organization(name="Acme")
    writer = CredentialService(uow=uow, vault=before_rotation, clock=FakeClock(T0), ids=Uuid7Ids())
    credential = await writer.add_credential(
        organization_id=organization.id, provider=Provider.OPENAI, name="main", api_key="sk-provider-secret-1234"
    )
    gate = Until()
    renaming = CredentialService(
        uow=pause_after(uow, "credentials", "get", gate), vault=after_rotation, clock=FakeClock(T0), ids=Uuid7Ids()
    )
    rename = asyncio.create_task(renaming.update_credential(OWNER, credential.id, CredentialChanges(name="renamed")))
    await gate.reached.wait()  # the rename holds the old ciphertext in hand...
    rotator = CredentialService(uow=uow, vault=after_rotation, clock=FakeClock(T0), ids=Uuid7Ids())
    assert (await rotator.rotate_keys()).rotated == 1  # ...while rotate-keys swaps it
    gate.open()
    assert (await rename).name == "renamed"
    async with uow() as u:
        stored = await u.credentials.get(credential.id)
    assert stored is not None and stored.name == "renamed"
    assert after_rotation.is_current(stored.encrypted_key)  # not written back under the retired key
    assert FernetVault([new_key]).decrypt(stored.encrypted_key) == "sk-provider-secret-1234"
