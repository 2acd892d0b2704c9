"""Name resolution, so a use case can check where a URL would lead before storing it."""

from typing import Protocol


class HostResolver(Protocol):
    async def resolve(self, host: str, port: int) -> list[str]:
        """The IP addresses ``host`` resolves to now, as text (an IP literal comes back as is).

        Never blocks the event loop. Raises ``HostResolutionError`` when the name does not
        resolve (or resolves to nothing) within the adapter's own short time limit.
        """
        ...


class HostResolutionError(Exception):
    """A host name could not be resolved (unknown name, DNS failure or timeout)."""
