"""Request context: a request id on every log line, one canonical log line per request."""

import time
import uuid
from typing import Any

import structlog
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.metrics import PrometheusMetrics
from domain.calls import LlmCall

log = structlog.get_logger("http")


def request_context_middleware(app: ASGIApp) -> ASGIApp:
    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        incoming = headers.get(b"x-request-id", b"").decode("latin-1")[:64]
        request_id = incoming if incoming.replace("-", "").isalnum() else uuid.uuid4().hex
        structlog.contextvars.clear_contextvars()
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status: dict[str, Any] = {"code": 500, "stream": False}
        runtime = getattr(scope["app"].state, "runtime", None)
        metrics: PrometheusMetrics | None = getattr(runtime, "metrics", None)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
                headers = message.get("headers", [])
                message["headers"] = [*headers, (b"x-request-id", request_id.encode())]
                if metrics is not None and any(
                    name.lower() == b"content-type" and value.startswith(b"text/event-stream")
                    for name, value in headers
                ):
                    status["stream"] = True
                    metrics.stream_opened()
            await send(message)

        try:
            await app(scope, receive, send_with_id)
        finally:
            if metrics is not None:
                if status["stream"]:
                    metrics.stream_closed()
                route = scope.get("path_template") or "unmatched"  # a template: bounded label values
                metrics.http_request(str(scope.get("method")), route, status["code"], time.perf_counter() - started)
            state = scope.get("state") or {}
            log.info(
                "request",
                method=scope.get("method"),
                path=scope.get("path"),
                status=status["code"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                team_id=state.get("team_id"),
                **state.get(CALL_FACTS, {}),
            )

    return middleware


CALL_FACTS = "call_facts"


def note_call(scope: Scope, call: LlmCall) -> None:
    """Put a call's facts on its request's one log line (job, call, provider, tokens, cost)."""
    scope.setdefault("state", {})[CALL_FACTS] = {
        "job_id": str(call.job_id),
        "call_id": str(call.id),
        "provider": str(call.provider),
        "model": call.alias,
        "call_status": call.status.value,
        "latency_ms": call.latency_ms,
        "tokens": call.usage.total_tokens,
        "provider_cost_usd": str(call.cost.provider_cost_usd),
        "customer_price_usd": str(call.cost.customer_price_usd),
        "credits": str(call.credits),
    }
