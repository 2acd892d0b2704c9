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

from adapters.memory.providers import ScriptedProviderClient
from application.principal import TeamPrincipal
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.organizations import Organization, Team
from domain.pricing import PriceSheet
from entrypoints.bootstrap import Services
from entrypoints.http.app import create_app
from entrypoints.runtime import Runtime, open_memory_runtime
from entrypoints.settings import Settings, load_settings

D = Decimal
CUSTOMER = PriceSheet(input_per_million=D("2"), output_per_million=D("8"))
PROVIDER = PriceSheet(input_per_million=D("1"), output_per_million=D("4"))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    services: Services
    upstream: ScriptedProviderClient
    organization: Organization
    settings: Settings

    def client(self, key: str | None = None, **kw: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=10, **kw)

    async def team(
        self, mode: BudgetMode, credits: Decimal | None = None, groups: tuple[str, ...] = ("standard",), **rates: Any
    ) -> tuple[Team, str]:
        team, key = await self.services.organizations.create_team(
            organization_id=self.organization.id,
            name=f"team-{mode}",
            budget=BudgetPolicy(mode=mode, **rates),
            credits=D(100) if credits is None else credits,
            access_groups=groups,
        )
        return team, key.api_key


RuntimeOpener = Callable[[Settings], AbstractAsyncContextManager[Runtime]]


@asynccontextmanager
async def serve(settings: Settings, opener: RuntimeOpener) -> AsyncIterator[Services]:
    app = create_app(settings, runtime=opener)
    config = uvicorn.Config(app, host="127.0.0.1", port=settings.port, log_config=None, access_log=False, lifespan="on")
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


@pytest.fixture(scope="module")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Server]:
    data_dir: Path = tmp_path_factory.mktemp("e2e")
    settings = load_settings({"DATA_DIR": str(data_dir), "PORT": str(free_port()), "MAX_BODY_BYTES": "65536"})
    upstream = ScriptedProviderClient()

    def opener(s: Settings) -> AbstractAsyncContextManager[Runtime]:
        return open_memory_runtime(s, providers={Provider.OPENAI: upstream, Provider.FAKE: upstream})

    async with serve(settings, opener) as services:
        organization = await services.organizations.create_organization(name="Acme")
        await services.models.create_alias(
            alias="smart",
            provider=Provider.OPENAI,
            provider_model="gpt-test",
            customer_prices=CUSTOMER,
            provider_costs=PROVIDER,
            default_max_tokens=100,
            access_groups=("standard",),
        )
        await services.models.create_alias(
            alias="premium",
            provider=Provider.OPENAI,
            provider_model="gpt-big",
            customer_prices=CUSTOMER,
            provider_costs=PROVIDER,
            access_groups=("premium",),
        )
        await services.credentials.add_credential(
            organization_id=organization.id, provider=Provider.OPENAI, name="main", api_key="sk-upstream-secret-9876"
        )
        yield Server(
            url=f"http://127.0.0.1:{settings.port}",
            services=services,
            upstream=upstream,
            organization=organization,
            settings=settings,
        )


__all__ = ["Server", "TeamPrincipal"]
