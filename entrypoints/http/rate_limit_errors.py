"""429 ``rate_limited`` from a team's own rate limit, with the headers that describe it;
and the headers of OpenAI's naming that tell an admitted call where its team's limits stand.

``Retry-After`` and ``X-RateLimit-Reset`` are the seconds until the refusing limit's
window resets; ``X-RateLimit-Limit`` / ``-Remaining`` are that limit and what is left of
it; ``X-RateLimit-Resource`` says which limit it is (``requests`` or ``tokens``). A
request larger than the whole tokens-per-minute limit also gets ``x-should-retry: false``
(what the ``openai`` SDK obeys): no wait makes it fit. Registered next to the service's
mapper (``entrypoints/http/errors.py``), whose problem body it reuses.

A successful call of a team with limits carries, per limit set (``Requests``, ``Tokens``),
``X-RateLimit-Limit-<R>``, ``X-RateLimit-Remaining-<R>`` and ``X-RateLimit-Reset-<R>``
(OpenAI's names; the reset as OpenAI writes it, a duration such as ``42s`` or ``1m0s``).
"""

import math
from typing import Any

from litestar import Request, Response

from application.errors import RateLimitedError
from application.ports.rate_limits import LimitedResource, RateLimitWindow
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


_SUFFIX = {LimitedResource.REQUESTS: "Requests", LimitedResource.TOKENS: "Tokens"}


def window_headers(windows: tuple[RateLimitWindow, ...]) -> dict[str, str]:
    """The ``X-RateLimit-*-Requests`` / ``-Tokens`` headers of an admitted call (none
    for a team without limits)."""
    headers: dict[str, str] = {}
    for window in windows:
        suffix = _SUFFIX[window.resource]
        headers[f"X-RateLimit-Limit-{suffix}"] = str(window.limit)
        headers[f"X-RateLimit-Remaining-{suffix}"] = str(window.remaining)
        headers[f"X-RateLimit-Reset-{suffix}"] = duration(window.reset_s)
    return headers


def duration(seconds: float) -> str:
    """Whole seconds, rounded up, as OpenAI's reset headers write them: ``7s``, ``1m0s``."""
    whole = max(0, math.ceil(seconds))
    minutes, rest = divmod(whole, 60)
    return f"{minutes}m{rest}s" if minutes else f"{rest}s"


def rate_limited_handler(_: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    assert isinstance(exc, RateLimitedError)
    return problem_response(exc.code, exc.detail, headers=rate_limit_headers(exc))


# The service's handlers with this one: what the app (and, re-wrapped, /v1) answers with.
ALL_EXCEPTION_HANDLERS: dict[type[Exception] | int, Any] = {
    **EXCEPTION_HANDLERS,
    RateLimitedError: rate_limited_handler,
}
