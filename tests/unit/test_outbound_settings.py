"""The outbound settings: each opt-in for private addresses covers only its own kind of URL."""

from pathlib import Path

import pytest

from entrypoints.settings import SettingsError, load_settings


def production(tmp_path: Path, **env: str) -> dict[str, str]:
    return {
        "APP_ENV": "production",
        "JWT_SECRET": "j" * 48,
        "FERNET_KEYS": "M2Mzc2M3NjM3NjM3NjM3NjM3NjM3NjM3NjM3NjM3NjM=",
        "DATA_DIR": str(tmp_path),
        **env,
    }


def test_production_refuses_private_addresses_for_both_by_default(tmp_path: Path) -> None:
    settings = load_settings(production(tmp_path))
    for policy in (settings.api_base_policy, settings.webhook_policy):
        assert policy.require_https and not policy.allow_private


def test_each_opt_in_covers_only_its_own_urls(tmp_path: Path) -> None:
    api_base = load_settings(production(tmp_path, ALLOW_PRIVATE_API_BASE="1"))
    assert api_base.api_base_policy.allow_private and not api_base.webhook_policy.allow_private
    webhooks = load_settings(production(tmp_path, ALLOW_PRIVATE_WEBHOOKS="true"))
    assert webhooks.webhook_policy.allow_private and not webhooks.api_base_policy.allow_private
    assert webhooks.webhook_policy.require_https  # https stays required in production


def test_outside_production_http_and_private_addresses_stay_allowed(tmp_path: Path) -> None:
    settings = load_settings({"DATA_DIR": str(tmp_path)})
    for policy in (settings.api_base_policy, settings.webhook_policy):
        assert not policy.require_https and policy.allow_private


def test_an_unreadable_flag_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="ALLOW_PRIVATE_WEBHOOKS must be 1 or 0"):
        load_settings(production(tmp_path, ALLOW_PRIVATE_WEBHOOKS="maybe"))
