"""Time and identity: injected so use cases and tests control them."""

from datetime import datetime
from typing import Protocol
from uuid import UUID


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...

    def monotonic(self) -> float:
        """Seconds from an arbitrary origin, for measuring latency (never goes back)."""
        ...


class IdGenerator(Protocol):
    def new_id(self) -> UUID:
        """A fresh, unique id (time-ordered where the adapter can)."""
        ...


class SecretGenerator(Protocol):
    def new_api_key(self) -> str:
        """A new random virtual key (URL-safe, with a recognisable prefix)."""
        ...
