"""The role matrix, over HTTP: every admin endpoint × every kind of caller.

Callers: owner, admin and viewer (unscoped), an admin scoped to the resources'
organization ("scoped"), an admin scoped to another organization ("outsider"), and five
that must all get 401: no token, an expired one, ``alg: none``, one signed with another
key, and a valid one whose claims were changed. Each (endpoint, caller) pair runs on
fresh resources, so a successful write never changes what the next caller sees.
"""

import itertools
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from adapters.security.jwt import JwtTokenCodec
from application.principal import TeamPrincipal
from domain.admins import AdminRole
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.ids import JobId, TeamId
from tests.e2e.admin_helpers import PASSWORD, admin_token, claims_of, setup_owner, unsigned, with_claims
from tests.e2e.conftest import Server
from tests.support.seeding import CUSTOMER, PROVIDER

OK = 0  # the endpoint's success status, filled in per case
GOOD = ("owner", "admin", "viewer", "scoped", "outsider")
BAD = ("no token", "expired", "alg none", "wrong key", "tampered claims")

KINDS: dict[str, dict[str, int]] = {
    # Reads of one organization's resources: every role, but only admins who see it.
    "read_org": {"owner": OK, "admin": OK, "viewer": OK, "scoped": OK, "outsider": 404},
    # Writes there: viewers never (403, whatever the target), other organizations 404.
    "write_org": {"owner": OK, "admin": OK, "viewer": 403, "scoped": OK, "outsider": 404},
    # Listings and platform-wide reads: everyone (scoped callers get their own slice).
    "read_any": {"owner": OK, "admin": OK, "viewer": OK, "scoped": OK, "outsider": OK},
    # Platform-wide configuration and new organizations: unscoped admins only.
    "write_platform": {"owner": OK, "admin": OK, "viewer": 403, "scoped": 403, "outsider": 403},
    # Deleting an organization (a fresh one, outside both scoped callers' organizations).
    "delete_org": {"owner": OK, "admin": OK, "viewer": 403, "scoped": 404, "outsider": 404},
    # Admin users: owners only.
    "owner_only": {"owner": OK, "admin": 403, "viewer": 403, "scoped": 403, "outsider": 403},
}


@dataclass(frozen=True)
class Case:
    method: str
    path: str  # placeholders: {org} {empty_org} {team} {key} {job} {credential} {alias} {group} {user} {webhook}
    kind: str
    body: dict[str, Any] | None = None
    ok: int = 200

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


CASES = [
    # organizations
    Case("POST", "/api/organizations/create", "write_platform", {"name": "Org {uniq}"}, ok=201),
    Case("GET", "/api/organizations", "read_any"),
    Case("GET", "/api/organizations/{org}", "read_org"),
    Case("PUT", "/api/organizations/{org}", "write_org", {"name": "Acme"}),
    Case("DELETE", "/api/organizations/{empty_org}", "delete_org", ok=204),
    Case("GET", "/api/organizations/{org}/usage", "read_org"),
    # teams, their credits and keys
    Case("POST", "/api/teams/create", "write_org",
         {"organization_id": "{org}", "name": "T {uniq}", "budget_mode": "job_based", "credits": "5"}, ok=201),
    Case("GET", "/api/teams", "read_any"),
    Case("GET", "/api/teams?organization_id={org}", "read_org"),
    Case("GET", "/api/teams/{team}", "read_org"),
    Case("PUT", "/api/teams/{team}", "write_org", {"name": "renamed", "tokens_per_credit": 500}),
    Case("GET", "/api/teams/{team}/credits", "read_org"),
    Case("POST", "/api/teams/{team}/credits", "write_org",
         {"amount": "2.5", "reason": "r", "idempotency_key": "{uniq}"}),
    Case("GET", "/api/teams/{team}/credits/transactions", "read_org"),
    Case("PUT", "/api/teams/{team}/suspend", "write_org"),
    Case("PUT", "/api/teams/{team}/resume", "write_org"),
    Case("POST", "/api/teams/{team}/keys", "write_org", ok=201),
    Case("GET", "/api/teams/{team}/keys", "read_org"),
    Case("DELETE", "/api/teams/{team}/keys/{key}", "write_org", ok=204),
    Case("GET", "/api/teams/{team}/usage", "read_org"),
    # model aliases and access groups
    Case("POST", "/api/models/create", "write_platform",
         {"alias": "m-{uniq}", "provider": "openai", "provider_model": "gpt-test", "input_price_per_million": "2",
          "output_price_per_million": "8", "provider_input_cost_per_million": "1",
          "provider_output_cost_per_million": "4"}, ok=201),
    Case("GET", "/api/models", "read_any"),
    Case("GET", "/api/models/{alias}", "read_any"),
    Case("PUT", "/api/models/{alias}", "write_platform", {"default_max_tokens": 99}),
    Case("DELETE", "/api/models/{alias}", "write_platform", ok=204),
    Case("POST", "/api/model-access-groups/create", "write_platform", {"name": "g-{uniq}", "models": ["smart"]},
         ok=201),
    Case("GET", "/api/model-access-groups", "read_any"),
    Case("PUT", "/api/model-access-groups/{group}", "write_platform", {"models": ["smart", "premium"]}),
    Case("DELETE", "/api/model-access-groups/{group}", "write_platform", ok=204),
    # provider credentials
    Case("POST", "/api/provider-credentials/create", "write_org",
         {"organization_id": "{org}", "provider": "anthropic", "name": "c {uniq}", "api_key": "sk-ant-matrix-{uniq}"},
         ok=201),
    Case("GET", "/api/provider-credentials/organization/{org}", "read_org"),
    Case("PUT", "/api/provider-credentials/{credential}", "write_org", {"name": "renamed"}),
    Case("DELETE", "/api/provider-credentials/{credential}", "write_org", ok=204),
    Case("PUT", "/api/provider-credentials/{credential}/activate", "write_org"),
    Case("PUT", "/api/provider-credentials/{credential}/deactivate", "write_org"),
    # price list, jobs, dashboard
    Case("GET", "/api/pricing", "read_any"),
    Case("GET", "/api/jobs", "read_any"),
    Case("GET", "/api/jobs?team_id={team}&status=pending", "read_org"),
    Case("GET", "/api/jobs/{job}", "read_org"),
    Case("GET", "/api/analytics/overview", "read_any"),
    Case("GET", "/api/analytics/overview?organization_id={org}", "read_org"),
    # job economics (issue 15)
    Case("GET", "/api/analytics/job-types", "read_any"),
    Case("GET", "/api/analytics/job-types?organization_id={org}&target_margin=0.3", "read_org"),
    Case("GET", "/api/jobs/export.csv", "read_any"),
    Case("GET", "/api/jobs/export.csv?team_id={team}", "read_org"),
    Case("GET", "/api/teams/{finished_team}/quote?job_type=matrix", "read_org"),
    # admin users (owner only), audit log, webhooks
    Case("POST", "/api/users/create", "owner_only",
         {"email": "u-{uniq}@example.com", "password": PASSWORD, "role": "viewer"}, ok=201),
    Case("GET", "/api/users", "owner_only"),
    Case("PUT", "/api/users/{user}", "owner_only", {"role": "admin"}),
    Case("DELETE", "/api/users/{user}", "owner_only", ok=204),
    Case("GET", "/api/audit-log", "read_any"),
    Case("POST", "/api/webhooks/create", "write_org",
         {"organization_id": "{org}", "url": "https://example.com/{uniq}", "events": ["job.completed"]}, ok=201),
    Case("GET", "/api/webhooks", "read_any"),
    Case("GET", "/api/webhooks?organization_id={org}", "read_org"),
    Case("PUT", "/api/webhooks/{webhook}", "write_org", {"events": ["job.completed", "team.credits_low"]}),
    Case("POST", "/api/webhooks/{webhook}/rotate-secret", "write_org"),
    Case("DELETE", "/api/webhooks/{webhook}", "write_org", ok=204),
]  # fmt: skip

_counter = itertools.count()


@dataclass
class Fresh:
    """Resources of the scoped callers' organization, created on first use."""

    server: Server
    values: dict[str, str] = field(default_factory=dict)

    async def get(self, name: str) -> str:
        if name not in self.values:
            self.values[name] = await getattr(self, f"_{name}")()
        return self.values[name]

    async def _uniq(self) -> str:
        return f"{next(_counter)}{uuid4().hex[:6]}"

    async def _org(self) -> str:
        return str(self.server.organization.id)

    async def _empty_org(self) -> str:
        org = await self.server.services.organizations.create_organization(name=f"Empty {await self.get('uniq')}")
        return str(org.id)

    async def _team(self) -> str:
        team, key = await self.server.services.organizations.create_team(
            organization_id=self.server.organization.id,
            name="matrix",
            budget=BudgetPolicy(mode=BudgetMode.JOB_BASED),
            credits=Decimal(10),
            access_groups=("standard",),
        )
        self.values["team_key"] = key.api_key
        return str(team.id)

    async def _finished_team(self) -> str:
        """The team after one finished job of type "matrix" (a history to quote from)."""
        await self.get("job")
        principal: TeamPrincipal = await self.server.services.client_auth.authenticate(self.values["team_key"])
        await self.server.services.jobs.complete_job(principal, JobId(UUID(await self.get("job"))))
        return await self.get("team")

    async def _key(self) -> str:
        key = await self.server.services.organizations.issue_key(TeamId(UUID(await self.get("team"))))
        return str(key.key_id)

    async def _job(self) -> str:
        await self.get("team")
        principal: TeamPrincipal = await self.server.services.client_auth.authenticate(self.values["team_key"])
        job, _ = await self.server.services.jobs.create_job(principal, job_type="matrix")
        return str(job.id)

    async def _credential(self) -> str:
        credential = await self.server.services.credentials.add_credential(
            organization_id=self.server.organization.id,
            provider=Provider.GEMINI,
            name="matrix",
            api_key=f"gm-matrix-secret-{await self.get('uniq')}",
        )
        return str(credential.id)

    async def _webhook(self) -> str:
        issued = await self.server.services.webhooks.create(
            None,
            organization_id=self.server.organization.id,
            url="https://example.com/matrix",
            events=["job.completed"],
        )
        return str(issued.webhook.id)

    async def _alias(self) -> str:
        alias = await self.server.services.models.create_alias(
            alias=f"alias-{await self.get('uniq')}",
            provider=Provider.OPENAI,
            provider_model="gpt-test",
            customer_prices=CUSTOMER,
            provider_costs=PROVIDER,
        )
        return alias.alias

    async def _group(self) -> str:
        group = await self.server.services.models.create_access_group(name=f"group-{await self.get('uniq')}")
        return group.name

    async def _user(self) -> str:
        user = await self.server.services.admin_auth.create_user(
            email=f"target-{await self.get('uniq')}@example.com", password=PASSWORD, role=AdminRole.VIEWER
        )
        return str(user.id)


async def fill(text: str, fresh: Fresh) -> str:
    while "{" in text:
        start = text.index("{")
        name = text[start + 1 : text.index("}", start)]
        text = text.replace("{" + name + "}", await fresh.get(name))
    return text


async def fill_body(body: Any, fresh: Fresh) -> Any:
    if isinstance(body, str):
        return await fill(body, fresh)
    if isinstance(body, list):
        return [await fill_body(b, fresh) for b in body]
    if isinstance(body, dict):
        return {k: await fill_body(v, fresh) for k, v in body.items()}
    return body


@pytest.fixture(scope="module")
async def callers(server: Server) -> dict[str, str | None]:
    owner = await setup_owner(server)
    other = await server.services.organizations.create_organization(name="Other Org")
    expired = JwtTokenCodec(server.settings.jwt_secret, ttl_s=-60).issue(
        {k: v for k, v in claims_of(owner).items() if k in {"sub", "email", "role", "org"}}
    )
    viewer = await admin_token(server, AdminRole.VIEWER)
    return {
        "owner": owner,
        "admin": await admin_token(server, AdminRole.ADMIN),
        "viewer": viewer,
        "scoped": await admin_token(server, AdminRole.ADMIN, server.organization),
        "outsider": await admin_token(server, AdminRole.ADMIN, other),
        "no token": None,
        "expired": expired,
        "alg none": unsigned(claims_of(owner)),
        "wrong key": JwtTokenCodec("another secret of at least 32 characters").issue(
            {k: v for k, v in claims_of(owner).items() if k in {"sub", "email", "role", "org"}}
        ),
        # A viewer's token rewritten to claim the owner's identity and role, signature kept.
        "tampered claims": with_claims(viewer, sub=claims_of(owner)["sub"], role="owner"),
    }


@pytest.fixture(scope="module")
async def http(server: Server) -> AsyncIterator[httpx.AsyncClient]:
    """One keep-alive client (a new client per request costs more than the request)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        yield client


async def call(http: httpx.AsyncClient, token: str | None, case: Case, fresh: Fresh) -> tuple[int, dict[str, Any]]:
    path = await fill(case.path, fresh)
    body = await fill_body(case.body, fresh) if case.body is not None else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.request(case.method, path, json=body, headers=headers)
    # Problems are JSON; a successful export is CSV (its rows are tested in test_job_economics).
    is_json = "json" in response.headers.get("content-type", "")
    payload = response.json() if response.content and is_json else {}
    return response.status_code, payload


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
async def test_every_caller_gets_the_right_status(
    server: Server, http: httpx.AsyncClient, callers: dict[str, str | None], case: Case
) -> None:
    expected = {who: (case.ok if status == OK else status) for who, status in KINDS[case.kind].items()}
    expected.update(dict.fromkeys(BAD, 401))
    seen: dict[str, int] = {}
    for who, token in callers.items():
        status, payload = await call(http, token, case, Fresh(server))
        seen[who] = status
        if status >= 400:
            assert payload["code"] == {401: "unauthorized", 403: "forbidden", 404: "not_found"}.get(status), payload
    assert seen == expected


# Routes of the client API (team key only) and the unauthenticated ones.
NOT_ADMIN = {
    ("POST", "/api/auth/login"),
    ("POST", "/api/setup"),
    ("GET", "/api/setup/status"),
    ("POST", "/api/jobs/create"),
    ("POST", "/api/jobs/create-and-call"),
    ("POST", "/api/jobs/create-and-call-stream"),
    ("POST", "/api/jobs/{job_id:uuid}/llm-call"),
    ("POST", "/api/jobs/{job_id:uuid}/llm-call-stream"),
    ("POST", "/api/jobs/{job_id:uuid}/complete"),
    ("PATCH", "/api/jobs/{job_id:uuid}/metadata"),
    ("GET", "/api/teams/{team_id:uuid}/jobs"),
    ("POST", "/api/quotes"),  # team key only
}
PLACEHOLDERS = {
    "{org}": "{org_id:uuid}",
    "{empty_org}": "{org_id:uuid}",
    "{team}": "{team_id:uuid}",
    "{finished_team}": "{team_id:uuid}",
    "{key}": "{key_id:uuid}",
    "{job}": "{job_id:uuid}",
    "{credential}": "{credential_id:uuid}",
    "{alias}": "{alias:path}",
    "{group}": "{name:path}",
    "{user}": "{user_id:uuid}",
    "{webhook}": "{webhook_id:uuid}",
}


def test_the_matrix_covers_every_admin_route(server: Server) -> None:
    from entrypoints.http.app import create_app

    routes = {
        (method, route.path)
        for route in create_app(server.settings).routes
        if route.path.startswith("/api/")
        for method in getattr(route, "methods", ())
        if method not in {"OPTIONS", "HEAD"}
    }
    covered = set()
    for case in CASES:
        path = case.path.split("?")[0]
        for placeholder, param in PLACEHOLDERS.items():
            path = path.replace(placeholder, param)
        covered.add((case.method, path))
    assert routes - NOT_ADMIN - covered == set()
    assert covered - routes == set()
