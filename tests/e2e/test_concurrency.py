"""Many streamed calls in one job racing its completion: nothing lost, charged once."""

import asyncio
from decimal import Decimal

import httpx

from domain.budgets import BudgetMode
from tests.e2e.conftest import Server, openai_usage
from tests.support.fake_provider import Reply

D = Decimal
CALL = {"model": "smart", "messages": [{"role": "user", "content": "Hello"}]}


async def test_fifty_concurrent_streams_and_a_concurrent_completion(server: Server) -> None:
    team, key = await server.team(BudgetMode.CONSUMPTION_USD, credits=D(10))
    for _ in range(50):
        server.upstream.push(Reply(chunks=("ab", "cd", "ef"), usage=openai_usage(100, 30), chunk_delay_s=0.01))
    async with server.client(key, limits=httpx.Limits(max_connections=100)) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "race"})).json()
        url = f"/api/jobs/{job['job_id']}/llm-call-stream"

        async def one_stream() -> tuple[int, str]:
            response = await http.post(url, json=CALL)
            return response.status_code, response.text

        async def complete_midway() -> dict[str, object]:
            await asyncio.sleep(0.03)
            return dict((await http.post(f"/api/jobs/{job['job_id']}/complete")).json())

        *streams, completion = await asyncio.gather(*(one_stream() for _ in range(50)), complete_midway())
        accepted = [text for status, text in streams if status == 200]
        refused = [text for status, text in streams if status != 200]
        assert all('"job_not_active"' in text for text in refused)
        assert all("event: done" in text for text in accepted)
        detail = (await http.get(f"/api/jobs/{job['job_id']}")).json()
        calls = detail["calls"]
        assert len(calls) == len(accepted)  # every accepted call recorded, none invented
        charged = sum(D(c["credits"]) for c in calls)
        credits = (await http.get(f"/api/teams/{team.id}/credits")).json()
        assert credits["held"] == "0"
        assert D(credits["used"]) == charged
        assert D(credits["remaining"]) == D(10) - charged >= 0
        assert D(detail["credits_deducted"]) == charged
        again = (await http.post(f"/api/jobs/{job['job_id']}/complete")).json()
        assert again["status"] == completion["status"] == "completed"
        assert D((await http.get(f"/api/teams/{team.id}/credits")).json()["used"]) == charged
