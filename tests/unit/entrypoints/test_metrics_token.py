"""GET /metrics: open without METRICS_TOKEN, a bearer token required with it."""

from pathlib import Path

from litestar.testing import AsyncTestClient

from entrypoints.http.app import create_app
from entrypoints.runtime import open_memory_runtime
from entrypoints.settings import load_settings

TOKEN = "metrics-token-that-stays-secret"


async def test_metrics_are_open_when_no_token_is_configured(tmp_path: Path) -> None:
    app = create_app(load_settings({"DATA_DIR": str(tmp_path)}), runtime=open_memory_runtime)
    async with AsyncTestClient(app=app) as client:
        response = await client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")


async def test_metrics_need_the_configured_bearer_token(tmp_path: Path) -> None:
    app = create_app(load_settings({"DATA_DIR": str(tmp_path), "METRICS_TOKEN": TOKEN}), runtime=open_memory_runtime)
    async with AsyncTestClient(app=app) as client:
        for headers in (
            {},
            {"Authorization": "Bearer wrong"},
            {"Authorization": f"Basic {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}x"},
        ):
            refused = await client.get("/metrics", headers=headers)
            assert refused.status_code == 401, headers
            assert refused.headers["content-type"].startswith("application/problem+json")
            assert refused.json()["code"] == "unauthorized"
            assert refused.headers["www-authenticate"] == "Bearer"
            assert TOKEN not in refused.text
        allowed = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert allowed.status_code == 200 and allowed.headers["content-type"].startswith("text/plain")
