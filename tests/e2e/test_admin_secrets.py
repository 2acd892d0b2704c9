"""No secret escapes: after a full operator + client scenario over HTTP, no provider key,
virtual key, password or JWT/Fernet secret appears in any response body (a virtual key
only in the one response that creates it) nor anywhere in the log output, which is
captured as rendered in production (JSON lines, at DEBUG level to be strict)."""

import io
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import structlog

from entrypoints.logging import configure_logging
from tests.e2e.conftest import Server

OWNER_PASSWORD = "owner password that is long"
ADMIN_PASSWORD = "admin password that is long"
WRONG_PASSWORD = "a guessed password attempt"
PROVIDER_KEY = "sk-leakcheck-provider-key-AAAA1111"
NEW_PROVIDER_KEY = "sk-leakcheck-provider-key-BBBB2222"
REJECTED_KEY = "sk-leakcheck-provider-key-CCCC3333"


@asynccontextmanager
async def captured_logs() -> AsyncIterator[io.StringIO]:
    """Every log line of the process (structlog and stdlib) rendered into a buffer."""
    saved = structlog.get_config()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    buffer = io.StringIO()
    configure_logging("DEBUG", json=True, stream=buffer)
    try:
        yield buffer
    finally:
        structlog.configure(**saved)
        root.handlers[:] = handlers
        root.setLevel(level)


class Recorder:
    """An HTTP client keeping every response body, labelled by its request."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.bodies: list[tuple[str, str]] = []

    async def request(self, token: str | None, method: str, path: str, json: Any = None) -> httpx.Response:
        async with self.server.client(token) as http:
            response = await http.request(method, path, json=json)
        self.bodies.append((f"{method} {path}", response.text))
        return response


async def test_no_secret_appears_in_responses_or_logs(server: Server) -> None:
    settings = server.settings
    async with captured_logs() as logs:
        r = Recorder(server)
        assert await r.request(None, "POST", "/api/setup", {"email": "o@example.com", "password": OWNER_PASSWORD})
        login = await r.request(None, "POST", "/api/auth/login", {"email": "o@example.com", "password": OWNER_PASSWORD})
        owner = login.json()["access_token"]
        wrong = await r.request(None, "POST", "/api/auth/login", {"email": "o@example.com", "password": WRONG_PASSWORD})
        assert wrong.status_code == 401
        user = {"email": "a@example.com", "password": ADMIN_PASSWORD, "role": "admin"}
        assert (await r.request(owner, "POST", "/api/users/create", user)).status_code == 201
        admin = (
            await r.request(None, "POST", "/api/auth/login", {"email": "a@example.com", "password": ADMIN_PASSWORD})
        ).json()["access_token"]

        org = (await r.request(admin, "POST", "/api/organizations/create", {"name": "Leak Check"})).json()
        credential = await r.request(
            admin,
            "POST",
            "/api/provider-credentials/create",
            {
                "organization_id": org["id"],
                "provider": "openai",
                "name": "main",
                "api_key": PROVIDER_KEY,
                "api_base": server.upstream.api_base("openai"),
            },
        )
        assert credential.status_code == 201 and credential.json()["key_hint"] == "sk-…1111"
        rejected = await r.request(
            admin,
            "POST",
            "/api/provider-credentials/create",
            {"organization_id": org["id"], "provider": "openai", "name": "x", "api_key": REJECTED_KEY,
             "api_base": "ftp://nope.example"},
        )  # fmt: skip
        unknown_field = await r.request(
            admin,
            "POST",
            "/api/provider-credentials/create",
            {"organization_id": org["id"], "provider": "openai", "name": "x", "api_key": REJECTED_KEY, "extra": 1},
        )
        assert (rejected.status_code, unknown_field.status_code) == (422, 422)
        created = await r.request(
            admin,
            "POST",
            "/api/teams/create",
            {"organization_id": org["id"], "name": "t", "budget_mode": "consumption_usd", "credits": "100",
             "access_groups": ["standard"]},
        )  # fmt: skip
        team_key, team_id = created.json()["api_key"], created.json()["team"]["id"]
        issued = await r.request(admin, "POST", f"/api/teams/{team_id}/keys")
        second_key = issued.json()["api_key"]

        job = (await r.request(team_key, "POST", "/api/jobs/create", {"job_type": "doc"})).json()
        call = await r.request(
            team_key,
            "POST",
            f"/api/jobs/{job['job_id']}/llm-call",
            {"model": "smart", "messages": [{"role": "user", "content": "hello"}]},
        )
        assert call.status_code == 200, call.text
        assert (await r.request(team_key, "POST", f"/api/jobs/{job['job_id']}/complete", {})).status_code == 200
        assert (await r.request("sk-job-not-a-real-key", "GET", f"/api/jobs/{job['job_id']}")).status_code == 401
        await r.request(second_key, "GET", f"/api/teams/{team_id}/usage")

        await r.request(admin, "GET", f"/api/jobs/{job['job_id']}")
        await r.request(admin, "GET", f"/api/provider-credentials/organization/{org['id']}")
        cred_id = credential.json()["id"]
        assert (
            await r.request(admin, "PUT", f"/api/provider-credentials/{cred_id}", {"api_key": NEW_PROVIDER_KEY})
        ).json()["key_hint"] == "sk-…2222"
        for path in (
            f"/api/teams/{team_id}",
            f"/api/teams/{team_id}/keys",
            f"/api/teams/{team_id}/credits/transactions",
            "/api/audit-log",
            "/api/users",
            "/api/pricing",
            "/api/analytics/overview",
            "/api/models",
            "/api/jobs",
        ):
            assert (await r.request(owner, "GET", path)).status_code == 200, path
        # A provider call after the key changed: the new key is decrypted and used, not shown.
        job2 = (await r.request(team_key, "POST", "/api/jobs/create", {"job_type": "doc"})).json()
        await r.request(
            team_key,
            "POST",
            f"/api/jobs/{job2['job_id']}/llm-call",
            {"model": "smart", "messages": [{"role": "user", "content": "again"}]},
        )
    output = logs.getvalue()

    never = {
        "provider key": PROVIDER_KEY,
        "new provider key": NEW_PROVIDER_KEY,
        "rejected provider key": REJECTED_KEY,
        "owner password": OWNER_PASSWORD,
        "admin password": ADMIN_PASSWORD,
        "guessed password": WRONG_PASSWORD,
        "JWT secret": settings.jwt_secret,
        **{f"Fernet key {i}": key for i, key in enumerate(settings.fernet_keys)},
    }
    shown_once = {"team key": (team_key, "POST /api/teams/create"), "second key": (second_key, "POST /api/teams/")}
    for label, body in r.bodies:
        for name, secret in never.items():
            assert secret not in body, f"{name} in the response to {label}"
        for name, (secret, creator) in shown_once.items():
            if secret in body:
                assert label.startswith(creator) and body.count(secret) == 1, f"{name} in the response to {label}"
    assert sum(team_key in body for _, body in r.bodies) == 1
    assert sum(second_key in body for _, body in r.bodies) == 1

    assert '"event": "request"' in output and '"status": 200' in output  # the capture did capture
    in_logs = {**never, "team key": team_key, "second key": second_key, "owner token": owner, "admin token": admin}
    for name, secret in in_logs.items():
        assert secret not in output, f"{name} in the log output"
