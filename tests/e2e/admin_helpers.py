"""Admin users and tokens for the e2e tests of the admin API."""

import base64
import json
from typing import Any
from uuid import uuid4

import httpx

from domain.admins import AdminRole
from domain.organizations import Organization
from tests.e2e.conftest import Server

PASSWORD = "a long enough password"


async def login(server: Server, email: str, password: str = PASSWORD) -> str:
    async with server.client() as http:
        response = await http.post("/api/auth/login", json={"email": email, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


async def setup_owner(server: Server, email: str = "owner@example.com") -> str:
    """The first owner, through the first-run setup endpoint; returns its token."""
    async with server.client() as http:
        created = await http.post("/api/setup", json={"email": email, "password": PASSWORD})
        assert created.status_code == 201, created.text
    return await login(server, email)


async def admin_token(server: Server, role: AdminRole, organization: Organization | None = None) -> str:
    email = f"{role}-{uuid4().hex[:8]}@example.com"
    await server.services.admin_auth.create_user(
        email=email, password=PASSWORD, role=role, organization_id=organization.id if organization else None
    )
    return await login(server, email)


async def create_team(http: httpx.AsyncClient, organization_id: str, name: str, **fields: Any) -> dict[str, Any]:
    """POST /api/teams/create: a job-based team unless ``fields`` say otherwise; it must answer 201.
    The answer: the ``team`` and its first ``api_key``."""
    body = {"organization_id": organization_id, "name": name, "budget_mode": "job_based", **fields}
    response = await http.post("/api/teams/create", json=body)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def claims_of(token: str) -> dict[str, object]:
    payload = token.split(".")[1]
    decoded: dict[str, object] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


def unsigned(claims: dict[str, object]) -> str:
    """A token claiming ``alg: none`` (no signature)."""
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def with_claims(token: str, **changes: object) -> str:
    """The token with its claims changed and its original signature kept."""
    header, _, signature = token.split(".")
    return f"{header}.{_b64(json.dumps({**claims_of(token), **changes}).encode())}.{signature}"
