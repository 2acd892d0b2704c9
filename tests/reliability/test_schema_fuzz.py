"""Schemathesis against ``/schema``: every operation of the client and admin APIs, with valid
credentials (a team's virtual key, an owner's JWT), answers without a 5xx, and every
error it answers is problem+json (``/v1``: OpenAI's error envelope, as documented).
Bounded in CI (``RELIABILITY_FUZZ_EXAMPLES``, default 20 per operation); the
nightly-style target runs ten times more.

Runs after the scenarios (file order): owner credentials let it delete and suspend what
they seeded, which is fine once they are done.
"""

import time
from decimal import Decimal
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.reliability.cluster import Cluster
from tests.reliability.conftest import FUZZ_EXAMPLES

FUZZ_SETTINGS = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,  # the same examples every run: a failure reproduces
)


def problems(case: Any, response: Any) -> list[str]:
    """What is wrong with one answer: a 5xx, or an error that is not problem+json."""
    found = []
    where = f"{case.method} {case.formatted_path} → {response.status_code}"
    if response.status_code >= 500:
        found.append(f"{where}: {response.text[:300]}")
    elif response.status_code >= 400 and case.method.upper() != "HEAD":  # HEAD carries no body
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        if case.path.startswith("/v1"):
            # OpenAI's surface answers in OpenAI's error envelope, by design (docs/api.md, "/v1")
            body = response.json() if content_type.startswith("application/json") else None
            if not (isinstance(body, dict) and isinstance(body.get("error"), dict) and body["error"].get("code")):
                found.append(f"{where} without OpenAI's error envelope: {response.text[:200]}")
        elif not content_type.startswith("application/problem+json"):
            found.append(f"{where} with {content_type!r}: {response.text[:200]}")
    return found


@pytest.fixture(scope="session")
async def fuzz_credentials(cluster: Cluster) -> dict[str, str]:
    _, key = await cluster.team(Decimal(10**6))
    return {"client": key, "admin": await cluster.admin_token(), "url": cluster.urls[0]}


def fuzz(url: str, token: str, paths: str) -> tuple[int, int, list[str]]:
    """Every operation under ``paths``; returns (operations, requests, problems)."""
    schema = schemathesis.openapi.from_url(f"{url}/schema/openapi.json").include(path_regex=paths)
    session = requests.Session()
    headers = {"Authorization": f"Bearer {token}"}
    found: list[str] = []
    sent = [0]
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @FUZZ_SETTINGS
        @given(case=operation.as_strategy())
        def run(case: Any) -> None:
            response = case.call(base_url=url, session=session, headers=headers, timeout=30)
            sent[0] += 1
            found.extend(problems(case, response))

        run()
    return operations, sent[0], found


CLIENT_PATHS = "^/(api/jobs|api/usage|v1)"
ADMIN_PATHS = "^/api/(auth|users|organizations|teams|credentials|models|reports|access-groups|setup|audit|webhooks)"


def test_client_and_admin_apis_answer_no_5xx_and_only_problem_json_errors(
    cluster: Cluster, fuzz_credentials: dict[str, str]
) -> None:
    url = fuzz_credentials["url"]
    started = time.monotonic()
    client_ops, client_sent, client_found = fuzz(url, fuzz_credentials["client"], CLIENT_PATHS)
    admin_ops, admin_sent, admin_found = fuzz(url, fuzz_credentials["admin"], ADMIN_PATHS)
    found = client_found + admin_found
    cluster.report(
        scenario="schema fuzzing (schemathesis)",
        load=f"{client_ops} client + {admin_ops} admin operations, {FUZZ_EXAMPLES} examples each, "
        f"{client_sent + admin_sent} requests in {time.monotonic() - started:.0f} s",
        faults="generated inputs from /schema, valid credentials",
        five_xx=sum(1 for f in found if " → 5" in f),
        not_problem_json=sum(1 for f in found if " → 4" in f),
    )
    assert client_ops > 5 and admin_ops > 10
    assert found == [], "\n".join(found[:20])
