"""The operator's pages in a real browser: first run to a suspended team, roles, CSRF, scope."""

import asyncio
import re
from decimal import Decimal
from typing import Any

from domain.admins import AdminPrincipal, AdminRole
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.ids import OrganizationId
from domain.organizations import TeamStatus
from domain.pricing import PriceSheet
from tests.browser.conftest import PASSWORD, World, fill_form, new_page, screenshot, sign_in
from tests.e2e.conftest import openai_usage
from tests.support.fake_provider import Reply

D = Decimal
OWNER = "owner@example.com"
UPSTREAM_KEY = "sk-live-panel-upstream-9876"


async def no_horizontal_scroll(page: Any) -> bool:
    return bool(await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


async def money_title(page: Any, selector: str) -> str:
    return str(await page.locator(f"{selector} .money").first.get_attribute("title"))


async def test_first_run_to_a_job_in_the_drill_down_then_credits_and_suspension(world: World, context: Any) -> None:
    page = await new_page(context)

    # First run: /admin leads to the setup page, which creates the owner; then sign in.
    await page.goto("/admin")
    assert page.url.endswith("/admin/setup")
    await fill_form(page, email=OWNER, password=PASSWORD, password_again=PASSWORD)
    await page.click("button:has-text('Create the owner')")
    await page.wait_for_url(re.compile(r"/admin/login\?notice=setup_done"))
    assert await page.locator(".notice").inner_text() == "The owner account is ready. Sign in with it."
    await page.fill("#f-email", OWNER)
    await page.fill("#f-password", PASSWORD)
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url(re.compile(r"/admin$"))
    assert "Nothing to show yet" in await page.locator("main").inner_text()

    # An organization.
    await page.click("nav >> text=Organizations")
    await page.fill("#f-name", "Acme Analytics")
    await page.click("button:has-text('Create organization')")
    await page.wait_for_url(re.compile(r"/admin/organizations/[0-9a-f-]{36}"))
    organization_id = page.url.split("/")[-1].split("?")[0]

    # A provider credential (pointing at the fake upstream): only its hint comes back.
    await page.goto(f"/admin/credentials?organization_id={organization_id}")
    await page.select_option("#f-provider", "openai")
    await fill_form(page, name="main", api_key=UPSTREAM_KEY, api_base=world.upstream.api_base("openai"))
    await page.click("button:has-text('Add credential')")
    await page.wait_for_url(re.compile(r"notice=created"))
    assert await page.locator("[data-testid=key-hint]").inner_text() == "sk-…9876"
    assert UPSTREAM_KEY not in await page.content()

    # An access group, then an alias in it: the catalog does not know the model, so the
    # form asks for provider costs next to the field, then accepts them.
    await page.goto("/admin/access-groups")
    await page.fill("#f-name", "standard")
    await page.click("button:has-text('Create group')")
    await page.wait_for_url(re.compile(r"notice=created"))
    await page.goto("/admin/models/new")
    await page.fill("#f-alias", "smart")
    await page.select_option("#f-provider", "openai")
    await fill_form(
        page,
        provider_model="gpt-panel-test",
        input_price_per_million="2.5",
        output_price_per_million="10",
        default_max_tokens="500",
    )
    await page.check("input[name=access_groups][value=standard]")
    await page.click("button:has-text('Create alias')")
    error = page.locator(".field.invalid #e-provider_input_cost_per_million")
    assert "does not know openai/gpt-panel-test" in await error.inner_text()
    await page.fill("#f-provider_input_cost_per_million", "1.25")
    await page.fill("#f-provider_output_cost_per_million", "3.5")
    await page.click("button:has-text('Create alias')")
    await page.wait_for_url(re.compile(r"/admin/models\?notice=created"))
    assert "gpt-panel-test" in await page.locator("table").inner_text()

    # A team: its first key is shown once, with a copy button and a warning.
    await page.goto(f"/admin/teams/new?organization_id={organization_id}")
    await page.fill("#f-name", "Reports")
    await page.select_option("#f-budget_mode", "consumption_usd")
    await page.fill("#f-credits", "10")
    await page.check("input[name=access_groups][value=standard]")
    await page.click("button:has-text('Create team and its first key')")
    shown = page.locator("[data-testid=new-key]")
    assert "shown only this once" in await shown.inner_text()
    key = await shown.locator("input").input_value()
    assert key.startswith("sk-job-")
    await context.grant_permissions(["clipboard-read", "clipboard-write"])
    await shown.locator("button[data-copy]").click()
    await page.wait_for_function("document.querySelector('[data-copy]').textContent === 'Copied'")
    assert await page.evaluate("navigator.clipboard.readText()") == key
    await page.click("text=I have stored the key: go to the team")
    await page.wait_for_url(re.compile(r"/admin/teams/[0-9a-f-]{36}$"))
    team_id = page.url.split("/")[-1]
    assert key not in await page.content()  # only its prefix from now on
    assert key[:12] in await page.locator("#team-keys").inner_text()

    # A job through the client API, with a known usage.
    world.upstream.push(Reply(chunks=("Four", " findings"), usage=openai_usage(1200, 345, cached=200)))
    async with world.client(key) as api:
        job = (await api.post("/api/jobs/create", json={"job_type": "report", "external_id": "doc-1"})).json()
        call = await api.post(
            f"/api/jobs/{job['job_id']}/llm-call",
            json={"model": "smart", "messages": [{"role": "user", "content": "Summarise doc 1"}]},
        )
        assert call.status_code == 200, call.text
        done = (await api.post(f"/api/jobs/{job['job_id']}/complete", json={})).json()
    # 1,200 prompt tokens at $1.25/M + 345 output at $3.5/M; the price at $2.5/M and $10/M.
    assert done["costs"]["provider_cost_usd"] == "0.0027075"
    assert done["costs"]["customer_cost_usd"] == "0.00645"

    # The drill-down: organization → team → job → its calls, with exact amounts on hover.
    await page.click("nav >> text=Jobs")
    await page.click("main >> text=Acme Analytics")
    await page.click("main >> text=Reports")
    await page.click(f"text={job['job_id'][:8]}…")
    await page.wait_for_url(re.compile(rf"/admin/jobs/{job['job_id']}$"))
    row = page.locator("[data-testid=call-row]")
    assert await row.count() == 1
    assert await money_title(page, "[data-testid=call-cost]") == "0.0027075 USD"
    assert await money_title(page, "[data-testid=call-price]") == "0.00645 USD"
    assert await money_title(page, "[data-testid=job-cost]") == "0.0027075 USD"
    cells = await row.locator("td").all_inner_texts()
    assert cells[3:8] == ["1,000", "200", "0", "345", "0"]  # input, cached, cache write, output, reasoning
    assert "completed" in await page.locator(".page-head").inner_text()
    assert await no_horizontal_scroll(page)  # the wide calls table scrolls inside its own box
    await screenshot(page, "job-drill-down")

    # Credits: added with a reason, through htmx (the card and the ledger refresh in place).
    await page.goto(f"/admin/teams/{team_id}")
    await page.fill("#f-amount", "50")
    await page.fill("#f-reason", "October top-up")
    await page.click("button:has-text('Apply credits')")
    await page.locator("#team-credits .notice").wait_for()
    assert await money_title(page, "[data-testid=available]") == "59.9355 credits"  # 10 − 0.0645 + 50
    await page.locator("#team-ledger >> text=October top-up").wait_for()
    assert await page.locator("[data-testid=failed-ratio]").inner_text() == "0.0 %"
    await screenshot(page, "team")

    # The low-credit threshold: refused next to its field when invalid (422, nothing saved),
    # saved when valid, and emptied back to 10 % of the allocation.
    assert await page.input_value("#f-low_credit_threshold") == ""
    await page.fill("#f-low_credit_threshold", "-5")
    async with page.expect_response(lambda r: r.url.endswith("/settings")) as refused_info:
        await page.click("button:has-text('Save settings')")
    assert (await refused_info.value).status == 422
    error = await page.locator("#e-low_credit_threshold").inner_text()
    assert "low_credit_threshold must be" in error
    assert "10 % of the allocation" in await page.locator("#team-credits").inner_text()
    await page.fill("#f-low_credit_threshold", "12.5")
    async with page.expect_navigation(url=re.compile(r"notice=saved")):
        await page.click("button:has-text('Save settings')")
    assert await money_title(page, "[data-testid=low-threshold]") == "12.5 credits"
    assert await page.input_value("#f-low_credit_threshold") == "12.5"
    await page.fill("#f-low_credit_threshold", "")
    async with page.expect_navigation(url=re.compile(r"notice=saved")):
        await page.click("button:has-text('Save settings')")
    assert "10 % of the allocation" in await page.locator("[data-testid=low-threshold]").inner_text()

    # Suspension: the status card swaps in place, and the key is refused from then on.
    await page.click("button:has-text('Suspend team')")
    await page.locator("[data-testid=team-status] >> text=suspended").wait_for()
    async with world.client(key) as api:
        for _ in range(40):  # the team's status is cached for at most a second
            refused = await api.post("/api/jobs/create", json={"job_type": "report"})
            if refused.status_code == 403:
                break
            await asyncio.sleep(0.1)
    assert refused.status_code == 403 and refused.json()["code"] == "team_suspended"

    # The dashboard shows the period's job, with its chart drawn.
    await page.click("nav >> text=Dashboard")
    await page.wait_for_function("document.querySelector('#money-chart').dataset.drawn === '1'")
    labels = await page.evaluate("Chart.getChart('money-chart').data.datasets.map(d => d.label)")
    assert labels == ["Customer price (USD)", "Provider cost (USD)", "Margin (USD)"]
    assert await page.locator(".stat:has(h2:text-is('Jobs')) .big").inner_text() == "1"
    assert await money_title(page, ".stat:has-text('Customer price')") == "0.00645 USD"
    assert "Reports" in await page.locator("section:has-text('Top teams by spend')").inner_text()
    await screenshot(page, "dashboard")
    assert page.script_errors == []


async def test_pages_fit_a_phone_and_1280_px(world: World, browser: Any) -> None:
    _, team, _ = await seed_owner_and_team(world)
    for width, height in ((390, 844), (1280, 900)):
        ctx = await browser.new_context(base_url=world.url, viewport={"width": width, "height": height})
        try:
            page = await new_page(ctx)
            await sign_in(page, OWNER)
            for path in ("/admin", "/admin/teams", "/admin/models", "/admin/pricing"):
                await page.goto(path)
                assert await no_horizontal_scroll(page), f"{path} scrolls sideways at {width} px"
            if width < 700:
                await page.goto(f"/admin/teams/{team.id}")
                assert await no_horizontal_scroll(page)
                await screenshot(page, "team-phone")
                assert not await page.locator("#menu").is_visible()  # folded away on a phone
                await page.click(".menu-toggle")
                await page.click("#menu >> text=Teams")
                await page.wait_for_url(re.compile(r"/admin/teams$"))
            assert page.script_errors == []
        finally:
            await ctx.close()


async def seed_owner_and_team(world: World) -> tuple[Any, Any, str]:
    """The owner (through first-run setup), an organization with an alias and a funded team."""
    services = world.services
    await services.admin_auth.setup(email=OWNER, password=PASSWORD)
    organization = await services.organizations.create_organization(name="Acme")
    await services.models.create_alias(
        alias="smart",
        provider=Provider.OPENAI,
        provider_model="gpt-panel-test",
        customer_prices=PriceSheet(input_per_million=D("2"), output_per_million=D("8")),
        provider_costs=PriceSheet(input_per_million=D("1"), output_per_million=D("4")),
        access_groups=("standard",),
    )
    team, key = await services.organizations.create_team(
        organization_id=organization.id,
        name="Reports",
        budget=BudgetPolicy(mode=BudgetMode.CONSUMPTION_USD),
        credits=D(100),
        access_groups=("standard",),
    )
    return organization, team, key.api_key


async def test_a_viewer_sees_no_write_controls_and_a_forged_post_is_refused(world: World, context: Any) -> None:
    _, team, _ = await seed_owner_and_team(world)
    await world.services.admin_auth.create_user(email="viewer@example.com", password=PASSWORD, role=AdminRole.VIEWER)
    page = await new_page(context)
    await sign_in(page, "viewer@example.com")
    for path in (
        f"/admin/teams/{team.id}",
        "/admin/organizations",
        f"/admin/organizations/{team.organization_id}",
        "/admin/teams",
        "/admin/models",
        "/admin/access-groups",
        f"/admin/credentials?organization_id={team.organization_id}",
        f"/admin/webhooks?organization_id={team.organization_id}",
    ):
        await page.goto(path)
        writes = page.locator("form[method=post]:not([action='/admin/logout'])")
        assert await writes.count() == 0, f"{path} offers a viewer {await writes.count()} write forms"
    assert await page.locator("nav >> text=Users").count() == 0

    # A forged form, with a valid CSRF token even: the use case refuses it.
    await page.goto(f"/admin/teams/{team.id}")
    token = await page.evaluate("JSON.parse(document.body.getAttribute('hx-headers'))['X-CSRFToken']")
    for action, form in (
        ("suspend", {}),
        ("credits", {"amount": "1000", "idempotency_key": "forged"}),
        ("keys", {}),
    ):
        response = await page.request.post(f"/admin/teams/{team.id}/{action}", form={"_csrf_token": token, **form})
        assert response.status == 403, action
        assert "viewers have read-only access" in await response.text()
    owner = await owner_principal(world)
    assert (await world.services.organizations.get_team(owner, team.id)).status is TeamStatus.ACTIVE
    assert (await world.services.credits.team_credits(owner, team.id)).balance.allocated == D(100)
    assert len(await world.services.organizations.list_keys(owner, team.id)) == 1


async def test_a_form_without_its_csrf_token_is_refused_and_the_api_needs_none(world: World, context: Any) -> None:
    await seed_owner_and_team(world)
    page = await new_page(context)
    await sign_in(page, OWNER)
    before = await world.services.organizations.list_organizations(await owner_principal(world))
    refused = await page.request.post("/admin/organizations", form={"name": "Forged Inc"})
    assert refused.status == 403
    assert "security token is missing or stale" in await refused.text()
    forged = await page.request.post("/admin/organizations", form={"name": "Forged Inc", "_csrf_token": "0" * 128})
    assert forged.status == 403
    after = await world.services.organizations.list_organizations(await owner_principal(world))
    assert [o.name for o in after] == [o.name for o in before]
    # The JSON API authenticates with bearer tokens, never with the cookie: no token needed.
    login = await page.request.post("/api/auth/login", data={"email": OWNER, "password": PASSWORD})
    assert login.status == 200
    token = (await login.json())["access_token"]
    created = await page.request.post(
        "/api/organizations/create", data={"name": "Via API"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert created.status == 201
    # ...and the panel's cookie is no credential there.
    assert (await page.request.get("/api/organizations")).status == 401


async def test_an_organization_scoped_admin_cannot_open_another_organizations_team(world: World, context: Any) -> None:
    own, own_team, _ = await seed_owner_and_team(world)
    other = await world.services.organizations.create_organization(name="Globex")
    other_team, _ = await world.services.organizations.create_team(
        organization_id=other.id, name="Globex secret team", budget=BudgetPolicy(mode=BudgetMode.JOB_BASED)
    )
    await world.services.admin_auth.create_user(
        email="scoped@example.com", password=PASSWORD, role=AdminRole.ADMIN, organization_id=own.id
    )
    page = await new_page(context)
    await sign_in(page, "scoped@example.com")
    response = await page.goto(f"/admin/teams/{other_team.id}")
    assert response is not None and response.status == 404
    assert "team not found" in await page.locator("main").inner_text()
    response = await page.goto(f"/admin/organizations/{other.id}")
    assert response is not None and response.status == 404
    await page.goto("/admin/teams")
    listed = await page.locator("main").inner_text()
    assert own_team.name in listed and "Globex" not in listed
    await page.goto(f"/admin/teams/{own_team.id}")
    assert await page.locator("button:has-text('Suspend team')").count() == 1  # its own organization's team it manages


async def test_an_expired_session_sends_the_operator_to_login_and_back(world: World, context: Any) -> None:
    await seed_owner_and_team(world)
    page = await new_page(context)
    await sign_in(page, OWNER)
    cookie = next(c for c in await context.cookies() if c["name"] == "saasllm_admin")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/admin"
    await context.add_cookies([{**cookie, "value": cookie["value"][:-4] + "AAAA"}])  # expired or tampered alike
    await page.goto("/admin/pricing")
    assert "/admin/login?expired=1" in page.url
    assert "Your session has expired" in await page.locator("main").inner_text()
    await page.fill("#f-email", OWNER)
    await page.fill("#f-password", PASSWORD)
    await page.click("button:has-text('Sign in')")
    await page.wait_for_url(re.compile(r"/admin/pricing$"))
    await page.click("button:has-text('Sign out')")
    await page.wait_for_url(re.compile(r"/admin/login\?notice=logged_out"))
    await page.goto("/admin/teams")
    assert "/admin/login" in page.url


async def owner_principal(world: World) -> AdminPrincipal:
    login = await world.services.admin_auth.login(email=OWNER, password=PASSWORD, address="127.0.0.1")
    return await world.services.admin_auth.authenticate(login.access_token)


async def test_an_alias_routing_fallbacks_cache_and_targets_are_shown_and_edited(world: World, context: Any) -> None:
    await seed_owner_and_team(world)
    services = world.services
    sheet = PriceSheet(input_per_million=D("2"), output_per_million=D("8"))

    async def openai_alias(alias: str, provider_model: str, organization_id: OrganizationId | None = None) -> None:
        await services.models.create_alias(
            alias=alias,
            provider=Provider.OPENAI,
            provider_model=provider_model,
            customer_prices=sheet,
            provider_costs=sheet,
            organization_id=organization_id,
        )

    await openai_alias("backup", "gpt-backup")
    other = await services.organizations.create_organization(name="Elsewhere")
    await openai_alias("theirs", "gpt-theirs", other.id)
    bound = await services.organizations.list_organizations(await owner_principal(world))
    acme = next(o for o in bound if o.name == "Acme")
    await openai_alias("acme-only", "gpt-acme", acme.id)
    page = await new_page(context)
    await sign_in(page, OWNER)

    # The form shows the defaults, then takes routing, ordered fallbacks, the cache and a target.
    await page.goto("/admin/models/alias/smart")
    assert await page.input_value("#f-routing") == "ordered"
    assert await page.input_value("#f-cache_ttl_s") == ""
    assert await page.input_value("#f-cached_response_price_factor") == "1"
    assert await page.input_value("#f-targets") == ""
    await page.select_option("#f-routing", "cheapest")
    await fill_form(page, fallbacks="backup, acme-only", cache_ttl_s="600", cached_response_price_factor="0.5")
    await page.fill(
        "#f-targets",
        '[{"provider": "openai", "provider_model": "gpt-second", "provider_input_cost_per_million": "0.5",'
        ' "provider_output_cost_per_million": "2"}]',
    )
    await page.click("button:has-text('Save alias')")
    await page.wait_for_url(re.compile(r"/admin/models\?notice=saved"))
    row = page.locator("tr:has(a:text-is('smart'))")
    text = await row.inner_text()
    assert "cheapest · 2 targets" in text and "backup → acme-only" in text and "600 s · ×0.5" in text
    saved = await services.models.get_alias("smart")
    assert saved is not None and saved.routing.value == "cheapest" and saved.fallbacks == ("backup", "acme-only")
    assert saved.cache_ttl_s == 600 and saved.cached_response_price_factor == D("0.5")
    assert [(t.provider_model, t.customer_prices.input_per_million) for t in saved.targets] == [("gpt-second", D(2))]

    # Shown again: the target in its table and as JSON, every price filled in as billed.
    await page.goto("/admin/models/alias/smart")
    assert await page.locator("[data-testid=target-row]").count() == 1
    assert "gpt-second" in await page.locator("[data-testid=targets-table]").inner_text()
    assert '"provider_input_cost_per_million": "0.5"' in await page.input_value("#f-targets")
    assert await page.input_value("#f-fallbacks") == "backup, acme-only"
    await screenshot(page, "alias-routing")

    # Errors from the same use case as the admin API, beside their fields, nothing saved.
    await page.fill("#f-targets", '[{"provider": "openai", "provider_model": "gpt-unknown-to-catalog"}]')
    await page.click("button:has-text('Save alias')")
    assert "does not know openai/gpt-unknown-to-catalog" in await page.locator("#e-targets").inner_text()
    await fill_form(page, targets='[{"provider": "openai"}]', cache_ttl_s="0", cached_response_price_factor="11")
    await page.click("button:has-text('Save alias')")
    assert "provider_model" in await page.locator("#e-targets").inner_text()
    assert "between 1" in await page.locator("#e-cache_ttl_s").inner_text()
    assert "at most 10" in await page.locator("#e-cached_response_price_factor").inner_text()
    # A platform-wide alias may fall back to one organization's; that organization's alias
    # may not fall back to another organization's.
    await page.goto("/admin/models/alias/acme-only")
    await page.fill("#f-fallbacks", "theirs")
    await page.click("button:has-text('Save alias')")
    assert "another organization" in await page.locator("#e-fallbacks").inner_text()
    assert (await services.models.get_alias("acme-only")).fallbacks == ()  # type: ignore[union-attr]
    again = await services.models.get_alias("smart")
    assert again is not None and len(again.targets) == 1 and again.cache_ttl_s == 600

    # A new alias with its routing and cache set from the start.
    await page.goto("/admin/models/new")
    await fill_form(
        page,
        alias="fresh",
        provider_model="gpt-fresh",
        input_price_per_million="1",
        output_price_per_million="2",
        provider_input_cost_per_million="0.5",
        provider_output_cost_per_million="1",
        fallbacks="smart",
        cache_ttl_s="60",
    )
    await page.click("button:has-text('Create alias')")
    await page.wait_for_url(re.compile(r"/admin/models\?notice=created"))
    fresh = await services.models.get_alias("fresh")
    assert fresh is not None and fresh.fallbacks == ("smart",) and fresh.cache_ttl_s == 60
    assert fresh.cached_response_price_factor == D(1) and fresh.routing.value == "ordered"
    assert page.script_errors == []
