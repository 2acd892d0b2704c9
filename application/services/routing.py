"""Which target serves a call: the route order, the circuit breakers, when to fall back.

The order itself is a domain rule (``domain.routing.route_order``); this module adds the
state a pure function cannot hold: a circuit breaker per target, kept in this process
(each instance learns on its own, which is all a breaker needs: it saves the latency of
calling a target that keeps failing, it is no correctness guarantee).

A breaker is ``closed`` (calls go through) until ``failure_threshold`` consecutive calls
failed at the target with a provider-side error (5xx, 529, timeout, connection error,
429); it is then ``open`` for ``cool_down_s``: routes skip it. After the cool-down it is
``half_open``: calls go through again, and the first outcome decides (a success closes
it, a failure opens it for another cool-down). When every target of a route is open the
route keeps them all, in order, rather than failing a call nobody tried.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from application.errors import (
    ProviderError,
    ProviderRateLimitedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from application.ports.observability import BreakerObserver, BreakerState, TargetKey
from application.ports.system import Clock

DEFAULT_FAILURE_THRESHOLD = 3
DEFAULT_COOL_DOWN_S = 30.0
# A 429 that asks to retry within this many seconds is passed on to the client (who may
# retry the same target at once) instead of moving to a fallback.
NEAR_RETRY_AFTER_S = 1.0


@dataclass(slots=True)
class _Breaker:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0


def counts_against_target(error: ProviderError) -> bool:
    """A failure that says the target is unwell (not that the request or our setup is wrong)."""
    return isinstance(error, ProviderUnavailableError | ProviderTimeoutError | ProviderRateLimitedError)


def may_fall_back(error: ProviderError) -> bool:
    """Whether another target may serve a call that failed with ``error`` after its retries:
    a provider-side error that reported no usage (nothing billable happened there), and
    for a 429 only when it does not ask for a retry within ``NEAR_RETRY_AFTER_S``."""
    if not counts_against_target(error):
        return False
    if error.usage is not None and error.usage.total_tokens > 0:
        return False
    if isinstance(error, ProviderRateLimitedError):
        return error.retry_after_s is None or error.retry_after_s > NEAR_RETRY_AFTER_S
    return True


class CircuitBreakers:
    def __init__(
        self,
        clock: Clock,
        observer: BreakerObserver | None = None,
        *,
        failure_threshold: int = DEFAULT_FAILURE_THRESHOLD,
        cool_down_s: float = DEFAULT_COOL_DOWN_S,
    ) -> None:
        self._clock = clock
        self._observer = observer
        self._threshold = max(1, failure_threshold)
        self._cool_down_s = cool_down_s
        self._breakers: dict[TargetKey, _Breaker] = {}

    def state(self, key: TargetKey) -> BreakerState:
        breaker = self._breakers.get(key)
        if breaker is None:
            return BreakerState.CLOSED
        if breaker.state is BreakerState.OPEN and self._clock.monotonic() - breaker.opened_at >= self._cool_down_s:
            self._move(key, breaker, BreakerState.HALF_OPEN)
        return breaker.state

    def allows(self, key: TargetKey) -> bool:
        return self.state(key) is not BreakerState.OPEN

    def succeeded(self, key: TargetKey) -> None:
        breaker = self._breakers.get(key)
        if breaker is not None and (breaker.failures or breaker.state is not BreakerState.CLOSED):
            breaker.failures = 0
            self._move(key, breaker, BreakerState.CLOSED)

    def failed(self, key: TargetKey) -> None:
        breaker = self._breakers.setdefault(key, _Breaker())
        breaker.failures += 1
        if breaker.state is BreakerState.HALF_OPEN or breaker.failures >= self._threshold:
            breaker.opened_at = self._clock.monotonic()
            self._move(key, breaker, BreakerState.OPEN)

    def _move(self, key: TargetKey, breaker: _Breaker, state: BreakerState) -> None:
        changed = breaker.state is not state
        breaker.state = state
        if changed and self._observer is not None:
            self._observer.breaker_state(key, state)


def healthy_first(keys: Sequence[TargetKey], breakers: CircuitBreakers) -> list[int]:
    """The positions of ``keys`` to try: those whose breaker lets calls through, in order;
    all of them when none does."""
    allowed = [i for i, key in enumerate(keys) if breakers.allows(key)]
    return allowed or list(range(len(keys)))
