"""Client authentication by team virtual key."""

from application.caching import TtlCache
from application.errors import UnauthorizedError
from application.ports.repositories import ApiKey
from application.ports.system import Clock
from application.ports.unit_of_work import UnitOfWorkFactory
from application.principal import TeamPrincipal
from domain.secrets import digest_key

KEY_PREFIX = "sk-job-"


class ClientAuthService:
    """Turns a presented virtual key into a principal.

    Rules: keys are looked up by SHA-256 digest only (no key material is ever compared
    or stored in clear), a revoked key is unknown, and every failure is the same 401.
    Suspension is checked by the use cases, which answer 403 ``team_suspended``.
    """

    def __init__(self, *, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        # Keys are cached by digest for at most a second: a revocation takes effect
        # on every instance within that second.
        self._keys: TtlCache[ApiKey] = TtlCache(clock)

    async def authenticate(self, presented: str | None) -> TeamPrincipal:
        if not presented or not presented.startswith(KEY_PREFIX) or len(presented) > 200:
            raise UnauthorizedError("a valid team API key is required")
        digest = digest_key(presented)
        key = await self._keys.get_or_load(digest, lambda: self._find(digest))
        if key is None:
            raise UnauthorizedError("a valid team API key is required")
        return TeamPrincipal(team_id=key.team_id, organization_id=key.organization_id, key_id=key.id)

    async def _find(self, digest: str) -> ApiKey | None:
        async with self._uow() as uow:
            return await uow.api_keys.find_active(digest)
