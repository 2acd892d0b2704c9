"""The limits-based login throttle over in-process storage: what it stores and how it fails."""

import pytest
from limits.aio.storage import MemoryStorage
from limits.errors import StorageError

from adapters.security.login_throttle import LimitsLoginThrottle
from application.errors import UnavailableError


async def test_counter_keys_hold_digests_never_the_email_or_address() -> None:
    storage = MemoryStorage()
    throttle = LimitsLoginThrottle(storage)
    assert await throttle.attempt("boss@example.com", "203.0.113.7") is None
    await throttle.succeeded("boss@example.com", "203.0.113.7")
    keys = " ".join(storage.storage)
    assert keys and "boss" not in keys and "example.com" not in keys and "203.0.113.7" not in keys


class BrokenStorage(MemoryStorage):
    async def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        raise StorageError(ConnectionError("redis is down"))


async def test_an_unreachable_storage_fails_closed_as_unavailable() -> None:
    throttle = LimitsLoginThrottle(BrokenStorage())
    with pytest.raises(UnavailableError) as info:
        await throttle.attempt("boss@example.com", "203.0.113.7")
    assert "redis is down" not in str(info.value)
