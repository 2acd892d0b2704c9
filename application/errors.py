"""Errors raised by use cases and ports, each with the stable problem ``code`` of API.md."""

from domain.errors import DomainError
from domain.usage import TokenUsage


class ApplicationError(DomainError):
    """Base of use-case errors (shares ``code``/``detail`` with domain errors)."""


class NotFoundError(ApplicationError):
    code = "not_found"


class NoHistoryError(NotFoundError):
    """Nothing to estimate from yet (a quote for a job type the team never finished)."""

    code = "no_history"


class UnauthorizedError(ApplicationError):
    code = "unauthorized"


class ConflictError(ApplicationError):
    code = "conflict"


class PreconditionFailedError(ApplicationError):
    """An ``If-Match`` version is not the stored one: someone changed the row since it was read."""

    code = "precondition_failed"


class UnavailableError(ApplicationError):
    """One of our own dependencies (the database) is down."""

    code = "unavailable"


class ProviderError(ApplicationError):
    """A provider call failed after its retries.

    ``usage`` is what the provider reported before failing (a stream cut midway, an
    error event after HTTP 200), ``usage_estimated`` tells it was estimated from the
    text received. ``retryable`` drives the adapter's retry loop.
    """

    code = "provider_error"
    retryable = False

    def __init__(
        self,
        detail: str,
        *,
        usage: TokenUsage | None = None,
        usage_estimated: bool = False,
        attempts: int = 1,
        retry_after_s: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.usage = usage
        self.usage_estimated = usage_estimated
        self.attempts = attempts
        self.retry_after_s = retry_after_s


class ProviderAuthError(ProviderError):
    """Our credential was refused (401/403, Gemini API_KEY_INVALID)."""


class ProviderQuotaError(ProviderError):
    """The provider account is out of quota (OpenAI insufficient_quota): not retryable."""


class ProviderModelNotFoundError(ProviderError):
    """The alias points at a model the provider does not know."""


class ProviderUnavailableError(ProviderError):
    """5xx, 529 overloaded, a reset connection: worth another attempt."""

    retryable = True


class ProviderResponseError(ProviderError):
    """A malformed body, or a stream cut before it finished."""


class ProviderContentFilteredError(ProviderError):
    """The provider refused the content."""


class ProviderNotConfiguredError(ApplicationError):
    """The organization has no active credential for the alias's provider: the operator's
    configuration, not a provider failure (409; nothing was held or sent)."""

    code = "provider_not_configured"


class ProviderNotOfferedError(ApplicationError):
    """This instance does not offer the provider named (the demo's ``fake`` in production,
    unless ``ENABLE_DEMO_PROVIDER=1``): 422, nothing was written, held or sent."""

    code = "provider_not_offered"


class LoginRateLimitedError(ApplicationError):
    """Too many failed logins: the same 429 ``rate_limited`` shape as any rate limit."""

    code = "rate_limited"

    def __init__(self, detail: str, *, retry_after_s: float) -> None:
        super().__init__(detail)
        self.retry_after_s = retry_after_s


class ProviderRateLimitedError(ProviderError):
    code = "rate_limited"
    retryable = True


class ProviderBadRequestError(ProviderError):
    """The provider refused the request itself (context too long, bad parameter)."""

    code = "invalid_request"


class ProviderTimeoutError(ProviderError):
    code = "provider_timeout"
    retryable = True


class RateLimitedError(ApplicationError):
    """The team's own rate limit refused the call before anything was held or recorded.

    ``retry_after_s`` is when the limit's window resets; ``limit``, ``remaining`` and
    ``reset_s`` describe the limit that refused (``resource``: requests or tokens).
    ``retryable`` is False when the request alone is larger than the limit.
    """

    code = "rate_limited"

    def __init__(
        self,
        detail: str,
        *,
        resource: str,
        limit: int,
        remaining: int,
        reset_s: float,
        retryable: bool = True,
    ) -> None:
        super().__init__(detail)
        self.resource = resource
        self.limit = limit
        self.remaining = remaining
        self.reset_s = reset_s
        self.retry_after_s = reset_s
        self.retryable = retryable
