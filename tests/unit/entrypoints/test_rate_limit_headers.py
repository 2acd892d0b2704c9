"""The X-RateLimit-* headers of an admitted call: OpenAI's names, only the limits set."""

import pytest

from application.ports.rate_limits import LimitedResource, RateLimitWindow
from entrypoints.http.rate_limit_errors import duration, window_headers


@pytest.mark.parametrize(("seconds", "text"), [(0.0, "0s"), (0.2, "1s"), (41.01, "42s"), (59.5, "1m0s"), (60, "1m0s")])
def test_resets_are_written_as_openai_writes_them(seconds: float, text: str) -> None:
    assert duration(seconds) == text


def test_each_limit_set_gets_its_three_headers_and_no_limit_none() -> None:
    windows = (
        RateLimitWindow(resource=LimitedResource.REQUESTS, limit=60, remaining=59, reset_s=59.9),
        RateLimitWindow(resource=LimitedResource.TOKENS, limit=1000, remaining=990, reset_s=12.3),
    )
    assert window_headers(windows) == {
        "X-RateLimit-Limit-Requests": "60",
        "X-RateLimit-Remaining-Requests": "59",
        "X-RateLimit-Reset-Requests": "1m0s",
        "X-RateLimit-Limit-Tokens": "1000",
        "X-RateLimit-Remaining-Tokens": "990",
        "X-RateLimit-Reset-Tokens": "13s",
    }
    assert window_headers(windows[1:]).keys() == {
        "X-RateLimit-Limit-Tokens",
        "X-RateLimit-Remaining-Tokens",
        "X-RateLimit-Reset-Tokens",
    }
    assert window_headers(()) == {}
