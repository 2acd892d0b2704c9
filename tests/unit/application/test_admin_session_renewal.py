"""Panel sessions on fakes: renewed while in use, ended when idle, never past the maximum."""

import json
import secrets
from typing import Any

import pytest
from limits.aio.storage import MemoryStorage

from adapters.memory.store import MemoryStore
from adapters.memory.system import FakeClock, SequentialIds
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.security.argon2 import Argon2PasswordHasher
from adapters.security.login_throttle import LimitsLoginThrottle
from application.errors import UnauthorizedError
from application.services.admin_auth import SESSION_MAX_S, AdminAuthService
from domain.admins import AdminRole

PASSWORD = "correct horse battery"
TTL_S = 900


class ClockedTokens:
    """A TokenCodec on the fake clock (unsigned: the codec's signature is not what is tested here)."""

    def __init__(self, clock: FakeClock) -> None:
        self._clock = clock

    def issue(self, claims: dict[str, Any]) -> str:
        now = int(self._clock.now().timestamp())
        return json.dumps({**claims, "iat": now, "exp": now + TTL_S, "jti": secrets.token_hex(4)})

    def decode(self, token: str) -> dict[str, Any]:
        claims: dict[str, Any] = json.loads(token)
        if claims["exp"] <= int(self._clock.now().timestamp()):
            raise UnauthorizedError("the access token has expired")
        return claims


@pytest.fixture
async def signed_in() -> tuple[AdminAuthService, FakeClock, str]:
    clock = FakeClock()
    store = MemoryStore()
    service = AdminAuthService(
        uow=lambda: MemoryUnitOfWork(store),
        hasher=Argon2PasswordHasher(time_cost=1, memory_cost_kib=8192, parallelism=1),
        tokens=ClockedTokens(clock),
        token_ttl_s=TTL_S,
        clock=clock,
        ids=SequentialIds(),
        throttle=LimitsLoginThrottle(MemoryStorage()),
    )
    await service.create_user(email="ops@example.com", password=PASSWORD, role=AdminRole.ADMIN)
    token = await service.login(email="ops@example.com", password=PASSWORD, address="10.0.0.1")
    return service, clock, token.access_token


async def test_a_fresh_session_is_not_renewed(signed_in: tuple[AdminAuthService, FakeClock, str]) -> None:
    service, clock, token = signed_in
    clock.advance(TTL_S // 2 - 10)
    principal, renewed = await service.renew(token)
    assert principal.email == "ops@example.com" and renewed is None


async def test_a_session_in_use_is_renewed_past_half_its_life_and_keeps_its_sign_in_time(
    signed_in: tuple[AdminAuthService, FakeClock, str],
) -> None:
    service, clock, token = signed_in
    signed_in_at = json.loads(token)["auth_time"]
    for _ in range(10):  # over an hour of work, a request every 8 minutes
        clock.advance(480)
        _, renewed = await service.renew(token)
        if renewed is not None:
            token = renewed.access_token
    assert json.loads(token)["auth_time"] == signed_in_at
    assert (await service.authenticate(token)).role is AdminRole.ADMIN


async def test_an_idle_session_ends(signed_in: tuple[AdminAuthService, FakeClock, str]) -> None:
    service, clock, token = signed_in
    clock.advance(TTL_S + 1)
    with pytest.raises(UnauthorizedError):
        await service.renew(token)


async def test_no_session_is_renewed_past_its_maximum(signed_in: tuple[AdminAuthService, FakeClock, str]) -> None:
    service, clock, token = signed_in
    while True:
        clock.advance(600)
        try:
            _, renewed = await service.renew(token)
        except UnauthorizedError:
            break
        if renewed is not None:
            token = renewed.access_token
    ended_after_s = clock.current.timestamp() - json.loads(token)["auth_time"]
    assert SESSION_MAX_S <= ended_after_s <= SESSION_MAX_S + TTL_S + 600
