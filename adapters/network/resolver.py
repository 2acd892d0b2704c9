"""``HostResolver`` over the system resolver (``getaddrinfo`` on the loop's executor)."""

import asyncio
import socket

from application.ports.network import HostResolutionError

RESOLVE_TIMEOUT_S = 5.0


class SystemHostResolver:
    def __init__(self, *, timeout_s: float = RESOLVE_TIMEOUT_S) -> None:
        self._timeout_s = timeout_s

    async def resolve(self, host: str, port: int) -> list[str]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self._timeout_s):
                infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, TimeoutError, UnicodeError):  # gaierror is an OSError
            raise HostResolutionError(f"{host!r} could not be resolved") from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise HostResolutionError(f"{host!r} resolves to no address")
        return addresses
