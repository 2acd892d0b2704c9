"""Operator auth on fakes: setup once, login, throttling, tokens tied to live users."""

import pytest

from adapters.memory.store import MemoryStore, MemoryUnitOfWork
from adapters.memory.system import FakeClock, SequentialIds
from adapters.security.argon2 import Argon2PasswordHasher
from adapters.security.jwt import JwtTokenCodec
from application.errors import ConflictError, UnauthorizedError
from application.services.admin_auth import AdminAuthService, LoginRateLimitedError
from domain.admins import AdminRole
from domain.errors import InvalidValueError

PASSWORD = "correct horse battery"


@pytest.fixture
def auth() -> tuple[AdminAuthService, MemoryStore, FakeClock]:
    store, clock = MemoryStore(), FakeClock()
    service = AdminAuthService(
        uow=lambda: MemoryUnitOfWork(store),
        hasher=Argon2PasswordHasher(time_cost=1, memory_cost_kib=8192, parallelism=1),
        tokens=JwtTokenCodec("x" * 40),
        token_ttl_s=900,
        clock=clock,
        ids=SequentialIds(),
    )
    return service, store, clock


async def test_setup_works_once_and_creates_an_owner(auth: tuple[AdminAuthService, MemoryStore, FakeClock]) -> None:
    service, store, _ = auth
    assert await service.needs_setup()
    owner = await service.setup(email="Boss@Example.com", password=PASSWORD)
    assert owner.role is AdminRole.OWNER and owner.email == "boss@example.com"
    assert not await service.needs_setup()
    with pytest.raises(ConflictError):
        await service.setup(email="other@example.com", password=PASSWORD)
    assert [e.action for e in store.audit] == ["user.create"]
    assert PASSWORD not in repr(store.audit) and owner.password_hash not in repr(owner)


async def test_login_issues_a_token_that_authenticates(auth: tuple[AdminAuthService, MemoryStore, FakeClock]) -> None:
    service, store, _ = auth
    owner = await service.setup(email="boss@example.com", password=PASSWORD)
    token = await service.login(email="BOSS@example.com", password=PASSWORD, address="1.2.3.4")
    principal = await service.authenticate(token.access_token)
    assert principal.user_id == owner.id and principal.role is AdminRole.OWNER
    store.admin_users.clear()  # a deleted user's token stops working at once
    with pytest.raises(UnauthorizedError):
        await service.authenticate(token.access_token)


async def test_wrong_password_and_unknown_email_look_the_same(
    auth: tuple[AdminAuthService, MemoryStore, FakeClock],
) -> None:
    service, _, _ = auth
    await service.setup(email="boss@example.com", password=PASSWORD)
    with pytest.raises(UnauthorizedError) as wrong:
        await service.login(email="boss@example.com", password="nope-nope-nope", address="a")
    with pytest.raises(UnauthorizedError) as unknown:
        await service.login(email="ghost@example.com", password="nope-nope-nope", address="b")
    assert wrong.value.detail == unknown.value.detail


async def test_repeated_failures_are_throttled_per_account_then_recover(
    auth: tuple[AdminAuthService, MemoryStore, FakeClock],
) -> None:
    service, _, clock = auth
    await service.setup(email="boss@example.com", password=PASSWORD)
    for i in range(5):
        with pytest.raises(UnauthorizedError):
            await service.login(email="boss@example.com", password="wrong-wrong-wrong", address=f"10.0.0.{i}")
    with pytest.raises(LoginRateLimitedError) as limited:
        await service.login(email="boss@example.com", password=PASSWORD, address="10.0.0.99")
    assert limited.value.code == "rate_limited" and (limited.value.retry_after_s or 0) > 0
    clock.advance(901)
    assert (await service.login(email="boss@example.com", password=PASSWORD, address="10.0.0.99")).access_token


async def test_repeated_failures_are_throttled_per_address(
    auth: tuple[AdminAuthService, MemoryStore, FakeClock],
) -> None:
    service, _, _ = auth
    await service.setup(email="boss@example.com", password=PASSWORD)
    for i in range(20):
        with pytest.raises(UnauthorizedError):
            await service.login(email=f"user{i}@example.com", password="wrong-wrong-wrong", address="6.6.6.6")
    with pytest.raises(LoginRateLimitedError):
        await service.login(email="boss@example.com", password=PASSWORD, address="6.6.6.6")


async def test_short_passwords_are_refused(auth: tuple[AdminAuthService, MemoryStore, FakeClock]) -> None:
    service, _, _ = auth
    with pytest.raises(InvalidValueError):
        await service.setup(email="boss@example.com", password="short")
