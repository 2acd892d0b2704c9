"""A guided tour a new user can run with no provider keys: `make demo` / `saasllm demo`.

It seeds the demo organization (slug ``demo``), its team, a credential of the ``fake``
demo provider and the ``demo-fast`` alias (directly through the use cases, as an
operator would), then drives the running server's client API over HTTP: a job with
three calls, one of them streamed, and its completion. Run again, it reuses all of
them and only issues the team a fresh key (keys are shown once, never stored).
"""

import json
from decimal import Decimal
from typing import Any

import httpx

from adapters.providers.fake import FAKE_PROVIDER
from domain.budgets import BudgetMode, BudgetPolicy
from domain.pricing import PriceSheet
from entrypoints.bootstrap import Services

DEMO_ALIAS = "demo-fast"
DEMO_SLUG = "demo"
DEMO_TEAM = "Demo team"
DEMO_GROUP = "demo"


async def seed(services: Services) -> tuple[str, str]:
    """The demo organization, credential, alias and team (each made once); returns
    (team_id, a new key of the team)."""
    organization = await services.organizations.find_organization(DEMO_SLUG)
    if organization is None:
        organization = await services.organizations.create_organization(name="Demo org", slug=DEMO_SLUG)
    stored = await services.credentials.stored_keys(organization.id)
    if not any(provider == FAKE_PROVIDER for provider, _, _ in stored):
        # The fake provider checks no key; like any provider it needs a credential.
        await services.credentials.add_credential(
            organization_id=organization.id, provider=FAKE_PROVIDER, name="demo", api_key="demo-key-not-checked"
        )
    if await services.models.get_alias(DEMO_ALIAS) is None:
        await services.models.create_alias(
            alias=DEMO_ALIAS,
            provider=FAKE_PROVIDER,
            provider_model="fake-fast",
            customer_prices=PriceSheet(input_per_million=Decimal("1.00"), output_per_million=Decimal("4.00")),
            provider_costs=PriceSheet(input_per_million=Decimal("0.50"), output_per_million=Decimal("2.00")),
            default_max_tokens=256,
            access_groups=(DEMO_GROUP,),
        )
    team = await services.organizations.find_team(organization.id, DEMO_TEAM)
    if team is None:
        team, key = await services.organizations.create_team(
            organization_id=organization.id,
            name=DEMO_TEAM,
            budget=BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD),
            credits=Decimal(100),
            access_groups=(DEMO_GROUP,),
        )
    else:
        key = await services.organizations.issue_key(team.id)
    return str(team.id), key.api_key


class DemoError(RuntimeError):
    """The server refused a step of the tour (the message says which and why)."""


async def server_answers(base_url: str) -> bool:
    """Whether a server answers ``GET /health`` at ``base_url``."""
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=5) as http:
            return (await http.get("/health")).status_code == 200
    except httpx.HTTPError:
        return False


def next_steps(base_url: str, team_id: str, api_key: str) -> list[str]:
    """What to type to go on by hand: the team, its key (shown this once) and the alias, with curl."""
    auth = '-H "Authorization: Bearer $SAASLLM_KEY" -H "Content-Type: application/json"'
    call = {"model": DEMO_ALIAS, "messages": [{"role": "user", "content": "Hello"}]}
    return [
        f"team {team_id}, alias {DEMO_ALIAS}, key {api_key} (shown once: keep it to go on by hand)",
        f"  export SAASLLM_KEY={api_key}",
        f"  curl -s {base_url}/api/jobs/create {auth} -d '{json.dumps({'job_type': 'by-hand'})}'",
        f"  curl -s {base_url}/api/jobs/JOB_ID/llm-call {auth} -d '{json.dumps(call)}'",
        f"  curl -s {base_url}/api/jobs/JOB_ID/complete {auth} -d '{{}}'",
        f"  curl -s {base_url}/api/teams/{team_id}/credits {auth}",
    ]


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
                raise DemoError(f"stream refused: {response.status_code} {(await response.aread()).decode()}")
            event = ""
            async for line in response.aiter_lines():
                if line.startswith("event: "):
                    event = line[7:]
                elif line.startswith("data: ") and event == "done":
                    done = json.loads(line[6:])
                    out(f"  streamed call {done['call_id']}: {done['usage']['total_tokens']} tokens")
                elif line.startswith("data: ") and event == "error":
                    raise DemoError(f"stream failed: {line[6:]}")
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
        raise DemoError(f"{request.method} {request.url.path} → {response.status_code}: {response.text}")
    body: dict[str, Any] = response.json()
    return body
