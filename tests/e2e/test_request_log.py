"""One log line per request carries the call's facts; a failed provider call warns."""

import logging
from decimal import Decimal

import pytest
import structlog

from domain.budgets import BudgetMode
from tests.e2e.conftest import Server, openai_usage
from tests.support.fake_provider import Reply

CALL = {"model": "smart", "messages": [{"role": "user", "content": "Hello"}]}


async def test_the_request_line_names_the_job_call_provider_tokens_and_cost(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(Reply(chunks=("Hi",), usage=openai_usage(1000, 500)), Reply(usage=openai_usage(3, 7)))
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        with structlog.testing.capture_logs() as logs:
            call = (await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)).json()
            await http.post(f"/api/jobs/{job['job_id']}/llm-call-stream", json=CALL)
    lines = [e for e in logs if e["event"] == "request" and "llm-call" in e["path"]]
    assert len(lines) == 2  # one line per request
    plain, streamed = lines
    assert plain["call_id"] == call["call_id"] and plain["job_id"] == job["job_id"]
    assert (plain["provider"], plain["tokens"], plain["status"]) == ("openai", 1500, 200)
    assert Decimal(plain["customer_price_usd"]) == Decimal("0.006")
    assert Decimal(plain["provider_cost_usd"]) == Decimal("0.003")
    assert streamed["tokens"] == 10 and streamed["call_status"] == "succeeded"


async def test_a_failed_provider_call_warns_with_the_family_and_no_secret(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    server.upstream.push(*(Reply(status=500, error="server") for _ in range(3)))
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        with caplog.at_level(logging.WARNING):
            response = await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
    assert response.status_code == 502
    (record,) = [r for r in caplog.records if r.getMessage() == "provider_call_failed"]
    assert record.levelno == logging.WARNING
    facts = record.__dict__
    assert facts["provider"] == "openai" and facts["model"] == "smart"
    assert facts["error"] == "ProviderUnavailableError" and facts["code"] == "provider_error"
    assert facts["credential"].startswith("sk-") and "9876" in facts["credential"]
    assert "sk-upstream-secret-9876" not in " ".join(str(v) for v in facts.values())
