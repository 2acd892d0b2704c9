"""The 500 path: a stable, detail-free problem document, and one log line naming the
error's type and origin, never its message."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient
from structlog.testing import capture_logs

from adapters.postgres.errors import PersistenceError
from entrypoints.http.app import create_app
from entrypoints.runtime import open_memory_runtime
from entrypoints.settings import load_settings


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[AsyncTestClient[Litestar]]:
    app = create_app(load_settings({"DATA_DIR": str(tmp_path)}), runtime=open_memory_runtime)
    async with AsyncTestClient(app=app) as client:
        yield client


@pytest.mark.parametrize(
    "error",
    [
        PersistenceError("an unexpected database error occurred", cause="DataError"),
        RuntimeError("customer text 4111-1111"),
        OverflowError("date value out of range"),
    ],
    ids=["persistence", "runtime", "overflow"],
)
async def test_an_unexpected_error_answers_a_bare_500_and_is_logged_by_type(
    client: AsyncTestClient[Litestar], monkeypatch: pytest.MonkeyPatch, error: Exception
) -> None:
    async def broken() -> bool:
        raise error

    monkeypatch.setattr(client.app.state.services.admin_auth, "needs_setup", broken)
    with capture_logs() as logs:
        response = await client.get("/api/setup/status")
    assert response.status_code == 500
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json() == {
        "type": "/docs/problems#internal_error",
        "title": "Internal error",
        "status": 500,
        "detail": "an unexpected error occurred",
        "code": "internal_error",
    }
    [line] = [entry for entry in logs if entry["log_level"] == "error"]
    assert line["event"] == "unhandled_error" and line["error_type"] == type(error).__name__
    assert any("broken" in frame for frame in line["where"])
    assert str(error) not in repr(line) and "exc_info" not in line
    if isinstance(error, PersistenceError):
        assert line["cause"] == "DataError"
