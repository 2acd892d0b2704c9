"""Sending a signed webhook request."""

from typing import Protocol

import msgspec


class WebhookResponse(msgspec.Struct, frozen=True):
    status_code: int | None  # None: no response (timeout, refused connection)
    error: str | None = None
    refused: bool = False  # the sender's address policy refused the URL: retrying cannot help


class WebhookSender(Protocol):
    async def send(self, url: str, *, body: bytes, headers: dict[str, str]) -> WebhookResponse:
        """POST ``body``. Never raises for network failures (they become ``error``).

        One total deadline covers connecting, sending and reading the answer, and at most
        a bounded prefix of the receiver's body is read, so a slow or endless receiver
        costs one deadline, never a worker. Connections the sender's address policy
        refuses are not made (``refused``).
        """
        ...
