"""Every problem ``type`` resolves, on the service itself, to an entry that explains its code.

The codes come from everywhere one can be raised: every ``DomainError`` subclass of every
layer (imported here so that none is missed) and every code the HTTP mapper and the
handlers write themselves. Each must be in the registry the page is generated from, and
the page must have its anchor.
"""

import importlib
import pkgutil
import re
from html import escape
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest

import adapters
import application
import domain
import entrypoints
from domain.budgets import BudgetMode
from domain.errors import DomainError
from entrypoints.http.errors import PROBLEMS
from tests.e2e.conftest import Server

ROOT = Path(__file__).resolve().parents[2]
# A code written as a literal where a response is made: `problem_response("x", ...)`, `code = "x"`.
_LITERAL_CODE = re.compile(r'(?:problem_response\(\s*|\bcode = )"([a-z_]+)"')


def _subclasses(cls: type) -> set[type]:
    found = set(cls.__subclasses__())
    for sub in list(found):
        found |= _subclasses(sub)
    return found


def raised_codes() -> set[str]:
    for package in (domain, application, adapters, entrypoints):
        for module in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if not module.name.endswith("__main__"):  # runs the CLI
                importlib.import_module(module.name)
    codes = {cls.code for cls in _subclasses(DomainError) | {DomainError}}
    for source in (ROOT / "entrypoints").rglob("*.py"):
        codes |= set(_LITERAL_CODE.findall(source.read_text()))
    return codes


class _Anchors(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()
        self.assets: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if named.get("id"):
            self.ids.add(str(named["id"]))
        for attr in ("src", "href"):
            if tag in ("script", "link", "img") and named.get(attr):
                self.assets.append(str(named[attr]))


def anchors(html: str) -> _Anchors:
    parser = _Anchors()
    parser.feed(html)
    return parser


def test_every_code_that_can_be_raised_is_in_the_registry() -> None:
    codes = raised_codes()
    assert {"insufficient_credits", "provider_timeout", "method_not_allowed", "internal_error"} <= codes
    assert codes - set(PROBLEMS) == set()


async def test_the_page_has_an_entry_for_every_code_and_loads_nothing_from_elsewhere(server: Server) -> None:
    async with server.client() as http:
        page = await http.get("/docs/problems")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    found = anchors(page.text)
    assert raised_codes() | set(PROBLEMS) <= found.ids
    assert found.assets == []  # styles inline, no script, no font
    for code, kind in PROBLEMS.items():
        row = page.text.split(f'<tr id="{code}">', 1)[1].split("</tr>", 1)[0]
        assert escape(kind.title) in row and escape(kind.advice) in row and str(kind.status) in row, code


@pytest.mark.parametrize(
    ("method", "path", "key", "code"),
    [
        ("GET", "/api/jobs/00000000-0000-0000-0000-000000000000", "team", "not_found"),
        ("POST", "/api/jobs/create", None, "unauthorized"),
        ("DELETE", "/health", None, "method_not_allowed"),
        ("POST", "/api/jobs/create", "team", "invalid_request"),
    ],
)
async def test_a_real_problems_type_resolves_to_the_entry_of_its_code(
    server: Server, method: str, path: str, key: str | None, code: str
) -> None:
    token = (await server.team(BudgetMode.JOB_BASED))[1] if key else None
    async with server.client(token) as http:
        problem = await http.request(method, path, json={"job_type": ""} if method == "POST" else None)
        assert problem.headers["content-type"].startswith("application/problem+json")
        body = problem.json()
        assert body["code"] == code and body["status"] == problem.status_code
        target = urljoin(str(problem.url), body["type"])  # RFC 9457: relative to the request's URI
        page, _, fragment = target.partition("#")
        assert fragment == code and page == f"{server.url}/docs/problems"
        # The page answers without a credential, whoever got the problem.
        resolved = await httpx.AsyncClient().get(page)
    assert resolved.status_code == 200 and fragment in anchors(resolved.text).ids
