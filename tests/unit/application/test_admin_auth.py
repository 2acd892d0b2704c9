"""Operator auth on fakes: setup once, login, throttling, tokens tied to live users."""

import asyncio

import pytest
from limits.aio.storage import MemoryStorage

from adapters.memory.store import MemoryStore
from adapters.memory.system import FakeClock, SequentialIds
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.security.argon2 import Argon2PasswordHasher
from adapters.security.jwt import JwtTokenCodec
from adapters.security.login_throttle import LimitsLoginThrottle, LoginLimits
from application.errors import ConflictError, UnauthorizedError
from application.services.admin_auth import AdminAuthService, LoginRateLimitedError
from domain.admins import AdminRole
from domain.errors import InvalidValueError

PASSWORD = "correct horse battery"


LIMITS = LoginLimits(per_account=30)  # a lower brake than production, so the spray test stays quick


class CountingHasher(Argon2PasswordHasher):
    """A fast argon2 that counts how many passwords reached the check."""

    def __init__(self) -> None:
        super().__init__(time_cost=1, memory_cost_kib=8192, parallelism=1)
        self.verified = 0

    async def verify(self, hashed: str, password: str) -> bool:
        self.verified += 1
        return await super().verify(hashed, password)


Auth = tuple[AdminAuthService, MemoryStore, CountingHasher]


def make_auth(limits: LoginLimits = LIMITS) -> Auth:
    store, hasher = MemoryStore(), CountingHasher()
    service = AdminAuthService(
        uow=lambda: MemoryUnitOfWork(store),
        hasher=hasher,
        tokens=JwtTokenCodec("x" * 40),
        token_ttl_s=900,
        clock=FakeClock(),
        ids=SequentialIds(),
        throttle=LimitsLoginThrottle(MemoryStorage(), limits),
    )
    return service, store, hasher


@pytest.fixture
def auth() -> Auth:
    return make_auth()


async def test_setup_works_once_and_creates_an_owner(auth: Auth) -> None:
    service, store, _ = auth
    assert await service.needs_setup()
    owner = await service.setup(email="Boss@Example.com", password=PASSWORD)
    assert owner.role is AdminRole.OWNER and owner.email == "boss@example.com"
    assert not await service.needs_setup()
    with pytest.raises(ConflictError):
        await service.setup(email="other@example.com", password=PASSWORD)
    assert [e.action for e in store.audit] == ["user.create"]
    assert PASSWORD not in repr(store.audit) and owner.password_hash not in repr(owner)


async def test_login_issues_a_token_that_authenticates(auth: Auth) -> None:
    service, store, _ = auth
    owner = await service.setup(email="boss@example.com", password=PASSWORD)
    token = await service.login(email="BOSS@example.com", password=PASSWORD, address="1.2.3.4")
    principal = await service.authenticate(token.access_token)
    assert principal.user_id == owner.id and principal.role is AdminRole.OWNER
    store.admin_users.clear()  # a deleted user's token stops working at once
    with pytest.raises(UnauthorizedError):
        await service.authenticate(token.access_token)


async def test_wrong_password_and_unknown_email_look_the_same(
    auth: Auth,
) -> None:
    service, _, _ = auth
    await service.setup(email="boss@example.com", password=PASSWORD)
    with pytest.raises(UnauthorizedError) as wrong:
        await service.login(email="boss@example.com", password="nope-nope-nope", address="a")
    with pytest.raises(UnauthorizedError) as unknown:
        await service.login(email="ghost@example.com", password="nope-nope-nope", address="b")
    assert wrong.value.detail == unknown.value.detail


async def test_concurrent_wrong_guesses_never_exceed_the_limit(auth: Auth) -> None:
    service, _, hasher = auth
    await service.setup(email="boss@example.com", password=PASSWORD)
    outcomes = await asyncio.gather(
        *(
            service.login(email="boss@example.com", password=f"wrong-guess-{i:04d}", address="6.6.6.6")
            for i in range(30)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(o, UnauthorizedError) for o in outcomes) == 5
    assert sum(isinstance(o, LoginRateLimitedError) for o in outcomes) == 25
    assert hasher.verified == 5  # the refused ones never reached the password check
    limited = next(o for o in outcomes if isinstance(o, LoginRateLimitedError))
    assert limited.code == "rate_limited" and 1 <= (limited.retry_after_s or 0) <= 900


async def test_failures_from_other_addresses_cannot_lock_the_owner_out_of_their_own_address(auth: Auth) -> None:
    service, _, _ = auth
    await service.setup(email="boss@example.com", password=PASSWORD)
    await service.login(email="boss@example.com", password=PASSWORD, address="10.0.0.1")  # the owner's usual address
    refused = 0
    for botnet_host in range(60):  # 3 guesses each from 60 addresses: far past the per-account brake
        for _ in range(3):
            try:
                await service.login(
                    email="boss@example.com", password="a wrong guess!", address=f"198.51.{botnet_host}.9"
                )
            except LoginRateLimitedError:
                refused += 1
            except UnauthorizedError:
                pass
    assert refused == 180 - LIMITS.per_account  # the brake held the spray to its ceiling
    assert (await service.login(email="boss@example.com", password=PASSWORD, address="10.0.0.1")).access_token
    # An address the owner never logged in from waits for the window (the documented trade-off).
    with pytest.raises(LoginRateLimitedError):
        await service.login(email="boss@example.com", password=PASSWORD, address="10.0.0.2")


async def test_an_address_spraying_many_accounts_is_stopped_but_its_successes_cost_nothing(auth: Auth) -> None:
    service, _, _ = auth
    await service.setup(email="boss@example.com", password=PASSWORD)
    for _ in range(3 * LIMITS.per_address):  # logging in often from one place is fine
        await service.login(email="boss@example.com", password=PASSWORD, address="6.6.6.6")
    for i in range(LIMITS.per_address):
        with pytest.raises(UnauthorizedError):
            await service.login(email=f"user{i}@example.com", password="wrong-wrong-wrong", address="6.6.6.6")
    with pytest.raises(LoginRateLimitedError):
        await service.login(email="boss@example.com", password=PASSWORD, address="6.6.6.6")
    assert (await service.login(email="boss@example.com", password=PASSWORD, address="6.6.6.7")).access_token


async def test_a_successful_login_forgets_the_failures_before_it(auth: Auth) -> None:
    service, _, _ = auth
    await service.setup(email="boss@example.com", password=PASSWORD)
    for _ in range(3):
        for _ in range(LIMITS.per_account_address - 1):
            with pytest.raises(UnauthorizedError):
                await service.login(email="boss@example.com", password="a typo in it", address="10.0.0.1")
        assert (await service.login(email="boss@example.com", password=PASSWORD, address="10.0.0.1")).access_token


async def test_throttled_attempts_recover_once_the_window_is_over() -> None:
    service, _, _ = make_auth(LoginLimits(window_s=1))
    await service.setup(email="boss@example.com", password=PASSWORD)
    for _ in range(5):
        with pytest.raises(UnauthorizedError):
            await service.login(email="boss@example.com", password="wrong-wrong-wrong", address="10.0.0.1")
    with pytest.raises(LoginRateLimitedError) as limited:
        await service.login(email="boss@example.com", password=PASSWORD, address="10.0.0.1")
    assert limited.value.retry_after_s == 1
    await asyncio.sleep(1.1)
    assert (await service.login(email="boss@example.com", password=PASSWORD, address="10.0.0.1")).access_token


async def test_short_passwords_are_refused(auth: Auth) -> None:
    service, _, _ = auth
    with pytest.raises(InvalidValueError):
        await service.setup(email="boss@example.com", password="short")
