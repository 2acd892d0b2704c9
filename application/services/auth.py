"""Client authentication by team virtual key."""

from application.errors import UnauthorizedError
from application.ports.reference import ReferenceReader
from application.principal import TeamPrincipal
from domain.secrets import digest_key

KEY_PREFIX = "sk-job-"


class ClientAuthService:
    """Turns a presented virtual key into a principal.

    Rules: keys are looked up by SHA-256 digest only (no key material is ever compared
    or stored in clear), a revoked key is unknown, and every failure is the same 401.
    Suspension is checked by the use cases, which answer 403 ``team_suspended``.
    """

    def __init__(self, *, reference: ReferenceReader) -> None:
        # Keys come from the reference reader, cached by digest: a revocation reaches
        # every instance's cache within a second.
        self._reference = reference

    async def authenticate(self, presented: str | None) -> TeamPrincipal:
        if not presented or not presented.startswith(KEY_PREFIX) or len(presented) > 200:
            raise UnauthorizedError("a valid team API key is required")
        digest = digest_key(presented)
        key = await self._reference.active_key(digest)
        if key is None:
            raise UnauthorizedError("a valid team API key is required")
        return TeamPrincipal(team_id=key.team_id, organization_id=key.organization_id, key_id=key.id)
