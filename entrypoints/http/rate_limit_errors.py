"""429 ``rate_limited`` from a team's own rate limit, with the headers that describe it.

``Retry-After`` and ``X-RateLimit-Reset`` are the seconds until the refusing limit's
window resets; ``X-RateLimit-Limit`` / ``-Remaining`` are that limit and what is left of
it; ``X-RateLimit-Resource`` says which limit it is (``requests`` or ``tokens``). A
request larger than the whole tokens-per-minute limit also gets ``x-should-retry: false``
(what the ``openai`` SDK obeys): no wait makes it fit. Registered next to the service's
mapper (``entrypoints/http/errors.py``), whose problem body it reuses.
"""

import math
from typing import Any

from litestar import Request, Response

from application.errors import RateLimitedError
from entrypoints.http.errors import EXCEPTION_HANDLERS, problem_response


def rate_limit_headers(exc: RateLimitedError) -> dict[str, str]:
    reset_s = max(1, math.ceil(exc.reset_s))
    headers = {
        "Retry-After": str(reset_s),
        "X-RateLimit-Limit": str(exc.limit),
        "X-RateLimit-Remaining": str(exc.remaining),
        "X-RateLimit-Reset": str(reset_s),
        "X-RateLimit-Resource": exc.resource,
    }
    if not exc.retryable:
        headers["x-should-retry"] = "false"
    return headers


def rate_limited_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, RateLimitedError)
    return problem_response(exc.code, exc.detail, headers=rate_limit_headers(exc))


# The service's handlers with this one: what the app (and, re-wrapped, /v1) answers with.
ALL_EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    **EXCEPTION_HANDLERS,
    RateLimitedError: rate_limited_handler,
}
