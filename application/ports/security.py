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


class LoginThrottle(Protocol):
    """Counts admin login attempts in state shared by every instance (bounded in size).

    ``account`` is the email as typed (lower-cased), ``address`` the client address; the
    adapter decides the limits (docs/security.md, "Login throttling").
    """

    async def attempt(self, account: str, address: str) -> float | None:
        """Count one attempt **before** its password is checked.

        Each count is one atomic step in the shared state, so N concurrent attempts never
        let more than a limit through. Returns None when the attempt may go on to the
        password check, else the seconds until it may be retried (the attempt is refused).
        Raises ``UnavailableError`` when the shared state cannot be reached: logins then
        fail closed.
        """
        ...

    async def succeeded(self, account: str, address: str) -> None:
        """The attempt let through had the right password.

        Forgets the earlier failures of this account from this address, gives the address
        its attempt back (the address limit counts failures) and remembers the address as
        one the account's owner uses, so failures from elsewhere cannot lock it out.
        """
        ...
