"""End-to-end harness: the real app (create_app) served by uvicorn on 127.0.0.1, over HTTP."""

import asyncio
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from adapters.providers._http import RetryPolicy
from adapters.providers.registry import open_provider_clients
from application.principal import TeamPrincipal
from domain.budgets import BudgetMode
from domain.organizations import Organization, Team
from entrypoints.bootstrap import Services
from entrypoints.http.app import create_app
from entrypoints.runtime import Runtime, open_postgres_runtime
from entrypoints.settings import Settings, load_settings
from tests.postgres import fresh_database
from tests.support.fake_provider import FakeUpstream
from tests.support.seeding import create_team, seed_organization

D = Decimal


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    services: Services
    upstream: FakeUpstream
    organization: Organization
    settings: Settings

    def client(self, key: str | None = None, **kw: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10, **kw)

    async def team(
        self, mode: BudgetMode, credits: Decimal | None = None, groups: tuple[str, ...] = ("standard",), **rates: Any
    ) -> tuple[Team, str]:
        credits = D(100) if credits is None else credits
        return await create_team(self.services, self.organization, mode, credits, groups, **rates)


RuntimeOpener = Callable[[Settings], AbstractAsyncContextManager[Runtime]]


@asynccontextmanager
async def serve(settings: Settings, opener: RuntimeOpener) -> AsyncIterator[Services]:
    app = create_app(settings, runtime=opener)
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=settings.port,
        log_config=None,
        access_log=False,
        lifespan="on",
        proxy_headers=False,  # as `saasllm serve` runs it: TRUSTED_PROXIES decides, not uvicorn
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:
        if task.done():
            task.result()
        await asyncio.sleep(0.01)
    try:
        yield app.state.services
    finally:
        server.should_exit = True
        await task


# Tiny delays so retries are quick; a provider asking to wait longer than 0.5 s gets its 429 passed on.
TEST_RETRY = RetryPolicy(max_retries=1, base_delay_s=0.01, max_delay_s=0.02, max_retry_after_s=0.5)


@asynccontextmanager
async def test_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """The real Postgres runtime, with provider clients whose retries are quick."""
    async with (
        open_provider_clients(timeout_s=settings.provider_timeout_s, max_retries=1, retry=TEST_RETRY) as providers,
        open_postgres_runtime(settings, providers=providers) as runtime,
    ):
        yield runtime


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> AsyncIterator[Server]:
    async with fresh_world(postgres_server_url, tmp_path_factory.mktemp("e2e"), "saasllm_e2e") as world:
        yield world


@asynccontextmanager
async def fresh_world(postgres_server_url: str, data_dir: Path, prefix: str, **overrides: str) -> AsyncIterator[Server]:
    """A served world (see ``serve_world``) on a fresh database named from ``prefix``."""
    async with (
        fresh_database(postgres_server_url, prefix=prefix) as database_url,
        serve_world(data_dir, database_url, **overrides) as world,
    ):
        yield world


@asynccontextmanager
async def serve_world(data_dir: Path, database_url: str, **overrides: str) -> AsyncIterator[Server]:
    env = {
        "DATA_DIR": str(data_dir),
        "PORT": str(free_port()),
        "MAX_BODY_BYTES": "65536",
        "PROVIDER_TIMEOUT_S": "0.5",
        "DATABASE_URL": database_url,
        # A quick webhook worker: idle polls, first retry and per-attempt timeout.
        "WEBHOOK_POLL_INTERVAL_S": "0.05",
        "WEBHOOK_RETRY_BASE_S": "0.2",
        "WEBHOOK_TIMEOUT_S": "0.5",
        **overrides,
    }
    settings = load_settings(env)
    async with FakeUpstream() as upstream, serve(settings, test_runtime) as services:
        organization = await seed_organization(
            services, api_key="sk-upstream-secret-9876", api_base=upstream.api_base("openai")
        )
        yield Server(
            url=f"http://127.0.0.1:{settings.port}",
            services=services,
            upstream=upstream,
            organization=organization,
            settings=settings,
        )


@asynccontextmanager
async def second_instance(first: Server, **overrides: str) -> AsyncIterator[str]:
    """Another app instance on ``first``'s database and data directory (so its secrets); its URL."""
    assert first.settings.database_url is not None
    env = {
        "DATA_DIR": str(first.settings.data_dir),
        "PORT": str(free_port()),
        "PROVIDER_TIMEOUT_S": "0.5",
        "DATABASE_URL": first.settings.database_url,
        **overrides,
    }
    settings = load_settings(env)
    async with serve(settings, test_runtime):
        yield f"http://127.0.0.1:{settings.port}"


async def job_of(server: Server, key: str, job_id: str) -> dict[str, Any]:
    """``GET /api/jobs/{job_id}`` as the team of ``key``: the job's JSON (it must answer 200)."""
    async with server.client(key) as http:
        response = await http.get(f"/api/jobs/{job_id}")
        assert response.status_code == 200, response.text
        found: dict[str, Any] = response.json()
        return found


def openai_usage(prompt: int, completion: int, *, cached: int = 0, reasoning: int = 0) -> dict[str, Any]:
    """OpenAI's native usage block (cached and reasoning are subsets)."""
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0},
    }


__all__ = ["Server", "TeamPrincipal"]
