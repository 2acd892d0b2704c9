"""The login throttle on the ``limits`` library: fixed windows over any of its async storages.

Three counters are consulted, in this order, each counted before the password is checked:

1. per (account, address): 5 per 15 minutes — guessing one account from one place;
2. per address: 20 failures per 15 minutes — one place spraying many accounts;
3. per account: 100 failures per 15 minutes, a global brake on guessing one account from many
   places. It refuses only addresses the account has not logged in from (successfully,
   within the last 30 days), so an attacker spraying the account from a botnet cannot
   lock its owner out of the owner's own address; an owner on a brand-new address waits
   for the window to pass.

A successful login clears its (account, address) counter, hands the address and the
account their attempt back (so those two count failures only), and marks the address as
the account's own. Counter keys hold SHA-256 digests of
the account and address, never the email itself.
"""

import hashlib
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerDay, RateLimitItemPerSecond
from limits.aio.storage import Storage
from limits.aio.strategies import FixedWindowRateLimiter
from limits.errors import StorageError

from application.errors import UnavailableError


@dataclass(frozen=True, slots=True)
class LoginLimits:
    """How many attempts each counter allows per window (defaults: docs/security.md)."""

    window_s: int = 900
    per_account_address: int = 5
    per_address: int = 20
    per_account: int = 100
    known_address_days: int = 30


class LimitsLoginThrottle:
    """``LoginThrottle`` whose state lives in a ``limits`` storage (Redis, Postgres, memory)."""

    def __init__(self, storage: Storage, limits: LoginLimits | None = None) -> None:
        limits = limits or LoginLimits()
        self._storage = storage
        self._limiter = FixedWindowRateLimiter(storage)
        self._pair = RateLimitItemPerSecond(limits.per_account_address, limits.window_s, namespace="login-pair")
        self._address = RateLimitItemPerSecond(limits.per_address, limits.window_s, namespace="login-address")
        self._account = RateLimitItemPerSecond(limits.per_account, limits.window_s, namespace="login-account")
        self._known = RateLimitItemPerDay(1, limits.known_address_days, namespace="login-known")

    async def attempt(self, account: str, address: str) -> float | None:
        who, where = _digest(account), _digest(address)
        try:
            if not await self._limiter.hit(self._pair, who, where):
                return await self._retry_after(self._pair, who, where)
            if not await self._limiter.hit(self._address, where):
                return await self._retry_after(self._address, where)
            # The brake counts every address, but stops only the ones the owner never used.
            if not await self._limiter.hit(self._account, who) and not await self._is_known(who, where):
                return await self._retry_after(self._account, who)
        except StorageError:
            raise UnavailableError("the login throttle's storage is unavailable") from None
        return None

    async def succeeded(self, account: str, address: str) -> None:
        who, where = _digest(account), _digest(address)
        try:
            await self._limiter.clear(self._pair, who, where)
            await self._refund(self._address, where)
            await self._refund(self._account, who)
            # Re-marked on every success: known for the whole period after the latest one.
            await self._limiter.clear(self._known, who, where)
            await self._limiter.hit(self._known, who, where)
        except StorageError:
            raise UnavailableError("the login throttle's storage is unavailable") from None

    async def _refund(self, item: RateLimitItem, *identifiers: str) -> None:
        """Give back the attempt a success used: those two counters count failures."""
        key = item.key_for(*identifiers)
        if await self._storage.get(key) > 0:
            await self._storage.incr(key, item.get_expiry(), amount=-1)

    async def _is_known(self, who: str, where: str) -> bool:
        return not await self._limiter.test(self._known, who, where)

    async def _retry_after(self, item: RateLimitItem, *identifiers: str) -> float:
        stats = await self._limiter.get_window_stats(item, *identifiers)
        return min(max(1.0, stats.reset_time - time.time()), float(item.get_expiry()))


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
