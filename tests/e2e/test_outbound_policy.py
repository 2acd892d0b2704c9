"""Outbound calls over HTTP: a stored provider key cannot be pointed at another host
without supplying it again; in production api_base and webhook URLs must be https to a
public address (each with its own opt-in for private ones); what a provider's error body
says reaches a client only redacted."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.vault.fernet import FernetVault
from domain.budgets import BudgetMode
from entrypoints.settings import load_settings
from tests.e2e.admin_helpers import setup_owner
from tests.e2e.conftest import Server, free_port, serve
from tests.e2e.conftest import test_runtime as e2e_runtime
from tests.postgres import fresh_database
from tests.support.fake_provider import Reply

UPSTREAM_KEY = "sk-upstream-secret-9876"  # the e2e world's OpenAI credential
CALL = {"model": "smart", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture(scope="module")
async def owner(server: Server) -> str:
    return await setup_owner(server)


async def a_credential(http: httpx.AsyncClient, server: Server, **fields: Any) -> dict[str, Any]:
    body = {
        "organization_id": str(server.organization.id),
        "provider": "openai",
        "name": "moving",
        "api_key": "sk-original-key-0001",
        "api_base": server.upstream.api_base("openai"),
        **fields,
    }
    created = await http.post("/api/provider-credentials/create", json=body)
    assert created.status_code == 201, created.text
    result: dict[str, Any] = created.json()
    return result


def refused(response: httpx.Response, detail: str) -> None:
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_request"
    assert response.json()["detail"] == detail


async def stored(http: httpx.AsyncClient, server: Server, credential_id: str) -> dict[str, Any]:
    listed = (await http.get(f"/api/provider-credentials/organization/{server.organization.id}")).json()["items"]
    [found] = [c for c in listed if c["id"] == credential_id]
    return dict(found)


async def test_changing_api_base_without_the_key_is_refused(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        credential = await a_credential(http, server)
        path = f"/api/provider-credentials/{credential['id']}"
        needs_key = "changing provider or api_base needs the api_key in the same request"
        refused(await http.put(path, json={"api_base": "http://attacker.example:8080/v1"}), needs_key)
        refused(await http.put(path, json={"api_base": None}), needs_key)
        assert (await stored(http, server, credential["id"]))["api_base"] == credential["api_base"]

        moved = await http.put(path, json={"api_base": "http://elsewhere.example/v1", "api_key": "sk-new-key-0002"})
        assert moved.status_code == 200, moved.text
        assert (moved.json()["api_base"], moved.json()["key_hint"]) == ("http://elsewhere.example/v1", "sk-…0002")


async def test_changing_provider_without_the_key_is_refused(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        credential = await a_credential(http, server)
        path = f"/api/provider-credentials/{credential['id']}"
        refused(
            await http.put(path, json={"provider": "anthropic"}),
            "changing provider or api_base needs the api_key in the same request",
        )
        assert (await stored(http, server, credential["id"]))["provider"] == "openai"
        moved = await http.put(path, json={"provider": "anthropic", "api_key": "sk-ant-key-0003"})
        assert moved.status_code == 200, moved.text
        assert (await stored(http, server, credential["id"]))["provider"] == "anthropic"


async def test_renaming_or_resending_the_same_api_base_needs_no_key(server: Server, owner: str) -> None:
    async with server.client(owner) as http:
        credential = await a_credential(http, server)
        path = f"/api/provider-credentials/{credential['id']}"
        same = await http.put(path, json={"name": "renamed", "provider": "openai", "api_base": credential["api_base"]})
        assert same.status_code == 200, same.text
        assert (same.json()["name"], same.json()["key_hint"]) == ("renamed", credential["key_hint"])


async def test_an_upstream_error_page_carrying_the_key_never_reaches_the_client(server: Server) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD)
    page = b"<html><body><h1>502</h1><pre>Authorization: Bearer " + UPSTREAM_KEY.encode() + b"</pre></body></html>"
    server.upstream.reset()
    server.upstream.push(*[Reply(status=502, body=page, headers={"content-type": "text/html"})] * 2)
    async with server.client(key) as http:
        job = (await http.post("/api/jobs/create", json={"job_type": "doc"})).json()
        answer = await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
        assert answer.status_code == 502 and answer.json()["code"] == "provider_error"
        assert answer.json()["detail"] == "OpenAI returned an unreadable response (HTTP 502)"
        recorded = (await http.get(f"/api/jobs/{job['job_id']}")).text

        server.upstream.push(
            Reply(status=400, body=b'{"error": {"message": "Key ' + UPSTREAM_KEY.encode() + b' is too long ago"}}')
        )
        refused_call = await http.post(f"/api/jobs/{job['job_id']}/llm-call", json=CALL)
        assert refused_call.status_code == 400
        assert refused_call.json()["detail"] == "OpenAI answered 400: Key [redacted] is too long ago"
    for body in (answer.text, recorded, refused_call.text):
        assert UPSTREAM_KEY not in body and "<html>" not in body and "Bearer" not in body


# -- production: https only, public addresses only (unless the operator allows private ones) --


async def production_server(tmp: Path, postgres_url: str, **env: str) -> AsyncIterator[Server]:
    async with fresh_database(postgres_url, prefix="saasllm_prod") as database_url:
        settings = load_settings(
            {
                "APP_ENV": "production",
                "DATA_DIR": str(tmp),
                "PORT": str(free_port()),
                "DATABASE_URL": database_url,
                "JWT_SECRET": "p" * 48,
                "FERNET_KEYS": FernetVault.generate_key(),
                "LOG_LEVEL": "WARNING",
                **env,
            }
        )
        async with serve(settings, e2e_runtime) as services:
            organization = await services.organizations.create_organization(name="Prod")
            yield Server(
                url=f"http://127.0.0.1:{settings.port}",
                services=services,
                upstream=None,  # type: ignore[arg-type]  # production refuses the local fake upstream
                organization=organization,
                settings=settings,
            )


@pytest.fixture(scope="module")
async def strict(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> AsyncIterator[Server]:
    async for world in production_server(tmp_path_factory.mktemp("strict"), postgres_server_url):
        yield world


@pytest.fixture(scope="module")
async def lenient(tmp_path_factory: pytest.TempPathFactory, postgres_server_url: str) -> AsyncIterator[Server]:
    tmp = tmp_path_factory.mktemp("lenient")
    async for world in production_server(tmp, postgres_server_url, ALLOW_PRIVATE_API_BASE="1"):
        yield world


async def create(world: Server, token: str, api_base: str) -> httpx.Response:
    body = {
        "organization_id": str(world.organization.id),
        "provider": "openai",
        "name": "prod",
        "api_key": "sk-prod-key-0001",
        "api_base": api_base,
    }
    async with world.client(token) as http:
        return await http.post("/api/provider-credentials/create", json=body)


@pytest.mark.parametrize(
    ("api_base", "reason"),
    [
        ("http://llm.example.com/v1", "must be an https URL"),
        ("https://127.0.0.1:8443/v1", "resolves to a loopback address"),
        ("https://localhost:8443/v1", "resolves to a loopback address"),  # resolved by the system resolver
        ("https://10.1.2.3/v1", "resolves to a private address"),
        ("https://169.254.169.254/latest/meta-data", "resolves to a cloud metadata address"),
        ("https://[fd00:ec2::254]/", "resolves to a cloud metadata address"),
        ("https://[::ffff:192.168.0.1]/", "resolves to a private address"),
        ("https://no-such-host.invalid/v1", "has a host name that does not resolve"),
    ],
)
async def test_production_refuses_api_bases_that_are_not_https_to_a_public_address(
    strict: Server, api_base: str, reason: str
) -> None:
    token = await _owner(strict)
    refused(await create(strict, token, api_base), f"api_base {reason}")


async def test_production_accepts_a_public_https_api_base_and_checks_updates_too(strict: Server) -> None:
    token = await _owner(strict)
    created = await create(strict, token, "https://8.8.8.8/v1")
    assert created.status_code == 201, created.text
    async with strict.client(token) as http:
        moved = await http.put(
            f"/api/provider-credentials/{created.json()['id']}",
            json={"api_base": "https://169.254.169.254/", "api_key": "sk-prod-key-0002"},
        )
    refused(moved, "api_base resolves to a cloud metadata address")


async def test_allow_private_api_base_admits_private_hosts_but_never_metadata_or_http(lenient: Server) -> None:
    token = await _owner(lenient)
    assert (await create(lenient, token, "https://10.1.2.3:8000/v1")).status_code == 201
    assert (await create(lenient, token, "https://localhost:8443/v1")).status_code == 201
    refused(await create(lenient, token, "https://169.254.169.254/"), "api_base resolves to a cloud metadata address")
    refused(await create(lenient, token, "http://10.1.2.3:8000/v1"), "api_base must be an https URL")


async def subscribe(world: Server, token: str, url: str) -> httpx.Response:
    body = {"organization_id": str(world.organization.id), "url": url, "events": ["job.completed"]}
    async with world.client(token) as http:
        return await http.post("/api/webhooks/create", json=body)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/in", "must be an https URL"),
        ("https://127.0.0.1/hook", "resolves to a loopback address"),
        ("https://localhost/hook", "resolves to a loopback address"),
        ("https://192.168.1.20/hook", "resolves to a private address"),
        ("https://169.254.169.254/latest/meta-data/iam", "resolves to a cloud metadata address"),
        ("https://no-such-host.invalid/hook", "has a host name that does not resolve"),
    ],
)
async def test_production_refuses_webhook_urls_that_are_not_https_to_a_public_address(
    strict: Server, url: str, reason: str
) -> None:
    refused(await subscribe(strict, await _owner(strict), url), f"url {reason}")


async def test_production_accepts_a_public_https_webhook_and_checks_a_changed_url(strict: Server) -> None:
    token = await _owner(strict)
    created = await subscribe(strict, token, "https://8.8.4.4/hook")
    assert created.status_code == 201, created.text
    async with strict.client(token) as http:
        moved = await http.put(f"/api/webhooks/{created.json()['id']}", json={"url": "https://10.0.0.9/hook"})
    refused(moved, "url resolves to a private address")


async def test_allowing_private_api_bases_does_not_allow_private_webhooks(lenient: Server) -> None:
    token = await _owner(lenient)
    refused(await subscribe(lenient, token, "https://10.1.2.3/hook"), "url resolves to a private address")


_OWNERS: dict[str, str] = {}


async def _owner(world: Server) -> str:
    """One owner per production world (the first-run setup works once)."""
    if world.url not in _OWNERS:
        _OWNERS[world.url] = await setup_owner(world)
    return _OWNERS[world.url]
