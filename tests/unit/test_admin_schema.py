"""GET /schema documents every admin endpoint (API.md "Operations")."""

from pathlib import Path

from litestar.testing import AsyncTestClient

from entrypoints.http.app import create_app
from entrypoints.runtime import open_memory_runtime
from entrypoints.settings import load_settings

ADMIN_PATHS = {
    "/api/organizations/create", "/api/organizations", "/api/organizations/{org_id}",
    "/api/organizations/{org_id}/usage", "/api/teams/create", "/api/teams", "/api/teams/{team_id}",
    "/api/teams/{team_id}/credits", "/api/teams/{team_id}/suspend", "/api/teams/{team_id}/resume",
    "/api/teams/{team_id}/keys", "/api/teams/{team_id}/keys/{key_id}", "/api/teams/{team_id}/usage",
    "/api/models/create", "/api/models", "/api/models/{alias}", "/api/model-access-groups/create",
    "/api/model-access-groups", "/api/model-access-groups/{name}", "/api/provider-credentials/create",
    "/api/provider-credentials/organization/{org_id}", "/api/provider-credentials/{credential_id}",
    "/api/provider-credentials/{credential_id}/activate", "/api/provider-credentials/{credential_id}/deactivate",
    "/api/pricing", "/api/jobs", "/api/jobs/{job_id}", "/api/analytics/overview", "/api/users/create",
    "/api/users", "/api/users/{user_id}", "/api/audit-log", "/api/webhooks/create",
}  # fmt: skip


async def test_the_openapi_schema_lists_every_admin_endpoint(tmp_path: Path) -> None:
    app = create_app(load_settings({"DATA_DIR": str(tmp_path)}), runtime=open_memory_runtime)
    async with AsyncTestClient(app) as client:
        response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    assert ADMIN_PATHS - set(response.json()["paths"]) == set()
