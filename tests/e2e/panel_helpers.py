"""A signed-in browser session on the admin panel, as plain HTTP (cookies and the CSRF token)."""

import re
from types import TracebackType
from typing import Any

import httpx

from tests.e2e.admin_helpers import PASSWORD

_TOKEN = re.compile(r'name="_csrf_token" value="([0-9a-f]+)"')


def csrf_token(html: str) -> str:
    found = _TOKEN.search(html)
    assert found is not None, "the page has no CSRF field"
    return found.group(1)


class Panel:
    """One operator's cookie jar; ``post`` sends a form with the session's CSRF token."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.AsyncClient(base_url=base_url, timeout=10, follow_redirects=False)
        self._token: str | None = None

    async def __aenter__(self) -> "Panel":
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.http.aclose()

    async def token(self) -> str:
        if self._token is None:
            page = await self.http.get("/admin/login", follow_redirects=True)  # or the setup page
            self._token = csrf_token(page.text)
        return self._token

    async def sign_in(self, email: str, password: str = PASSWORD) -> httpx.Response:
        response = await self.post("/admin/login", {"email": email, "password": password})
        assert response.status_code == 303, response.text
        return response

    async def get(self, path: str, **kw: Any) -> httpx.Response:
        return await self.http.get(path, **kw)

    async def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> httpx.Response:
        return await self.http.post(path, data={"_csrf_token": await self.token(), **(data or {})}, **kw)
