"""Schemathesis against the live ``/schema``: every answer of every operation has a status
the document lists for it, with the content type it lists for that status.

The generated requests carry valid credentials (a team's key on the client API and
``/v1``, an owner's token on the admin API), so they reach the handlers, and a bounded,
derandomized number of examples each, so a failure reproduces. Its own module: the owner
token may suspend or delete what it finds.
"""

import asyncio
from decimal import Decimal
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.core.failures import FailureGroup
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import content_type_conformance, status_code_conformance

from domain.budgets import BudgetMode
from tests.e2e.admin_helpers import setup_owner
from tests.e2e.conftest import Server

EXAMPLES = 10  # per operation, positive and negative cases mixed
CHECKS = [status_code_conformance, content_type_conformance]
CLIENT_PATHS = "^/(api/jobs|api/teams/[^/]+/(jobs|usage|credits|quote)|api/quotes|v1)"
ADMIN_PATHS = "^/(api/(auth|users|organizations|teams|provider-credentials|models|model-access-groups|pricing"
ADMIN_PATHS += "|analytics|jobs|setup|audit-log|webhooks)|health|metrics|docs)"


def conformance_findings(url: str, token: str, paths: str) -> tuple[int, list[str]]:
    """Run the checks on every operation under ``paths``: (operations, findings)."""
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json").include(path_regex=paths)
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    found: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy(GenerationMode.POSITIVE) | operation.as_strategy(GenerationMode.NEGATIVE))
        def run(case: Any) -> None:
            response = case.call(base_url=url, session=session, headers=headers, timeout=30)
            try:
                case.validate_response(response, checks=CHECKS)
            except FailureGroup as failures:
                for failure in failures.exceptions:
                    found.append(f"{case.method} {case.formatted_path} → {response.status_code}: {failure.title}")

        run()
    return operations, found


@pytest.fixture(scope="module")
async def owner(server: Server) -> str:
    return await setup_owner(server)


async def test_every_answer_is_documented_with_its_content_type(server: Server, owner: str) -> None:
    _, key = await server.team(BudgetMode.CONSUMPTION_USD, credits=Decimal(10**6))
    client_ops, client_found = await asyncio.to_thread(conformance_findings, server.url, key, CLIENT_PATHS)
    admin_ops, admin_found = await asyncio.to_thread(conformance_findings, server.url, owner, ADMIN_PATHS)
    assert client_ops > 10 and admin_ops > 40
    found = client_found + admin_found
    assert found == [], "\n".join(sorted(set(found)))
