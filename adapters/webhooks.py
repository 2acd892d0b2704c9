"""Webhook sender over httpx (on aiohttp), bounded in time and in what it reads.

``timeout_s`` is the whole budget of one delivery (connect + send + read together,
enforced with ``asyncio.timeout``): httpx's own timeouts restart with every chunk, so a
receiver dripping a byte a second would hold a worker forever. Only the first
``max_response_bytes`` of the receiver's body are read; the status is all that matters.
Every connection passes the webhook address policy (``adapters.network.guard``).
"""

import asyncio

import aiohttp
import httpx

from adapters.network.guard import blocked_reason, guarded_aiohttp_transport
from application.ports.webhooks import WebhookResponse
from domain.outbound import DEVELOPMENT_POLICY, AddressPolicy

MAX_RESPONSE_BYTES = 64 * 1024


class HttpWebhookSender:
    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout_s: float = 5.0,
        policy: AddressPolicy = DEVELOPMENT_POLICY,
        max_response_bytes: int = MAX_RESPONSE_BYTES,
    ) -> None:
        self._timeout_s = timeout_s
        self._max_response_bytes = max_response_bytes
        limits = httpx.Limits(max_connections=100, max_keepalive_connections=20, keepalive_expiry=30.0)
        self._client = client or httpx.AsyncClient(
            transport=guarded_aiohttp_transport(policy, limits=limits),
            timeout=httpx.Timeout(timeout_s),
            follow_redirects=False,  # a redirect could lead anywhere, past the policy's first check
        )

    async def send(self, url: str, *, body: bytes, headers: dict[str, str]) -> WebhookResponse:
        try:
            async with (
                asyncio.timeout(self._timeout_s),
                self._client.stream("POST", url, content=body, headers=headers) as response,
            ):
                read = 0
                async for chunk in response.aiter_raw():
                    read += len(chunk)
                    if read >= self._max_response_bytes:
                        break  # leaving the block closes the connection instead of draining it
                return WebhookResponse(status_code=response.status_code)
        except (TimeoutError, httpx.TimeoutException) as exc:
            if (reason := blocked_reason(exc)) is not None:  # httpx-aiohttp reports connector errors as timeouts
                return WebhookResponse(status_code=None, error=f"refused: {reason}", refused=True)
            return WebhookResponse(status_code=None, error="timed out")
        except (httpx.HTTPError, aiohttp.ClientError, OSError) as exc:
            if (reason := blocked_reason(exc)) is not None:
                return WebhookResponse(status_code=None, error=f"refused: {reason}", refused=True)
            return WebhookResponse(status_code=None, error=f"request failed: {type(exc).__name__}")

    async def aclose(self) -> None:
        await self._client.aclose()
