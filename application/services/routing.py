"""Which target serves a call: the route order, the circuit breakers, when to fall back.

The order itself is a domain rule (``domain.routing.route_order``); this module adds the
state a pure function cannot hold: a circuit breaker per target, kept in this process
(each instance learns on its own, which is all a breaker needs: it saves the latency of
calling a target that keeps failing, it is no correctness guarantee).

A breaker is ``closed`` (calls go through) until ``failure_threshold`` consecutive calls
failed at the target with a provider-side error (5xx, 529, timeout, connection error,
429); it is then ``open`` for ``cool_down_s``: routes skip it. After the cool-down it is
``half_open``: one call at a time goes to it as its **trial** (the first route that asks
for it takes the trial; while the trial runs other routes treat the target as open) and
that trial's outcome decides: a success closes it, a provider-side failure opens it for
another cool-down, and a call that ends without deciding (served by another target, a
bad request, a client gone, a cached answer) hands the trial back. A trial that has not
ended after ``trial_timeout_s`` is taken to be lost: the next call may take it. When
every target of a route is open (or on trial) the route keeps them all, in order, rather
than failing a call nobody tried.
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
# A half-open target's trial that has not ended by then is taken to be lost (a call that
# never recorded): the next call may take the trial.
DEFAULT_TRIAL_TIMEOUT_S = 120.0
# A 429 that asks to retry within this many seconds is passed on to the client (who may
# retry the same target at once) instead of moving to a fallback.
NEAR_RETRY_AFTER_S = 1.0


@dataclass(slots=True)
class _Breaker:
    state: BreakerState = BreakerState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    trial: object | None = None  # the call whose trial runs while half-open
    trial_at: float = 0.0


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
        trial_timeout_s: float = DEFAULT_TRIAL_TIMEOUT_S,
    ) -> None:
        self._clock = clock
        self._observer = observer
        self._threshold = max(1, failure_threshold)
        self._cool_down_s = cool_down_s
        self._trial_timeout_s = trial_timeout_s
        self._breakers: dict[TargetKey, _Breaker] = {}

    def state(self, key: TargetKey) -> BreakerState:
        breaker = self._breakers.get(key)
        if breaker is None:
            return BreakerState.CLOSED
        if breaker.state is BreakerState.OPEN and self._clock.monotonic() - breaker.opened_at >= self._cool_down_s:
            self._move(key, breaker, BreakerState.HALF_OPEN)
        return breaker.state

    def allows(self, key: TargetKey, call: object | None = None) -> bool:
        """Whether a route may send ``call`` to the target: closed, yes; open, no; half-open,
        only as its trial, which ``call`` then holds (or already held) until an outcome or
        ``release``. Without ``call`` nothing is taken: half-open counts as allowed."""
        state = self.state(key)
        if state is not BreakerState.HALF_OPEN or call is None:
            return state is not BreakerState.OPEN
        breaker = self._breakers[key]
        now = self._clock.monotonic()
        if breaker.trial is None or breaker.trial == call or now - breaker.trial_at >= self._trial_timeout_s:
            breaker.trial, breaker.trial_at = call, now
            return True
        return False

    def release(self, keys: Sequence[TargetKey], call: object) -> None:
        """Hand back the trials ``call`` still holds on ``keys`` (it ended without deciding them)."""
        for key in keys:
            breaker = self._breakers.get(key)
            if breaker is not None and breaker.trial == call:
                breaker.trial = None

    def succeeded(self, key: TargetKey) -> None:
        breaker = self._breakers.get(key)
        if breaker is not None and (breaker.failures or breaker.state is not BreakerState.CLOSED):
            breaker.failures = 0
            breaker.trial = None
            self._move(key, breaker, BreakerState.CLOSED)

    def failed(self, key: TargetKey) -> None:
        breaker = self._breakers.setdefault(key, _Breaker())
        breaker.failures += 1
        breaker.trial = None
        if breaker.state is BreakerState.HALF_OPEN or breaker.failures >= self._threshold:
            breaker.opened_at = self._clock.monotonic()
            self._move(key, breaker, BreakerState.OPEN)

    def _move(self, key: TargetKey, breaker: _Breaker, state: BreakerState) -> None:
        changed = breaker.state is not state
        breaker.state = state
        if changed and self._observer is not None:
            self._observer.breaker_state(key, state)


def healthy_first(keys: Sequence[TargetKey], breakers: CircuitBreakers, call: object | None = None) -> list[int]:
    """The positions of ``keys`` to try: those whose breaker lets ``call`` through (taking
    the trial of a half-open one), in order; all of them when none does."""
    allowed = [i for i, key in enumerate(keys) if breakers.allows(key, call)]
    return allowed or list(range(len(keys)))
