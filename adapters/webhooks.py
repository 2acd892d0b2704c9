"""Webhook sender over httpx, with a short timeout so a dead receiver costs little."""

import httpx

from application.ports.webhooks import WebhookResponse


class HttpWebhookSender:
    def __init__(self, client: httpx.AsyncClient | None = None, *, timeout_s: float = 5.0) -> None:
        self._client = client or httpx.AsyncClient(timeout=httpx.Timeout(timeout_s), follow_redirects=False)

    async def send(self, url: str, *, body: bytes, headers: dict[str, str]) -> WebhookResponse:
        try:
            response = await self._client.post(url, content=body, headers=headers)
        except httpx.TimeoutException:
            return WebhookResponse(status_code=None, error="timed out")
        except httpx.HTTPError as exc:
            return WebhookResponse(status_code=None, error=f"request failed: {type(exc).__name__}")
        return WebhookResponse(status_code=response.status_code)

    async def aclose(self) -> None:
        await self._client.aclose()
