"""Business-rule violations.

Every error carries a stable ``code`` that matches a problem code of the HTTP contract,
so the entrypoint can map it without knowing the rule behind it.
"""


class DomainError(Exception):
    """Base of every rule violation; ``code`` is the problem code clients see."""

    code = "invalid_request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidValueError(DomainError):
    """A value breaks an invariant (negative tokens, a price below zero, ...)."""

    code = "invalid_request"


class InsufficientCreditsError(DomainError):
    """The team's available credits cannot cover the requested amount."""

    code = "insufficient_credits"


class TeamSuspendedError(DomainError):
    """The team is suspended and may not start jobs or calls."""

    code = "team_suspended"


class ModelNotAllowedError(DomainError):
    """The team has no access group that contains the requested alias."""

    code = "model_not_allowed"


class JobNotActiveError(DomainError):
    """The job is finished (completed, failed, cancelled or expired)."""

    code = "job_not_active"


class InvalidTransitionError(DomainError):
    """A job state change the lifecycle does not allow."""

    code = "conflict"


class JobCallLimitError(DomainError):
    """The job has started as many calls as its team allows per job."""

    code = "job_call_limit"


class CallsInFlightError(DomainError):
    """A completion waited its bound and some of the job's calls are still running (retry later)."""

    code = "calls_in_flight"


class PayloadTooLargeError(DomainError):
    """A value is over its documented size bound (job metadata, for one)."""

    code = "payload_too_large"


class UnsupportedFeatureError(DomainError):
    """The request asks for something the gateway cannot honour yet (tools, n > 1, ...).

    ``param`` names the request field, so a client sees which one to drop.
    """

    code = "unsupported_feature"

    def __init__(self, detail: str, *, param: str | None = None) -> None:
        super().__init__(detail)
        self.param = param
