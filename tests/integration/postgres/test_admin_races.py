"""Admin writes under concurrency, on real Postgres: the interleavings that lose updates."""

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest

from adapters.memory.system import FakeClock
from adapters.postgres.pool import Pool
from adapters.postgres.unit_of_work import postgres_unit_of_work
from adapters.security.argon2 import Argon2PasswordHasher
from application.errors import ConflictError
from application.services.admin_users import AdminUserService
from domain.admins import AdminPrincipal, AdminRole, AdminUser
from domain.ids import AdminUserId
from tests.races import Rendezvous, pause_after

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
FAST_HASHER = Argon2PasswordHasher(time_cost=1, memory_cost_kib=8192, parallelism=1)


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
