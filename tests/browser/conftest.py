"""Browser tests: Playwright (its driver only) driving Debian's Chromium against the real app.

Playwright cannot download browsers here, so the tests use the system's Chromium
(``apt-get install -y chromium``; ``CHROMIUM`` overrides the path). Without one they are
skipped, and the run says so in its summary; under ``CI=true`` a missing browser fails them
instead, so CI never passes without having run them.

Each test gets its own world: a fresh database, the app served by uvicorn on a free port
(the same ``create_app`` as production) and a fake provider upstream. Screenshots go to
``tests/browser/artifacts/`` (git-ignored).
"""

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from entrypoints.bootstrap import Services
from entrypoints.settings import Settings, load_settings
from tests.e2e.conftest import free_port, serve, test_runtime
from tests.postgres import fresh_database
from tests.support.fake_provider import FakeUpstream

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-background-networking"]
PASSWORD = "a long enough password"
_skipped: list[str] = []


def chromium_path() -> str | None:
    """``CHROMIUM`` when set (and only it), else Debian's Chromium."""
    chosen = os.environ.get("CHROMIUM")
    candidates = [chosen] if chosen else ["/usr/bin/chromium", "/usr/bin/chromium-browser", shutil.which("chromium")]
    return next((c for c in candidates if c and os.access(c, os.X_OK)), None)


def _unavailable() -> str | None:
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (make setup installs it)"
    if chromium_path() is None:
        where = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
        return f"no Chromium found at {where} (apt-get install -y chromium, or set CHROMIUM)"
    return None


def _missing_browser(reason: str) -> None:
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"browser tests cannot run under CI: {reason}")
    _skipped.append(reason)
    pytest.skip(f"browser tests skipped: {reason}")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _skipped:
        reports = terminalreporter.stats.get("skipped", [])
        count = sum(1 for r in reports if "tests/browser/" in str(getattr(r, "nodeid", "")))
        terminalreporter.write_sep("!", "BROWSER TESTS SKIPPED", yellow=True, bold=True)
        terminalreporter.write_line(f"{count} browser tests did not run: {_skipped[0]}")


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    reason = _unavailable()
    if reason is not None:
        _missing_browser(reason)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@dataclass
class World:
    url: str
    services: Services
    settings: Settings
    upstream: FakeUpstream

    def client(self, key: str | None = None) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10)


@pytest.fixture
async def world(
    browser: Any, tmp_path: Path, postgres_server_url: str
) -> AsyncIterator[World]:  # browser first: no server is started when the tests are skipped
    env = {
        "DATA_DIR": str(tmp_path),
        "PORT": str(free_port()),
        "PROVIDER_TIMEOUT_S": "2",
        "WEBHOOK_POLL_INTERVAL_S": "0.2",
    }
    async with fresh_database(postgres_server_url, prefix="saasllm_browser") as database_url:
        settings = load_settings({**env, "DATABASE_URL": database_url})
        async with FakeUpstream() as upstream, serve(settings, test_runtime) as services:
            yield World(
                url=f"http://127.0.0.1:{settings.port}", services=services, settings=settings, upstream=upstream
            )


@pytest.fixture
async def context(browser: Any, world: World) -> AsyncIterator[Any]:
    """A fresh browser profile (no cookies) at desktop width; confirmation dialogs are accepted."""
    ctx = await browser.new_context(base_url=world.url, viewport={"width": 1280, "height": 900})
    ctx.set_default_timeout(10_000)
    try:
        yield ctx
    finally:
        await ctx.close()


async def new_page(ctx: Any) -> Any:
    page = await ctx.new_page()
    page.on("dialog", lambda dialog: dialog.accept())
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.script_errors = errors  # checked by the tests: a page must not throw
    return page


async def fill_form(page: Any, **fields: str) -> None:
    """Type each value into its form field (``#f-<name>``), in order."""
    for name, value in fields.items():
        await page.fill(f"#f-{name}", value)


async def sign_in(page: Any, email: str, password: str = PASSWORD) -> None:
    await page.goto("/admin/login")
    await page.fill("#f-email", email)
    await page.fill("#f-password", password)
    await page.click("button[type=submit]:has-text('Sign in')")
    await page.wait_for_url(lambda url: "/admin/login" not in url)


async def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path
