"""The call use cases: one LLM call inside a job, plain or streamed.

The path of a call: one statement reserves it (checks the job, holds the worst-case
credits and stores the call's lease); the provider is called with no database connection
held; one more statement then ends the lease, settles the hold, records the call and adds it
to the job's totals. A call has exactly one outcome, recorded once: whichever of the
normal end, a provider error or the client's disconnect comes first records it, and the
others wait for that record instead of writing their own.

The steps live in their own modules: ``call_preparation`` (team, rate limits, alias,
routes, credentials, the hold), ``call_routes`` (trying the routes in order: fallbacks),
``call_streams`` (the stream relay and its one-outcome guarantee) and ``call_recording``
(the one record of an outcome); ``call_values`` holds what the use cases take and give.
"""

import asyncio
from datetime import timedelta

from application.errors import ProviderError
from application.ports.observability import Metrics
from application.ports.providers import ProviderClients
from application.ports.reference import ReferenceReader
from application.ports.repositories import CallLedger
from application.ports.response_cache import ResponseCache
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.vault import CredentialVault
from application.principal import TeamPrincipal
from application.services.call_preparation import CallPath, CallPreparer, PreparedCall
from application.services.call_recording import CallRecorder, background
from application.services.call_routes import first_answer
from application.services.call_streams import StreamRelay
from application.services.call_values import (
    MAX_PURPOSE_LENGTH,
    CallFailed,
    CallFinished,
    CallRequest,
    CallResult,
    CallStarted,
    CallStream,
    ClientGoneError,
    StreamItem,
)
from application.services.rate_limits import Admission, CallRateLimits  # rate limits (issue 12)
from application.services.response_cache import ResponseCaching  # response cache (issue 12)
from application.services.routing import CircuitBreakers
from domain.ids import JobId
from domain.llm import estimate_usage

__all__ = [
    "MAX_PURPOSE_LENGTH",
    "CallFailed",
    "CallFinished",
    "CallRequest",
    "CallResult",
    "CallService",
    "CallStarted",
    "CallStream",
    "ClientGoneError",
    "StreamItem",
    "estimate_usage",
]


class CallService:
    """Rules:

    - the team must be active and own the job; the job must accept calls (not finished,
      not closing) and be under its team's ``max_calls_per_job``;
    - the alias must be reachable through one of the team's access groups (unknown
      aliases answer the same 403, so alias names do not leak);
    - the team's rate limits count the call before anything is held (429 when over:
      nothing is held or recorded), and its real tokens once it is recorded;
    - everything the record will write is validated before the provider is called, so
      recording cannot fail on client input;
    - the worst-case credits are held, with a lease, before the provider is called (402
      when they are not available; the provider is then never called);
    - a call that fails at the provider is recorded ``failed`` and billed at whatever
      usage the provider reported; its hold is released;
    - a plain call whose client goes away still runs to its end and is recorded with the
      provider's usage; a stream the client abandons is recorded with the usage seen so
      far (estimated when the provider had not reported it);
    - when the record cannot be written (the database is down past a few retries) the
      lease stays: once it expires the sweeper captures the hold as ``unsettled``.
    """

    def __init__(
        self,
        *,
        uow: UnitOfWorkFactory,
        providers: ProviderClients,
        vault: CredentialVault,
        clock: Clock,
        ids: IdGenerator,
        metrics: Metrics,
        ledger: CallLedger,
        reference: ReferenceReader,
        lease_s: float = 300.0,
        record_attempts: int = 4,
        record_retry_s: float = 0.25,
        rate_limits: CallRateLimits | None = None,
        breakers: CircuitBreakers | None = None,
        response_cache: ResponseCache | None = None,
    ) -> None:
        path = CallPath(
            ledger=ledger,
            clock=clock,
            lease=timedelta(seconds=lease_s),
            rate_limits=rate_limits or CallRateLimits(),
            breakers=breakers or CircuitBreakers(clock, metrics),
            caching=ResponseCaching(response_cache),
        )
        self._path = path
        self._preparer = CallPreparer(path=path, providers=providers, vault=vault, ids=ids, reference=reference)
        self._recorder = CallRecorder(
            path=path, uow=uow, metrics=metrics, record_attempts=record_attempts, record_retry_s=record_retry_s
        )
        self._streams = StreamRelay(path=path, preparer=self._preparer, recorder=self._recorder)

    async def admit(self, principal: TeamPrincipal, request: CallRequest) -> Admission:
        """Count a call against its team's rate limits now (429 ``rate_limited`` when over),
        for a caller that must know before it creates the call's job; pass the admission on
        to ``call`` or ``open_stream`` so the call is not counted twice."""
        team = await self._preparer.active_team(principal)
        return await self._path.rate_limits.admit(team, request.messages)

    async def call(
        self, principal: TeamPrincipal, job_id: JobId, request: CallRequest, *, admitted: Admission | None = None
    ) -> CallResult:
        prepared = await self._preparer.prepare(principal, job_id, request, admitted)
        # The provider call and its record run as their own task: a client that goes away
        # does not stop it, so the call is recorded with what the provider really used.
        task = background(self._complete(prepared))
        return await asyncio.shield(task)

    async def open_stream(
        self, principal: TeamPrincipal, job_id: JobId, request: CallRequest, *, admitted: Admission | None = None
    ) -> CallStream:
        """Prepare, hold and wait for the provider's first event.

        Errors up to the first event raise (the client gets a problem response);
        after it, failures arrive as a ``CallFailed`` item.
        """
        prepared = await self._preparer.prepare(principal, job_id, request, admitted)
        return await self._streams.open(prepared)

    async def _complete(self, prepared: PreparedCall) -> CallResult:
        prepared.cached = await self._path.caching.lookup(prepared.cache_key)
        if prepared.cached is not None:  # never reaches the provider
            call = await self._recorder.replayed(prepared, ttft_ms=None, streamed=False)
            return CallResult(call=call, content=prepared.cached.content, rate_limits=prepared.rate_limits)
        try:
            response = await first_answer(
                prepared,
                lambda: self._preparer.client(prepared).complete(prepared.target, prepared.request),
                recorder=self._recorder,
                streamed=False,
            )
        except ProviderError:
            raise  # recorded as the call's outcome
        except Exception:
            # A bug below us: the provider may have been reached; record it as failed.
            failure = ProviderError("the call failed unexpectedly")
            await self._recorder.failed(prepared, failure, streamed=False)
            raise
        # A cached answer is text: tool calls are never replayed.
        answer = None if response.tool_calls else response.content
        call = await self._recorder.succeeded(prepared, response, ttft_ms=None, streamed=False, answer=answer)
        return CallResult(
            call=call, content=response.content, tool_calls=response.tool_calls, rate_limits=prepared.rate_limits
        )
