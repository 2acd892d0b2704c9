"""The admin panel over HTTP: who may post what, CSRF, the session cookie, secrets never echoed.

The browser tests (``tests/browser/``) walk the pages; these pin the rules on every route,
also where no browser is installed.
"""

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest

from adapters.memory.system import FakeClock
from domain.admins import AdminPrincipal, AdminRole
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.ids import AdminUserId, TeamId
from domain.organizations import TeamStatus
from domain.pricing import PriceSheet
from entrypoints.http.admin.models import CUSTOMER_PRICES, PROVIDER_COSTS, alias_form
from entrypoints.runtime import Runtime, open_memory_runtime
from entrypoints.settings import Settings, load_settings
from tests.e2e.admin_helpers import PASSWORD, admin_token
from tests.e2e.conftest import Server, free_port, serve
from tests.e2e.panel_helpers import Panel, csrf_token
from tests.support.seeding import CUSTOMER, PROVIDER

D = Decimal
AUTH_ROUTES = {"/admin/setup", "/admin/login", "/admin/logout"}
SYSTEM = AdminPrincipal(user_id=AdminUserId(uuid4()), email="test", role=AdminRole.OWNER)  # for reading back


@dataclass(frozen=True)
class Write:
    path: str  # placeholders: {org} {team} {key} {credential} {alias} {group} {user} {webhook} {uniq}
    kind: str  # "org": viewers 403, other organizations 404 · "platform" and "owner": 403 for both
    form: dict[str, str]


WRITES = [
    Write("/admin/organizations", "platform", {"name": "Org {uniq}"}),
    Write("/admin/organizations/{org}", "org", {"name": "Acme", "slug": "acme-{uniq}"}),
    Write("/admin/organizations/{org}/delete", "org", {}),
    Write("/admin/teams", "org", {"organization_id": "{org}", "name": "T {uniq}", "budget_mode": "job_based"}),
    Write(
        "/admin/teams/{team}/settings",
        "org",
        {
            "name": "renamed",
            "budget_mode": "job_based",
            "credits_per_usd": "10",
            "tokens_per_credit": "10000",
            "max_calls_per_job": "5",
        },
    ),
    Write("/admin/teams/{team}/suspend", "org", {}),
    Write("/admin/teams/{team}/resume", "org", {}),
    Write("/admin/teams/{team}/credits", "org", {"amount": "1000", "idempotency_key": "{uniq}"}),
    Write("/admin/teams/{team}/keys", "org", {}),
    Write("/admin/teams/{team}/keys/{key}/revoke", "org", {}),
    Write(
        "/admin/models",
        "platform",
        {
            "alias": "a-{uniq}",
            "provider": "openai",
            "provider_model": "gpt-test",
            "input_price_per_million": "1",
            "output_price_per_million": "2",
            "provider_input_cost_per_million": "1",
            "provider_output_cost_per_million": "1",
            "default_max_tokens": "100",
        },
    ),
    Write(
        "/admin/models/alias/{alias}",
        "platform",
        {
            "provider": "openai",
            "provider_model": "gpt-other",
            "input_price_per_million": "9",
            "output_price_per_million": "9",
            "default_max_tokens": "100",
        },
    ),
    Write("/admin/models/delete/{alias}", "platform", {}),
    Write("/admin/access-groups", "platform", {"name": "g-{uniq}"}),
    Write("/admin/access-groups/edit/{group}", "platform", {"models": "{alias}"}),
    Write("/admin/access-groups/delete/{group}", "platform", {}),
    Write(
        "/admin/credentials",
        "org",
        {"organization_id": "{org}", "provider": "openai", "name": "n", "api_key": "sk-forged-key-123456"},
    ),
    Write("/admin/credentials/{credential}/activate", "org", {}),
    Write("/admin/credentials/{credential}/deactivate", "org", {}),
    Write("/admin/credentials/{credential}/delete", "org", {"organization_id": "{org}"}),
    Write("/admin/users", "owner", {"email": "u-{uniq}@example.com", "password": PASSWORD, "role": "owner"}),
    Write("/admin/users/{user}", "owner", {"role": "owner"}),
    Write("/admin/users/{user}/delete", "owner", {}),
    Write(
        "/admin/webhooks",
        "org",
        {"organization_id": "{org}", "url": "http://127.0.0.1:9/hook", "events": "job.completed"},
    ),
    Write("/admin/webhooks/{webhook}/rotate-secret", "org", {}),
    Write("/admin/webhooks/{webhook}/toggle", "org", {}),
    Write("/admin/webhooks/{webhook}/delete", "org", {}),
]
PARAMS = {
    "{org}": "{organization_id:uuid}",
    "{team}": "{team_id:uuid}",
    "{key}": "{key_id:uuid}",
    "{credential}": "{credential_id:uuid}",
    "{alias}": "{alias:path}",
    "{group}": "{name:path}",
    "{user}": "{user_id:uuid}",
    "{webhook}": "{webhook_id:uuid}",
}
EXPECTED = {
    "viewer": {"org": 403, "platform": 403, "owner": 403},
    "outsider": {"org": 404, "platform": 403, "owner": 403},  # an admin of another organization
}


async def panel_user(server: Server, role: AdminRole, organization_id: Any = None) -> tuple[str, Panel]:
    email = f"{role}-{uuid4().hex[:8]}@example.com"
    await server.services.admin_auth.create_user(
        email=email, password=PASSWORD, role=role, organization_id=organization_id
    )
    panel = Panel(server.url)
    await panel.sign_in(email)
    return email, panel


async def fresh_targets(server: Server) -> dict[str, str]:
    """Resources of the server's organization for one write to aim at."""
    services, uniq = server.services, uuid4().hex[:8]
    org = server.organization
    team, key = await services.organizations.create_team(
        organization_id=org.id, name=f"team {uniq}", budget=BudgetPolicy(mode=BudgetMode.JOB_BASED), credits=D(3)
    )
    credential = await services.credentials.add_credential(
        organization_id=org.id, provider=Provider.OPENAI, name=f"c {uniq}", api_key="sk-target-0000"
    )
    alias = await services.models.create_alias(
        alias=f"m-{uniq}", provider=Provider.OPENAI, provider_model="gpt-test", customer_prices=CUSTOMER,
        provider_costs=PROVIDER,
    )  # fmt: skip
    group = await services.models.create_access_group(name=f"g-{uniq}")
    user = await services.admin_auth.create_user(
        email=f"target-{uniq}@example.com", password=PASSWORD, role=AdminRole.VIEWER
    )
    webhook = await services.webhooks.create(
        None, organization_id=org.id, url="http://127.0.0.1:9/hook", events=["job.completed"]
    )
    return {
        "{org}": str(org.id),
        "{team}": str(team.id),
        "{key}": str(key.key_id),
        "{credential}": str(credential.id),
        "{alias}": alias.alias,
        "{group}": group.name,
        "{user}": str(user.id),
        "{webhook}": str(webhook.webhook.id),
        "{uniq}": uniq,
    }


def fill(text: str, targets: dict[str, str]) -> str:
    for placeholder, value in targets.items():
        text = text.replace(placeholder, value)
    return text


@pytest.fixture(scope="module")
async def owner(server: Server) -> str:
    """The first owner, through the panel's setup page; the module's other users are created by it."""
    async with Panel(server.url) as panel:
        response = await panel.post(
            "/admin/setup", {"email": "owner@example.com", "password": PASSWORD, "password_again": PASSWORD}
        )
        assert response.status_code == 303 and response.headers["location"].endswith("notice=setup_done")
    return "owner@example.com"


@pytest.mark.parametrize("caller", ["viewer", "outsider"])
async def test_every_panel_write_is_refused_by_the_use_cases_to_callers_without_the_right(
    server: Server, owner: str, caller: str
) -> None:
    other = await server.services.organizations.create_organization(name=f"Other {uuid4().hex[:6]}")
    if caller == "viewer":
        email, panel = await panel_user(server, AdminRole.VIEWER)
    else:
        email, panel = await panel_user(server, AdminRole.ADMIN, other.id)
    targets = await fresh_targets(server)  # every write is refused: they can share their targets
    async with panel:
        for write in WRITES:
            response = await panel.post(fill(write.path, targets), {k: fill(v, targets) for k, v in write.form.items()})
            expected = EXPECTED[caller][write.kind]
            assert response.status_code == expected, f"{caller} {write.path}: {response.status_code}"
            assert "text/html" in response.headers["content-type"]  # an error page, not problem+json
            team = await server.services.organizations.get_team(SYSTEM, TeamId(UUID(targets["{team}"])))
            assert team.status is TeamStatus.ACTIVE and team.name.startswith("team ")
    entries = await server.services.admin_users.audit_log(SYSTEM, before_id=None, limit=500)
    assert [e.action for e in entries if e.actor_email == email] == []  # not one write went through


def test_the_write_matrix_covers_every_panel_form(server: Server) -> None:
    from entrypoints.http.app import create_app

    routes = {
        route.path
        for route in create_app(server.settings).routes
        if route.path.startswith("/admin/") and "POST" in getattr(route, "methods", ())
    }
    covered = {fill(w.path, PARAMS) for w in WRITES}
    assert routes - AUTH_ROUTES - covered == set()
    assert covered - routes == set()


async def test_the_json_api_needs_no_csrf_token_and_ignores_the_panel_cookie(server: Server, owner: str) -> None:
    async with Panel(server.url) as panel:
        await panel.sign_in(owner)
        refused = await panel.http.post("/admin/organizations", data={"name": "No token"})
        assert refused.status_code == 403
        assert "security token is missing or stale" in refused.text
        # The same cookie jar on the API: the session cookie is scoped to /admin and is no credential.
        assert (await panel.http.post("/api/organizations/create", json={"name": "Cookie only"})).status_code == 401
    token = await admin_token(server, AdminRole.ADMIN)
    async with server.client(token) as api:
        created = await api.post("/api/organizations/create", json={"name": f"Bearer {uuid4().hex[:6]}"})
        assert created.status_code == 201  # no CSRF token, no cookie: bearer tokens only


async def test_the_session_cookie_is_httponly_strict_and_scoped_to_the_panel(server: Server, owner: str) -> None:
    async with Panel(server.url) as panel:
        response = await panel.sign_in(owner)
        cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("saasllm_admin="))
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie and "Path=/admin" in cookie
        assert "Max-Age=900" in cookie  # the token's own lifetime
        assert "Secure" not in cookie  # plain http outside production (see the unit test for production)
        page = await panel.get("/admin")
        assert page.headers["cache-control"] == "no-store"
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


async def test_an_expired_session_goes_to_login_also_from_htmx(server: Server, owner: str) -> None:
    stale = {"Cookie": "saasllm_admin=not.a.token"}
    async with Panel(server.url) as panel:
        page = await panel.get("/admin/pricing?sort=alias", headers=stale)
        assert page.status_code == 303
        assert page.headers["location"] == "/admin/login?expired=1&next=%2Fadmin%2Fpricing%3Fsort%3Dalias"
        assert 'saasllm_admin=""' in page.headers["set-cookie"] or "saasllm_admin=;" in page.headers["set-cookie"]
        login = await panel.get(page.headers["location"])
        assert "Your session has expired" in login.text
        fragment = await panel.get("/admin/models/catalog-price", headers={**stale, "HX-Request": "true"})
        assert fragment.status_code == 200 and fragment.headers["hx-redirect"].startswith("/admin/login?expired=1")
        assert (await panel.get("/admin/teams")).headers["location"] == "/admin/login?next=%2Fadmin%2Fteams"
        # The session is checked before any parameter is read: no 400 for a stranger's bad query.
        for probe in ("/admin?days=many", "/admin/jobs?status=bogus", f"/admin/teams/{uuid4()}/ledger?cursor=x"):
            anonymous = await panel.get(probe)
            assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/admin/login?next=")


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example/admin", "/admin\\@evil.example", "/adminx"])
async def test_signing_in_never_redirects_off_the_panel(server: Server, owner: str, target: str) -> None:
    async with Panel(server.url) as panel:
        response = await panel.post("/admin/login", {"email": owner, "password": PASSWORD, "next": target})
        assert response.status_code == 303 and response.headers["location"] == "/admin"


async def test_a_wrong_password_is_refused_on_the_form(server: Server, owner: str) -> None:
    async with Panel(server.url) as panel:
        response = await panel.post("/admin/login", {"email": owner, "password": "not the password"})
        assert response.status_code == 401
        assert "The email or the password is wrong." in response.text
        assert "not the password" not in response.text
        assert "saasllm_admin" not in response.headers.get("set-cookie", "")


async def test_a_double_submitted_credits_form_applies_once(server: Server, owner: str) -> None:
    team = await a_team(server, "double")
    async with Panel(server.url) as panel:
        await panel.sign_in(owner)
        page = await panel.get(f"/admin/teams/{team.id}")
        key = re.search(r'name="idempotency_key" value="([0-9a-f]+)"', page.text)
        assert key is not None
        form = {"amount": "12.5", "reason": "top-up", "idempotency_key": key.group(1)}
        first = await panel.post(f"/admin/teams/{team.id}/credits", form, headers={"HX-Request": "true"})
        second = await panel.post(f"/admin/teams/{team.id}/credits", form, headers={"HX-Request": "true"})
        assert "Credits applied." in first.text
        assert "already applied; nothing changed" in second.text
        assert first.headers["hx-trigger"] == "team-changed"  # the ledger and status cards reload
        plain = await panel.post(f"/admin/teams/{team.id}/credits", form)
        assert plain.status_code == 303 and plain.headers["location"].endswith("notice=credits_repeat")
    balance = (await server.services.credits.team_credits(SYSTEM, team.id)).balance
    assert balance.allocated == D("12.5")


async def test_an_alias_edit_saves_the_prices_the_operator_changed_and_keeps_the_others(
    server: Server, owner: str
) -> None:
    await server.services.models.create_alias(
        alias="edit-prices",
        provider=Provider.OPENAI,
        provider_model="gpt-test",
        customer_prices=PriceSheet(input_per_million=Decimal("1"), output_per_million=Decimal("2")),
        provider_costs=PriceSheet(input_per_million=Decimal("0.5"), output_per_million=Decimal("1")),
    )
    current = await server.services.models.get_alias("edit-prices")
    assert current is not None
    shown = alias_form(current)  # what the edit page fills in
    fields = ("provider", "provider_model", "default_max_tokens", *CUSTOMER_PRICES, *PROVIDER_COSTS)
    form = {name: shown.value(name) for name in fields}
    form |= {"input_price_per_million": "1.5", "provider_output_cost_per_million": "1.25"}
    async with Panel(server.url) as panel:
        await panel.sign_in(owner)
        saved = await panel.post("/admin/models/alias/edit-prices", form)
    assert saved.status_code == 303, saved.text
    after = await server.services.models.get_alias("edit-prices")
    assert after is not None
    assert (after.customer_prices.input_per_million, after.customer_prices.output_per_million) == (
        Decimal("1.5"),
        Decimal("2"),
    )
    assert (after.provider_costs.input_per_million, after.provider_costs.output_per_million) == (
        Decimal("0.5"),
        Decimal("1.25"),
    )


async def test_field_errors_sit_next_to_their_field_and_keys_are_never_echoed(server: Server, owner: str) -> None:
    async with Panel(server.url) as panel:
        await panel.sign_in(owner)
        credential = {
            "organization_id": str(server.organization.id),
            "provider": "openai",
            "name": "bad base",
            "api_key": "sk-never-echo-me-4242",
            "api_base": "ftp://example.com",
        }
        alias = {
            "alias": "unknown-model",
            "provider": "openai",
            "provider_model": "no-such-model-anywhere",
            "input_price_per_million": "1",
            "output_price_per_million": "2",
            "default_max_tokens": "100",
        }
        credits = {"amount": "lots", "idempotency_key": "x"}
        for path, form, error in [
            ("/admin/credentials", credential, 'id="e-api_base">api_base must be an http'),
            (
                f"/admin/teams/{(await a_team(server, 'field errors')).id}/credits",
                credits,
                'id="e-amount">must be a decimal number',
            ),
            ("/admin/models", alias, 'id="e-provider_input_cost_per_million">the price catalog does not know'),
        ]:
            refused = await panel.post(path, form)
            assert refused.status_code == 422, path
            assert error in refused.text
            assert "sk-never-echo-me-4242" not in refused.text


async def test_a_webhook_secret_and_a_team_key_are_shown_once(server: Server, owner: str) -> None:
    async with Panel(server.url) as panel:
        await panel.sign_in(owner)
        org = str(server.organization.id)
        created = await panel.post(
            "/admin/webhooks", {"organization_id": org, "url": "http://127.0.0.1:9/h", "events": "team.credits_low"}
        )
        assert created.status_code == 201
        secret = re.search(r'value="(whsec_[^"]+)"', created.text)
        assert secret is not None
        assert secret.group(1) not in (await panel.get(f"/admin/webhooks?organization_id={org}")).text
        team = await panel.post(
            "/admin/teams", {"organization_id": org, "name": "shown once", "budget_mode": "job_based"}
        )
        assert team.status_code == 201
        key = re.search(r'value="(sk-job-[^"]+)"', team.text)
        assert key is not None
        team_id = re.search(r'href="/admin/teams/([0-9a-f-]{36})"', team.text)
        assert team_id is not None
        page = await panel.get(f"/admin/teams/{team_id.group(1)}")
        assert key.group(1) not in page.text and key.group(1)[:12] in page.text
        assert csrf_token(page.text) == await panel.token()  # one token per session, in every form


async def a_team(server: Server, name: str) -> Any:
    team, _ = await server.services.organizations.create_team(
        organization_id=server.organization.id, name=name, budget=BudgetPolicy(mode=BudgetMode.JOB_BASED)
    )
    return team


# ---- today comes from the runtime's clock ------------------------------------------------

CLOCKED_NOW = datetime(2031, 3, 4, 12, 0, tzinfo=UTC)


@asynccontextmanager
async def clocked_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The in-memory runtime whose clock (the one the panel reads) stands at ``CLOCKED_NOW``."""
    async with open_memory_runtime(settings) as runtime:
        yield replace(runtime, clock=FakeClock(CLOCKED_NOW))


async def test_report_periods_end_today_by_the_runtime_clock(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path), "PORT": str(free_port())})
    async with serve(settings, clocked_runtime) as services, Panel(f"http://127.0.0.1:{settings.port}") as panel:
        await services.admin_auth.setup(email="owner@example.com", password=PASSWORD)
        await panel.sign_in("owner@example.com")
        dashboard = await panel.get("/admin")
        assert "Finished jobs from 2031-02-03 to 2031-03-04" in dashboard.text  # 30 days by default
        week = await panel.get("/admin/economics?days=7")
        assert "Finished jobs from 2031-02-26 to 2031-03-04" in week.text
        chosen = await panel.get("/admin?from=2031-01-01")
        assert "Finished jobs from 2031-01-01 to 2031-03-04" in chosen.text


async def test_only_owners_create_admin_users_on_the_api_and_the_panel_alike(server: Server, owner: str) -> None:
    """The owner check lives in the use case: a non-owner is refused on both paths, and an
    organization-scoped owner creates users of its own organization only."""
    other = await server.services.organizations.create_organization(name=f"Other {uuid4().hex[:6]}")
    mine = server.organization

    def user(uniq: str, **extra: str) -> dict[str, str]:
        return {"email": f"new-{uniq}@example.com", "password": PASSWORD, "role": "viewer", **extra}

    async def emails() -> set[str]:
        return {u.email for u in await server.services.admin_users.list_users(SYSTEM)}

    admin_api = await admin_token(server, AdminRole.ADMIN)  # unscoped, every right but users
    async with server.client(admin_api) as http:
        refused = await http.post("/api/users/create", json=user("api-admin"))
        assert refused.status_code == 403 and refused.json()["code"] == "forbidden"
    _, admin_panel = await panel_user(server, AdminRole.ADMIN)
    async with admin_panel:
        assert (await admin_panel.post("/admin/users", user("panel-admin"))).status_code == 403
    assert not {"new-api-admin@example.com", "new-panel-admin@example.com"} & await emails()

    scoped_api = await admin_token(server, AdminRole.OWNER, mine)
    async with server.client(scoped_api) as http:
        elsewhere = await http.post("/api/users/create", json=user("api-other", organization_id=str(other.id)))
        assert elsewhere.status_code == 404
        unscoped = await http.post("/api/users/create", json=user("api-none"))
        own = await http.post("/api/users/create", json=user("api-own", organization_id=str(mine.id)))
        assert unscoped.status_code == own.status_code == 201
        assert unscoped.json()["organization_id"] == own.json()["organization_id"] == str(mine.id)
    _, scoped_panel = await panel_user(server, AdminRole.OWNER, mine.id)
    async with scoped_panel:
        elsewhere = await scoped_panel.post("/admin/users", user("panel-other", organization_id=str(other.id)))
        assert elsewhere.status_code == 404  # as on the API: another organization does not exist for it
        assert (await scoped_panel.post("/admin/users", user("panel-none"))).status_code == 303
    created = {u.email: u for u in await server.services.admin_users.list_users(SYSTEM)}
    assert "new-api-other@example.com" not in created and "new-panel-other@example.com" not in created
    assert created["new-panel-none@example.com"].organization_id == mine.id
