"""The ``fake`` demo provider over HTTP: offered outside production; in production refused
(422 ``provider_not_offered``) for new credentials, alias targets and calls through what
an earlier development run stored, unless ``ENABLE_DEMO_PROVIDER=1``."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from adapters.vault.fernet import FernetVault
from domain.admins import AdminRole
from entrypoints.runtime import open_postgres_runtime
from entrypoints.settings import load_settings
from tests.e2e.admin_helpers import PASSWORD, login
from tests.e2e.conftest import Server, free_port, serve
from tests.e2e.panel_helpers import Panel
from tests.postgres import fresh_database

FAKE_ALIAS = {
    "alias": "demo-echo",
    "provider": "fake",
    "provider_model": "fake-fast",
    "input_price_per_million": "1",
    "output_price_per_million": "4",
    "provider_input_cost_per_million": "0.5",
    "provider_output_cost_per_million": "2",
    "access_groups": ["demo"],
}
CALL = {"model": "demo-echo", "messages": [{"role": "user", "content": "Hello there"}]}
JWT_SECRET = "j" * 48
FERNET_KEY = FernetVault.generate_key()


@asynccontextmanager
async def instance(data_dir: Path, database_url: str, **env: str) -> AsyncIterator[str]:
    """The real runtime (its own provider clients, as ``saasllm serve`` builds them); yields its URL."""
    settings = load_settings(
        {
            "DATA_DIR": str(data_dir),
            "PORT": str(free_port()),
            "DATABASE_URL": database_url,
            "JWT_SECRET": JWT_SECRET,
            "FERNET_KEYS": FERNET_KEY,
            **env,
        }
    )
    async with serve(settings, open_postgres_runtime):
        yield f"http://127.0.0.1:{settings.port}"


async def owner_token(http: httpx.AsyncClient) -> str:
    status = (await http.get("/api/setup/status")).json()
    if status["needs_setup"]:
        created = await http.post("/api/setup", json={"email": "owner@example.com", "password": PASSWORD})
        assert created.status_code == 201, created.text
    response = await http.post("/api/auth/login", json={"email": "owner@example.com", "password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def seed_fake(http: httpx.AsyncClient) -> tuple[str, str]:
    """An organization with a fake credential, the fake alias and a team; (organization id, team key)."""
    org = await created(await http.post("/api/organizations/create", json={"name": "Demo provider org"}))
    await created(
        await http.post(
            "/api/provider-credentials/create",
            json={"organization_id": org["id"], "provider": "fake", "name": "demo", "api_key": "not-checked"},
        )
    )
    await created(await http.post("/api/models/create", json=FAKE_ALIAS))
    team = await created(
        await http.post(
            "/api/teams/create",
            json={
                "organization_id": org["id"],
                "name": "demo team",
                "budget_mode": "consumption_usd",
                "credits": "10",
                "access_groups": ["demo"],
            },
        )
    )
    return str(org["id"]), str(team["api_key"])


async def created(response: httpx.Response) -> Any:
    assert response.status_code == 201, response.text
    return response.json()


async def call_fake(base_url: str, key: str) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "demo"})).json()
        return await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)


async def panel_offers_fake(base_url: str) -> bool:
    """Whether the panel's alias and credential forms offer the demo provider (each must agree)."""
    async with Panel(base_url) as panel:
        await panel.sign_in("owner@example.com")
        pages = [(await panel.get(path)).text for path in ("/admin/models/new", "/admin/credentials")]
    offered = ['value="fake"' in page for page in pages]
    assert offered[0] == offered[1] and all('value="openai"' in page for page in pages)
    return offered[0]


def refused(response: httpx.Response) -> bool:
    return response.status_code == 422 and response.json()["code"] == "provider_not_offered"


async def test_outside_production_fake_credentials_aliases_and_calls_work(server: Server) -> None:
    email = "fake-offered@example.com"
    await server.services.admin_auth.create_user(email=email, password=PASSWORD, role=AdminRole.OWNER)
    async with server.client(await login(server, email)) as http:
        _, key = await seed_fake(http)
    answered = await call_fake(server.url, key)
    assert answered.status_code == 200, answered.text
    assert answered.json()["provider"] == "fake" and answered.json()["usage"]["total_tokens"] > 0


async def test_production_refuses_the_fake_provider_unless_enabled(postgres_server_url: str, tmp_path: Path) -> None:
    async with fresh_database(postgres_server_url, prefix="saasllm_demo_provider") as database_url:
        # A development run stores a fake credential, alias and team in the database...
        async with instance(tmp_path, database_url) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
            http.headers["Authorization"] = f"Bearer {await owner_token(http)}"
            organization_id, key = await seed_fake(http)
            assert await panel_offers_fake(url)

        # ...which production, without the flag, neither extends nor calls through.
        async with instance(tmp_path, database_url, APP_ENV="production") as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                http.headers["Authorization"] = f"Bearer {await owner_token(http)}"
                credential = {"organization_id": organization_id, "provider": "fake", "name": "x", "api_key": "k"}
                assert refused(await http.post("/api/provider-credentials/create", json=credential))
                assert refused(await http.post("/api/models/create", json={**FAKE_ALIAS, "alias": "other-fake"}))
                assert refused(await http.put("/api/models/demo-echo", json={"provider": "fake"}))
                real = await http.post(
                    "/api/provider-credentials/create", json={**credential, "provider": "openai", "api_key": "sk-x"}
                )
                assert real.status_code == 201, real.text  # only the demo provider is refused
            response = await call_fake(url, key)
            assert refused(response), response.text
            assert "fake" in response.json()["detail"]

        # With ENABLE_DEMO_PROVIDER=1 production offers it too.
        async with instance(tmp_path, database_url, APP_ENV="production", ENABLE_DEMO_PROVIDER="1") as url:
            async with httpx.AsyncClient(base_url=url, timeout=10) as http:
                http.headers["Authorization"] = f"Bearer {await owner_token(http)}"
                again = {"organization_id": organization_id, "provider": "fake", "name": "y", "api_key": "k"}
                assert (await http.post("/api/provider-credentials/create", json=again)).status_code == 201
            answered = await call_fake(url, key)
            assert answered.status_code == 200, answered.text
