"""The operator's command line against the real stack: create-owner, rotate-keys (while the
service runs, across restarts with changing FERNET_KEYS), import-litellm-config."""

import asyncio
import logging
import textwrap
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import structlog

from adapters.providers.fake_server import FakeUpstream
from adapters.vault.fernet import FernetVault
from application.ports.vault import VaultError
from domain.admins import AdminRole
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.ids import CredentialId
from entrypoints import cli
from entrypoints.bootstrap import Services
from entrypoints.settings import Settings, load_settings
from tests.e2e.admin_helpers import PASSWORD, admin_token, login
from tests.e2e.conftest import CUSTOMER, PROVIDER, Server, free_port, serve
from tests.e2e.conftest import test_runtime as e2e_runtime
from tests.postgres import fresh_database

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


LITELLM_CONFIG = textwrap.dedent(
    """
    model_list:
      - model_name: gpt-4o
        litellm_params:
          model: openai/gpt-4o
          api_key: os.environ/OPENAI_API_KEY
      - model_name: gpt-4o            # a second deployment of the same name (load balancing)
        litellm_params:
          model: openai/gpt-4o
          api_key: os.environ/OPENAI_API_KEY_2
      - model_name: claude-sonnet
        litellm_params:
          model: anthropic/claude-sonnet-4-5-20250929
          api_key: os.environ/ANTHROPIC_API_KEY
          max_tokens: 8192
        model_info:
          access_groups: [premium]
      - model_name: gemini-flash
        litellm_params:
          model: gemini/gemini-2.5-flash
          api_key: os.environ/GEMINI_API_KEY
      - model_name: llama-8b
        litellm_params:
          model: fireworks_ai/accounts/fireworks/models/llama-v3p1-8b-instruct
          api_key: os.environ/FIREWORKS_API_KEY
      - model_name: in-house
        litellm_params:
          model: openai/our-finetune-v3
          api_base: https://llm.internal.example/v1/
          api_key: sk-inline-key-for-in-house-0001
          input_cost_per_token: 0.0000025
          output_cost_per_token: 0.00001
      - model_name: azure-gpt
        litellm_params:
          model: azure/gpt-4o
          api_key: os.environ/AZURE_API_KEY
      - model_name: mystery
        litellm_params:
          model: openai/not-in-any-catalog
          api_key: os.environ/OPENAI_API_KEY
      - model_name: no-key-set
        litellm_params:
          model: anthropic/claude-3-5-haiku-20241022
          api_key: os.environ/UNSET_VARIABLE
    litellm_settings:
      drop_params: true
    """
)
IMPORT_KEYS = {
    "OPENAI_API_KEY": "sk-openai-import-secret-aaaa",
    "OPENAI_API_KEY_2": "sk-openai-import-secret-bbbb",
    "ANTHROPIC_API_KEY": "sk-ant-import-secret-cccc",
    "GEMINI_API_KEY": "AIza-import-secret-dddd",
    "FIREWORKS_API_KEY": "fw-import-secret-eeee",
    "AZURE_API_KEY": "azure-import-secret-ffff",
}


async def test_litellm_import_of_a_realistic_config_creates_once(
    server: Server, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(LITELLM_CONFIG)
    org = await server.services.organizations.create_organization(name="Imported")
    env = {**cli_env(server.settings), **IMPORT_KEYS}
    code = await run_cli(monkeypatch, env, "import-litellm-config", str(config), "--organization", str(org.id))
    out = capsys.readouterr()
    assert code == 0, out.err
    lines = out.out.splitlines()
    created_aliases = sorted(line.split()[3] for line in lines if line.startswith("created model alias"))
    assert created_aliases == ["claude-sonnet", "gemini-flash", "gpt-4o", "in-house", "llama-8b", "no-key-set"]
    assert sum(line.startswith("created credential") for line in lines) == 6  # 2 openai, anthropic, gemini, fw, inline
    skipped = "\n".join(line for line in lines if line.startswith("skipped"))
    assert "skipped azure-gpt: provider 'azure' is not supported" in skipped
    assert "skipped mystery: unknown model price" in skipped
    assert "UNSET_VARIABLE is not set" in skipped
    assert "another deployment of this model_name was imported first" in skipped
    for key in (*IMPORT_KEYS.values(), "sk-inline-key-for-in-house-0001"):
        assert key not in out.out + out.err

    # Running it again creates nothing: aliases exist, keys are found among the stored ones.
    again = await run_cli(monkeypatch, env, "import-litellm-config", str(config), "--organization", str(org.id))
    out2 = capsys.readouterr().out
    assert again == 0
    assert "0 model aliases and 0 credentials created" in out2
    assert out2.count("the same key is already stored") == 6

    owner = await admin_token(server, AdminRole.OWNER)
    async with server.client(owner) as http:
        models = {m["alias"]: m for m in (await http.get("/api/models")).json()["items"]}
        credentials = (await http.get(f"/api/provider-credentials/organization/{org.id}")).json()["items"]
    assert models["claude-sonnet"]["provider"] == "anthropic"
    assert models["claude-sonnet"]["default_max_tokens"] == 8192
    assert models["claude-sonnet"]["access_groups"] == ["premium"]
    assert models["llama-8b"]["provider"] == "fireworks"
    assert models["in-house"]["provider_input_cost_per_million"] == "2.5"
    assert models["in-house"]["input_price_per_million"] == "2.5"  # margin 0 until the operator sets prices
    assert models["gemini-flash"]["provider_output_cost_per_million"] != "0"  # from the catalog
    assert sorted(c["provider"] for c in credentials) == [
        "anthropic", "fireworks", "gemini", "openai", "openai", "openai"
    ]  # fmt: skip
    assert {c["key_hint"] for c in credentials} >= {"sk-…aaaa", "sk-…0001"}
    assert "api_key" not in str(credentials)
    bad = await run_cli(monkeypatch, env, "import-litellm-config", str(tmp_path / "missing.yaml"),
                        "--organization", str(org.id))  # fmt: skip
    assert bad == 1 and "cannot read" in capsys.readouterr().err


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
