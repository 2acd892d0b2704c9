"""The app factory, health endpoint, settings and problem+json errors."""

from pathlib import Path

import pytest
from litestar.testing import AsyncTestClient

from entrypoints.http.app import create_app
from entrypoints.runtime import open_memory_runtime
from entrypoints.settings import SettingsError, load_settings


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return load_settings({"DATA_DIR": str(tmp_path)})


async def test_health_answers_ok(settings) -> None:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(settings, runtime=open_memory_runtime)) as client:
        response = await client.get("/health")
        assert response.status_code == 200
        assert response.json() == {"status": "ok"}
        db = await client.get("/health/db")
        assert db.status_code == 200


async def test_unknown_path_is_a_problem_document(settings) -> None:  # type: ignore[no-untyped-def]
    async with AsyncTestClient(app=create_app(settings, runtime=open_memory_runtime)) as client:
        response = await client.get("/nope")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")
        body = response.json()
        assert body["code"] == "not_found" and body["status"] == 404 and body["title"]


def test_missing_secrets_are_generated_once_outside_production(tmp_path: Path) -> None:
    first = load_settings({"DATA_DIR": str(tmp_path)})
    second = load_settings({"DATA_DIR": str(tmp_path)})
    assert first.jwt_secret == second.jwt_secret and first.fernet_keys == second.fernet_keys
    assert set(first.generated_secrets) == {"JWT_SECRET", "FERNET_KEYS"}
    assert first.jwt_secret not in repr(first)


def test_production_refuses_to_start_without_secrets(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings({"APP_ENV": "production", "DATA_DIR": str(tmp_path)})


def test_malformed_numbers_and_keys_are_named_not_echoed(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="PORT"):
        load_settings({"DATA_DIR": str(tmp_path), "PORT": "eighty"})
    with pytest.raises(SettingsError) as info:
        load_settings({"DATA_DIR": str(tmp_path), "FERNET_KEYS": "not-a-key-secret-value"})
    assert "not-a-key-secret-value" not in str(info.value)
