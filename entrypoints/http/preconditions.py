"""Conditional updates: a row's version goes out as its ``ETag`` and comes back in ``If-Match``.

A client that sends ``If-Match`` with the ETag it read gets 412 ``precondition_failed``
instead of overwriting a change made since; without it an update still works, writing
only the fields it was given. The tag is strong and opaque (``"3"``); ``*`` matches any
existing row; a weak (``W/``) or malformed tag never matches, as RFC 9110 says.
"""

import re
from typing import TypeVar

from litestar import Request, Response
from litestar.datastructures import State

from application.errors import PreconditionFailedError

T = TypeVar("T")

_STRONG_TAG = re.compile(r'"(?P<version>[0-9]{1,9})"')


def expected_version(request: Request[object, object, State]) -> int | None:
    """The version ``If-Match`` asks for; None when there is no header (or it is ``*``)."""
    raw = request.headers.get("if-match")
    if raw is None or raw.strip() == "*":
        return None
    match = _STRONG_TAG.fullmatch(raw.strip())
    if match is not None:
        return int(match["version"])
    raise PreconditionFailedError("If-Match must be the one ETag this resource was read with")


def etag(version: int) -> str:
    return f'"{version}"'


def tagged(body: T, version: int) -> Response[T]:
    """``body`` with the ``ETag`` of the version it shows."""
    return Response(content=body, headers={"ETag": etag(version)})
