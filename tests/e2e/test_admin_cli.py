"""The operator's command line against the real stack: create-owner, rotate-keys (while the
service runs, across restarts with changing FERNET_KEYS). import-litellm-config: its own file."""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import structlog

from adapters.vault.fernet import FernetVault
from application.ports.vault import VaultError
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.ids import CredentialId
from entrypoints import cli
from entrypoints.bootstrap import Services
from entrypoints.settings import Settings, load_settings
from tests.e2e.admin_helpers import PASSWORD, login
from tests.e2e.conftest import Server, free_port, serve
from tests.e2e.conftest import test_runtime as e2e_runtime
from tests.postgres import fresh_database
from tests.support.fake_provider import FakeUpstream
from tests.support.seeding import CUSTOMER, PROVIDER

PROVIDER_KEY = "sk-upstream-rotation-secret-5150"


async def run_cli(monkeypatch: pytest.MonkeyPatch, env: dict[str, str], *argv: str) -> int:
    """``saasllm <argv>`` in a thread (it runs its own event loop), with ``env`` set.

    The command configures logging for the process, onto this test's captured stderr:
    the configuration is put back afterwards so later tests do not log into a closed file.
    """
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        return await asyncio.to_thread(cli.main, list(argv))
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


def cli_env(settings: Settings) -> dict[str, str]:
    return {
        "DATABASE_URL": settings.database_url or "",
        "DATA_DIR": str(settings.data_dir),
        "JWT_SECRET": settings.jwt_secret,
        "FERNET_KEYS": ",".join(settings.fernet_keys),
        "LOG_LEVEL": "WARNING",
    }


async def test_create_owner_makes_an_owner_who_can_log_in(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    code = await run_cli(
        monkeypatch, cli_env(server.settings), "create-owner", "--email", "Ops@Example.com", "--password", PASSWORD
    )
    out = capsys.readouterr()
    assert code == 0, out.err
    assert "created owner ops@example.com" in out.out and PASSWORD not in out.out + out.err
    token = await login(server, "ops@example.com")
    async with server.client(token) as http:
        assert (await http.get("/api/users")).status_code == 200  # owners only
    again = await run_cli(
        monkeypatch, cli_env(server.settings), "create-owner", "--email", "ops@example.com", "--password", PASSWORD
    )
    assert again == 1 and "error:" in capsys.readouterr().err
    short = await run_cli(monkeypatch, cli_env(server.settings), "create-owner", "--email", "x@example.com",
                          "--password", "short")  # fmt: skip
    assert short == 1 and "at least 12" in capsys.readouterr().err


@asynccontextmanager
async def serving(data_dir: Path, database_url: str, fernet_keys: str) -> AsyncIterator[tuple[Settings, Services]]:
    env = {
        "DATA_DIR": str(data_dir),
        "PORT": str(free_port()),
        "DATABASE_URL": database_url,
        "FERNET_KEYS": fernet_keys,
        "JWT_SECRET": "j" * 48,
        "PROVIDER_TIMEOUT_S": "2",
    }
    settings = load_settings(env)
    async with serve(settings, e2e_runtime) as services:
        yield settings, services


async def test_rotate_keys_moves_credentials_to_the_new_key_while_serving(
    tmp_path: Path, postgres_server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key1, key2 = FernetVault.generate_key(), FernetVault.generate_key()

    async def call_works(settings: Settings, api_key: str) -> None:
        async with httpx.AsyncClient(
            base_url=f"http://127.0.0.1:{settings.port}", headers={"Authorization": f"Bearer {api_key}"}, timeout=5
        ) as http:
            job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
            body = {"model": "smart", "messages": [{"role": "user", "content": "hi"}]}
            call = await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=body)
            assert call.status_code == 200, call.text  # the provider key was decrypted

    async def ciphertext(services: Services, credential_id: CredentialId) -> str:
        async with services.credentials._uow() as uow:  # read what the database holds
            found = await uow.credentials.get(credential_id)
        assert found is not None
        return found.encrypted_key

    async with FakeUpstream() as upstream, fresh_database(postgres_server_url, prefix="saasllm_rotate") as url:
        async with serving(tmp_path, url, key1) as (settings, services):  # written under key 1
            org = await services.organizations.create_organization(name="Rotating")
            await services.models.create_alias(
                alias="smart", provider=Provider.OPENAI, provider_model="gpt-test", customer_prices=CUSTOMER,
                provider_costs=PROVIDER, access_groups=("standard",),
            )  # fmt: skip
            stored = await services.credentials.add_credential(
                organization_id=org.id,
                provider=Provider.OPENAI,
                name="main",
                api_key=PROVIDER_KEY,
                api_base=upstream.api_base("openai"),
            )
            _, issued = await services.organizations.create_team(
                organization_id=org.id, name="t", budget=BudgetPolicy(mode=BudgetMode.JOB_BASED),
                credits=Decimal(100), access_groups=("standard",),
            )  # fmt: skip
            await call_works(settings, issued.api_key)
        old = stored.encrypted_key

        async with serving(tmp_path, url, f"{key2},{key1}") as (settings, services):  # key 2 added
            await call_works(settings, issued.api_key)  # still decrypts (under key 1)
            env = {**cli_env(settings), "FERNET_KEYS": f"{key2},{key1}"}
            assert await run_cli(monkeypatch, env, "rotate-keys") == 0  # while the service runs
            assert "re-encrypted 1 credentials under the newest key (0 already were)" in capsys.readouterr().out
            await call_works(settings, issued.api_key)
            assert await run_cli(monkeypatch, env, "rotate-keys") == 0
            assert "re-encrypted 0 credentials under the newest key (1 already were)" in capsys.readouterr().out
            new = await ciphertext(services, stored.id)

        assert new != old
        assert FernetVault([key2]).decrypt(new) == PROVIDER_KEY
        with pytest.raises(VaultError):
            FernetVault([key1]).decrypt(new)
        async with serving(tmp_path, url, key2) as (settings, _):  # key 1 removed
            await call_works(settings, issued.api_key)
