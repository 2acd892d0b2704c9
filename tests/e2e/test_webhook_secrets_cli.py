"""``saasllm rotate-keys`` and webhook secrets, against the real stack: plaintext secrets
stored before migration 0004 get encrypted, older ciphertexts move to the newest key, and
the secret itself never changes (receivers keep verifying)."""

from pathlib import Path
from typing import Any

import msgspec
import pytest

from adapters.vault.fernet import FernetVault
from application.ports.vault import VaultError
from entrypoints.bootstrap import Services
from tests.e2e.test_admin_cli import cli_env, run_cli, serving
from tests.postgres import fresh_database

LEGACY_SECRET = "whsec_stored_in_clear_before_0004"


async def stored(services: Services, webhook_id: Any) -> tuple[str, bool]:
    async with services.webhooks._uow() as uow:  # what the database holds
        found = await uow.webhooks.get(webhook_id)
    assert found is not None
    return found.secret, found.secret_encrypted


async def test_rotate_keys_encrypts_plaintext_webhook_secrets_and_moves_the_rest_to_the_new_key(
    tmp_path: Path, postgres_server_url: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    key1, key2 = FernetVault.generate_key(), FernetVault.generate_key()
    async with fresh_database(postgres_server_url, prefix="saasllm_whrotate") as url:
        async with serving(tmp_path, url, key1) as (_, services):
            org = await services.organizations.create_organization(name="Hooks")
            current = await services.webhooks.create(
                None, organization_id=org.id, url="https://hooks.example.com/a", events=["job.completed"]
            )
            legacy = await services.webhooks.create(
                None, organization_id=org.id, url="https://hooks.example.com/b", events=["job.completed"]
            )
            async with services.webhooks._uow() as uow:  # as a row written before 0004 looks
                await uow.webhooks.update(
                    msgspec.structs.replace(legacy.webhook, secret=LEGACY_SECRET, secret_encrypted=False)
                )
                await uow.commit()

        async with serving(tmp_path, url, f"{key2},{key1}") as (settings, services):
            env = {**cli_env(settings), "FERNET_KEYS": f"{key2},{key1}"}
            assert await run_cli(monkeypatch, env, "rotate-keys") == 0
            out = capsys.readouterr().out
            assert "re-encrypted 2 webhook secrets under the newest key (0 already were)" in out
            assert LEGACY_SECRET not in out and current.secret not in out
            assert await run_cli(monkeypatch, env, "rotate-keys") == 0
            assert "re-encrypted 0 webhook secrets under the newest key (2 already were)" in capsys.readouterr().out
            (a, a_encrypted), (b, b_encrypted) = (
                await stored(services, current.webhook.id),
                await stored(services, legacy.webhook.id),
            )

    assert a_encrypted and b_encrypted and LEGACY_SECRET not in b
    newest = FernetVault([key2])
    assert newest.decrypt(a) == current.secret and newest.decrypt(b) == LEGACY_SECRET
    with pytest.raises(VaultError):
        FernetVault([key1]).decrypt(a)
