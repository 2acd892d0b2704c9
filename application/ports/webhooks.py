"""Sending a signed webhook request."""

from typing import Protocol

import msgspec


class WebhookResponse(msgspec.Struct, frozen=True):
    status_code: int | None  # None: no response (timeout, refused connection)
    error: str | None = None


class WebhookSender(Protocol):
    async def send(self, url: str, *, body: bytes, headers: dict[str, str]) -> WebhookResponse:
        """POST ``body``; never raises for network failures (they become ``error``), and
        gives up after the sender's own short timeout so a dead receiver cannot stall."""
        ...
