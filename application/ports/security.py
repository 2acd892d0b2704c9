"""Admin authentication: password hashing and signed access tokens."""

from typing import Any, Protocol


class PasswordHasher(Protocol):
    async def hash(self, password: str) -> str:
        """A salted, slow hash (runs off the event loop)."""
        ...

    async def verify(self, hashed: str, password: str) -> bool:
        """True when ``password`` matches ``hashed``; never raises on a mismatch."""
        ...


class TokenCodec(Protocol):
    def issue(self, claims: dict[str, Any]) -> str:
        """A signed, expiring token carrying ``claims``."""
        ...

    def decode(self, token: str) -> dict[str, Any]:
        """The claims of a valid token; raises ``UnauthorizedError`` otherwise."""
        ...
