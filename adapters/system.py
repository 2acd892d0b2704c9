"""Real clock, ids and secret generation."""

import os
import secrets
import time
from datetime import UTC, datetime
from uuid import UUID

from application.services.auth import KEY_PREFIX


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()


class Uuid7Ids:
    """Time-ordered UUIDv7 (RFC 9562): new rows land at the end of b-tree indexes."""

    def new_id(self) -> UUID:
        millis = time.time_ns() // 1_000_000
        rand = int.from_bytes(os.urandom(10), "big")
        value = (millis & ((1 << 48) - 1)) << 80
        value |= 0x7 << 76
        value |= ((rand >> 62) & 0xFFF) << 64
        value |= 0b10 << 62
        value |= rand & ((1 << 62) - 1)
        return UUID(int=value)


class RandomSecrets:
    def new_api_key(self) -> str:
        return KEY_PREFIX + secrets.token_urlsafe(32)
