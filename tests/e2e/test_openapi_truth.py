"""``/schema`` says what the server does: the answers Litestar cannot see, the bounds the
use cases check, clean component names, a docs page that needs no CDN, ``OPTIONS``
answers naming every method, and ``docs/api.md`` covering every operation."""

import json
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from application.services.admin_auth import MIN_PASSWORD_LENGTH
from domain.budgets import BudgetMode
from entrypoints.http.errors import PROBLEM_JSON, PROBLEMS
from tests.e2e.admin_helpers import setup_owner
from tests.e2e.conftest import Server
from tests.e2e.test_problem_docs import anchors

API_DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"
METHODS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
async def schema(server: Server) -> dict[str, Any]:
    async with server.client() as http:
        response = await http.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m.upper(), p, op) for p, item in schema["paths"].items() for m, op in item.items() if m in METHODS]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[1]]
    return node


async def test_a_reused_external_id_answers_200_as_documented(server: Server, schema: dict[str, Any]) -> None:
    responses = schema["paths"]["/api/jobs/create"]["post"]["responses"]
    assert responses["200"]["content"] == responses["201"]["content"]
    _, key = await server.team(BudgetMode.JOB_BASED)
    async with server.client(key) as http:
        body = {"job_type": "truth", "external_id": "order-1"}
        first, again = [await http.post("/api/jobs/create", json=body) for _ in range(2)]
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json()["job_id"] == again.json()["job_id"]


def test_streams_are_documented_as_server_sent_events(schema: dict[str, Any]) -> None:
    def answer(path: str) -> list[str]:
        return list(schema["paths"][path]["post"]["responses"]["200"]["content"])

    assert answer("/api/jobs/{job_id}/llm-call-stream") == ["text/event-stream"]
    assert answer("/api/jobs/create-and-call-stream") == ["text/event-stream"]
    assert answer("/v1/chat/completions") == ["application/json", "text/event-stream"]


async def test_metrics_are_documented_and_served_as_prometheus_text(server: Server, schema: dict[str, Any]) -> None:
    documented = schema["paths"]["/metrics"]["get"]["responses"]["200"]["content"]
    assert list(documented) == ["text/plain"]
    async with server.client() as http:
        metrics = await http.get("/metrics")
    assert metrics.status_code == 200 and metrics.headers["content-type"].startswith("text/plain")
    # Prometheus's exposition type, its charset said once (scrapers parse the header).
    assert metrics.headers["content-type"].lower().count("charset") == 1
    assert "version=" in metrics.headers["content-type"]


def test_every_error_answer_is_documented_as_a_problem_with_its_codes(schema: dict[str, Any]) -> None:
    problem = schema["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "code"} <= set(problem["required"])
    for method, path, operation in operations(schema):
        errors = {s: r for s, r in operation["responses"].items() if s[0] in "45"}
        assert "500" in errors and "422" in errors, (method, path)
        for status, response in errors.items():
            [(media_type, content)] = response["content"].items()
            assert media_type == ("application/json" if path.startswith("/v1") else PROBLEM_JSON), (method, path)
            base, codes = content["schema"]["allOf"]
            listed = codes["properties"]["error"]["properties"] if path.startswith("/v1") else codes["properties"]
            enum = listed["code"]["enum"]
            assert enum and all(int(status) in PROBLEMS[code].statuses for code in enum), (method, path, status)
            assert base["$ref"].endswith("/ErrorOut" if path.startswith("/v1") else "/Problem")
    llm_call = schema["paths"]["/api/jobs/{job_id}/llm-call"]["post"]["responses"]
    assert (
        "insufficient_credits"
        in llm_call["402"]["content"][PROBLEM_JSON]["schema"]["allOf"][1]["properties"]["code"]["enum"]
    )
    assert "Retry-After" in llm_call["429"]["headers"]
    assert "412" in schema["paths"]["/api/teams/{team_id}"]["put"]["responses"]
    assert any(p["name"] == "If-Match" for p in schema["paths"]["/api/teams/{team_id}"]["put"]["parameters"])


async def test_password_bounds_are_the_ones_the_server_checks(server: Server, schema: dict[str, Any]) -> None:
    def password(component: str) -> dict[str, Any]:
        field: dict[str, Any] = schema["components"]["schemas"][component]["properties"]["password"]
        return field

    for component in ("CreateUserBody", "UpdateUserBody", "SetupBody"):
        assert password(component)["minLength"] == MIN_PASSWORD_LENGTH, component
    setup_body = schema["paths"]["/api/setup"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert setup_body == {"$ref": "#/components/schemas/SetupBody"}
    assert password("LoginBody")["minLength"] == 1  # a login takes whatever was set
    owner = await setup_owner(server)
    short = "x" * (MIN_PASSWORD_LENGTH - 1)
    async with server.client(owner) as http:
        refused = await http.post("/api/users/create", json={"email": "a@b.co", "password": short, "role": "viewer"})
        accepted = await http.post(
            "/api/users/create", json={"email": "c@d.co", "password": short + "x", "role": "viewer"}
        )
    assert (refused.status_code, accepted.status_code) == (422, 201)


def test_component_names_carry_no_module_path_and_every_reference_resolves(schema: dict[str, Any]) -> None:
    names = set(schema["components"]["schemas"])
    assert [n for n in names if not re.fullmatch(r"[A-Z][A-Za-z0-9]*", n)] == []
    assert {"UserOutPage", "TeamOutPage", "ChatTextPart", "OpenaiTextPart"} <= names
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(schema)))
    assert refs - names == set()


async def test_the_docs_page_loads_only_assets_the_service_serves(server: Server) -> None:
    async with server.client() as http:
        for page in ("/schema", "/schema/swagger"):
            html = await http.get(page)
            assert html.status_code == 200, page
            assets = anchors(html.text).assets
            assert len(assets) == 3 and all(a.startswith("/docs/assets/") for a in assets), assets
            assert "cdn" not in html.text and "://" not in html.text.split("spec:")[0], page
            for asset in assets:
                served = await http.get(asset)
                assert served.status_code == 200 and len(served.content) > 1000, asset


def concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)


async def test_options_lists_every_method_of_the_path(server: Server, schema: dict[str, Any]) -> None:
    async with httpx.AsyncClient(base_url=server.url) as http:
        for path, item in schema["paths"].items():
            documented = {m.upper() for m in item if m in METHODS} | {"OPTIONS"}
            answer = await http.options(concrete(path))
            assert answer.status_code == 204, path
            assert set(answer.headers["allow"].split(", ")) == documented, path


def test_docs_api_md_covers_every_operation(schema: dict[str, Any]) -> None:
    text = API_DOC.read_text()
    missing = [f"{m} {p}" for m, p, _ in operations(schema) if f"`{m} {p}`" not in text]
    assert missing == []
    assert [code for code in PROBLEMS if f"`{code}`" not in text] == []
    # Nothing outside the repository: no sibling folders, no site but the local service.
    assert "../" not in text and re.findall(r"https?://(?!127\.0\.0\.1[:/])[^\s)`\"]+", text) == []
