"""The job-economics page and the team page's forecast in a real browser."""

from decimal import Decimal
from typing import Any

from domain.budgets import BudgetMode, BudgetPolicy
from tests.browser.conftest import World, new_page, screenshot, sign_in
from tests.browser.test_admin_panel import OWNER, seed_owner_and_team

D = Decimal


async def test_the_economics_page_draws_its_chart_and_suggests_prices(world: World, context: Any) -> None:
    organization, _, _ = await seed_owner_and_team(world)
    services = world.services
    team, key = await services.organizations.create_team(
        organization_id=organization.id, name="Batch", budget=BudgetPolicy(mode=BudgetMode.JOB_BASED), credits=D(50)
    )
    me = await services.client_auth.authenticate(key.api_key)
    for job_type in ("analyse", "analyse", "summarise"):
        job, _ = await services.jobs.create_job(me, job_type=job_type)
        await services.jobs.complete_job(me, job.id)
    page = await new_page(context)
    await sign_in(page, OWNER)
    await page.goto(f"/admin/economics?organization_id={organization.id}&target_margin=0.5&percentile=90")
    await page.wait_for_function("document.querySelector('#economics-chart')?.dataset.drawn === '1'")
    labels = await page.evaluate("Chart.getChart('economics-chart').data.datasets.map(d => d.label)")
    assert labels == [
        "Cost p50 (USD)",
        "Cost p95 (USD)",
        "Cost p99 (USD)",
        "Cost max (USD)",
        "Suggested price (USD)",
    ]
    points = await page.evaluate("Chart.getChart('economics-chart').data.datasets.map(d => d.data.length)")
    assert points == [2, 2, 2, 2, 2]  # one per job type
    rows = page.locator("[data-testid=job-types] tbody tr")
    assert await rows.count() == 2
    assert "analyse" in await rows.first.inner_text()
    assert await page.locator("[data-testid=what-if] tbody tr").count() == 2
    assert await page.locator("nav >> text=Job economics").get_attribute("aria-current") == "page"
    await screenshot(page, "job-economics")
    await page.goto(f"/admin/teams/{team.id}")
    assert "a day" in await page.locator("[data-testid=burn-rate]").inner_text()  # 3 credits in 7 days
    assert "not burning" not in await page.locator("[data-testid=runs-out]").inner_text()
    assert page.script_errors == []
