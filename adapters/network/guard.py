"""The address policy, enforced on every outbound connection (provider calls, webhooks).

A URL was checked when it was stored, but a host name can be re-pointed afterwards (DNS
rebinding, or simply a changed record), so the check that counts is the one made against
the addresses a connection actually uses:

- ``GuardedResolver`` is the resolver of the aiohttp connector: every address a name
  resolves to must pass the policy, or the connection is refused before it is opened;
  the connector then connects to exactly the addresses it returned (no second lookup);
- ``GuardedTransport`` wraps any httpx transport and checks what the resolver never sees:
  the scheme, and a host given as an IP literal.

A refusal raises ``BlockedAddressError`` (an ``OSError``, so it travels through aiohttp's
and httpx's connection errors as their cause); callers find it with ``blocked_reason``.
Its message says why, never the URL (which could carry a token).
"""

import functools
import socket

import aiohttp
import httpx
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver
from httpx_aiohttp import AiohttpTransport

from domain.outbound import AddressPolicy, parse_address


class BlockedAddressError(OSError):
    """An outbound connection the address policy refuses."""


def blocked_reason(exc: BaseException) -> str | None:
    """The policy's reason when ``exc`` is, or was caused by, a ``BlockedAddressError``."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, BlockedAddressError):
            return str(current)
        seen.add(id(current))
        os_error = getattr(current, "os_error", None)  # aiohttp's connector errors keep it here
        if isinstance(os_error, BlockedAddressError):
            return str(os_error)
        current = current.__cause__ or current.__context__
    return None


class GuardedResolver(AbstractResolver):
    """Resolves with ``inner`` (the system resolver by default), then refuses the name
    if any of its addresses is one the policy refuses."""

    def __init__(self, policy: AddressPolicy, inner: AbstractResolver | None = None) -> None:
        self._policy = policy
        self._inner = inner

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = DefaultResolver()  # created here: it needs the running loop
        results = await self._inner.resolve(host, port, family)
        for result in results:
            address = parse_address(result["host"])
            if address is None:
                raise BlockedAddressError("the endpoint resolves to something that is not an address")
            if (problem := self._policy.address_problem(address)) is not None:
                raise BlockedAddressError(f"the endpoint {problem}")
        return results

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


class GuardedTransport(httpx.AsyncBaseTransport):
    """The policy's scheme rule and IP-literal hosts, checked before ``inner`` connects."""

    def __init__(self, inner: httpx.AsyncBaseTransport, policy: AddressPolicy) -> None:
        self._inner = inner
        self._policy = policy
        # The verdict per (scheme, host) is remembered: the policy is fixed.
        self._problem = functools.lru_cache(maxsize=1024)(self._judge)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        problem = self._problem(url.scheme, url.host)
        if problem is not None:
            raise BlockedAddressError(f"the endpoint {problem}")
        return await self._inner.handle_async_request(request)

    def _judge(self, scheme: str, host: str) -> str | None:
        if (problem := self._policy.scheme_problem(scheme)) is not None:
            return problem
        address = parse_address(host)
        return self._policy.address_problem(address) if address is not None else None

    async def aclose(self) -> None:
        await self._inner.aclose()


def guarded_aiohttp_transport(
    policy: AddressPolicy, *, limits: httpx.Limits, resolver: AbstractResolver | None = None
) -> GuardedTransport:
    """httpx's API over aiohttp, every connection checked against ``policy``.

    ``resolver`` replaces the system resolver under the guard (tests script answers).
    """

    def session() -> aiohttp.ClientSession:  # called by the transport on first use, inside the loop
        connector = aiohttp.TCPConnector(
            resolver=GuardedResolver(policy, resolver),
            limit=limits.max_connections or 0,
            keepalive_timeout=limits.keepalive_expiry,
            ssl=httpx.create_ssl_context(),
        )
        return aiohttp.ClientSession(connector=connector)

    return GuardedTransport(AiohttpTransport(limits=limits, client=session), policy)
