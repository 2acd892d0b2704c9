"""A guided tour a new user can run with no provider keys: `make demo` / `saasllm demo`.

It seeds an organization, a team with credits and a `fake`-provider alias (directly
through the use cases, as an operator would), then drives the running server's client
API over HTTP: a job with three calls, one of them streamed, and its completion.
"""

import json
import secrets
from decimal import Decimal
from typing import Any

import httpx

from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.pricing import PriceSheet
from entrypoints.bootstrap import Services

DEMO_ALIAS = "demo-fast"


async def seed(services: Services) -> tuple[str, str]:
    """An organization, the demo alias (once) and a fresh team with 100 credits; returns (team_id, key)."""
    suffix = secrets.token_hex(3)
    organization = await services.organizations.create_organization(name=f"Demo org {suffix}")
    if await services.models.get_alias(DEMO_ALIAS) is None:
        await services.models.create_alias(
            alias=DEMO_ALIAS,
            provider=Provider.FAKE,
            provider_model="fake-fast",
            customer_prices=PriceSheet(input_per_million=Decimal("1.00"), output_per_million=Decimal("4.00")),
            provider_costs=PriceSheet(input_per_million=Decimal("0.50"), output_per_million=Decimal("2.00")),
            default_max_tokens=256,
            access_groups=("demo",),
        )
    team, key = await services.organizations.create_team(
        organization_id=organization.id,
        name="Demo team",
        budget=BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD),
        credits=Decimal(100),
        access_groups=("demo",),
    )
    return str(team.id), key.api_key


async def drive(base_url: str, team_id: str, api_key: str, out: Any = print) -> dict[str, Any]:
    """Run the client flow over HTTP and return the completion body."""
    headers = {"Authorization": f"Bearer {api_key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as http:
        job = _ok(await http.post("/api/jobs/create", json={"job_type": "demo", "metadata": {"source": "demo"}}))
        out(f"job {job['job_id']} created")
        questions = ["Summarise the plot of Hamlet.", "Name three prime numbers.", "Write a haiku about invoices."]
        for question in questions[:2]:
            body = {"model": DEMO_ALIAS, "messages": [{"role": "user", "content": question}], "purpose": "demo"}
            call = _ok(await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=body))
            out(f"  call {call['call_id']}: {call['usage']['total_tokens']} tokens, {call['latency_ms']} ms")
        body = {"model": DEMO_ALIAS, "messages": [{"role": "user", "content": questions[2]}]}
        async with http.stream("POST", f"/api/jobs/{job['job_id']}/llm-call-stream", json=body) as response:
            if response.status_code != 200:
                raise RuntimeError(f"stream refused: {response.status_code} {(await response.aread()).decode()}")
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "done":
                    done = json.loads(line[6:])
                    out(f"  streamed call {done['call_id']}: {done['usage']['total_tokens']} tokens")
                elif line.startswith("data: ") and event == "error":
                    raise RuntimeError(f"stream failed: {line[6:]}")
        completion = _ok(await http.post(f"/api/jobs/{job['job_id']}/complete", json={}))
        credits = _ok(await http.get(f"/api/teams/{team_id}/credits"))
    costs = completion["costs"]
    out(
        f"job completed: {costs['total_calls']} calls, {costs['total_tokens']} tokens, "
        f"provider cost ${costs['provider_cost_usd']}, customer price ${costs['customer_cost_usd']}, "
        f"margin ${costs['margin_usd']}, credits deducted {completion['credits_deducted']}, "
        f"remaining {credits['remaining']}"
    )
    return dict(completion)


def _ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        request = response.request
        raise RuntimeError(f"{request.method} {request.url.path} → {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body
