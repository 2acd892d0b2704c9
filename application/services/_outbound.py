"""The check of an outbound URL (a credential's ``api_base``, a webhook's ``url``) before it is stored.

The rule is ``domain.outbound.AddressPolicy``; this applies it to a URL: the scheme, no
credentials in the URL, and every address the host resolves to *now* (through the
``HostResolver`` port). A name can later be pointed elsewhere (DNS rebinding), so the
HTTP adapters apply the same policy again to each connection they open.
"""

from urllib.parse import urlsplit

from application.ports.network import HostResolutionError, HostResolver
from domain.errors import InvalidValueError
from domain.outbound import DEVELOPMENT_POLICY, AddressPolicy, IpAddress, parse_address

MAX_URL_LENGTH = 2000


class OutboundUrlCheck:
    """Rules: http(s) only (https only under ``require_https``), a host and no user:password
    part; an IP literal, or (when the policy refuses private addresses) every address the
    host resolves to, must be allowed by the policy; a host that does not resolve is refused
    then too. Messages name the field and the reason, never the URL."""

    def __init__(self, *, policy: AddressPolicy = DEVELOPMENT_POLICY, resolver: HostResolver | None = None) -> None:
        if policy.resolves_names and resolver is None:
            raise ValueError("a policy that refuses private addresses needs a resolver")
        self.policy = policy
        self._resolver = resolver

    async def __call__(self, url: str, *, field: str) -> str:
        """``url`` without a trailing slash; raises ``InvalidValueError``."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            raise InvalidValueError(f"{field} must be an http(s) URL") from None
        if len(url) > MAX_URL_LENGTH or parts.scheme.lower() not in ("http", "https") or not parts.hostname:
            raise InvalidValueError(f"{field} must be an http(s) URL")
        if (problem := self.policy.scheme_problem(parts.scheme)) is not None:
            raise InvalidValueError(f"{field} {problem}")
        if parts.username is not None or parts.password is not None:
            raise InvalidValueError(f"{field} must not carry a user name or password")
        for address in await self._addresses(parts.hostname, port or (443 if parts.scheme == "https" else 80), field):
            if (problem := self.policy.address_problem(address)) is not None:
                raise InvalidValueError(f"{field} {problem}")
        return url.rstrip("/")

    async def _addresses(self, host: str, port: int, field: str) -> list[IpAddress]:
        literal = parse_address(host)
        if literal is not None:
            return [literal]
        if not self.policy.resolves_names or self._resolver is None:
            return []
        try:
            resolved = await self._resolver.resolve(host, port)
        except HostResolutionError:
            raise InvalidValueError(f"{field} has a host name that does not resolve") from None
        addresses = [parse_address(text) for text in resolved]
        if any(address is None for address in addresses):  # not an address: refuse rather than guess
            raise InvalidValueError(f"{field} has a host name that does not resolve")
        return [address for address in addresses if address is not None]
