"""The call use cases: one LLM call inside a job, plain or streamed.

The path of a call: one statement reserves it (checks the job, holds the worst-case
credits and stores the call's lease); the provider is called with no database connection
held; one more statement then ends the lease, settles the hold, records the call and adds it
to the job's totals. A call has exactly one outcome, recorded once: whichever of the
normal end, a provider error or the client's disconnect comes first records it, and the
others wait for that record instead of writing their own.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

import msgspec

from application.errors import (
    NotFoundError,
    ProviderError,
    ProviderNotConfiguredError,
    ProviderResponseError,
    UnavailableError,
)
from application.ports.observability import Metrics, TargetKey
from application.ports.providers import ProviderClients, ProviderTarget
from application.ports.rate_limits import RateLimitWindow
from application.ports.reference import ReferenceReader
from application.ports.repositories import CallLease, CallLedger
from application.ports.response_cache import CachedAnswer, ResponseCache
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.vault import CredentialVault
from application.principal import TeamPrincipal
from application.services.rate_limits import Admission, CallRateLimits  # rate limits (issue 12)
from application.services.response_cache import ResponseCaching  # response cache (issue 12)
from application.services.routing import CircuitBreakers, counts_against_target, healthy_first, may_fall_back
from domain.access import ModelAlias, ensure_may_use
from domain.calls import CallStatus, LlmCall
from domain.catalog import ProviderName
from domain.errors import InvalidValueError, ModelNotAllowedError, UnsupportedFeatureError
from domain.ids import CallId, CredentialId, JobId
from domain.llm import (
    ChatMessage,
    FinishReason,
    LlmRequest,
    LlmResponse,
    StreamEnd,
    StreamEvent,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolChoice,
    ToolSpec,
    check_conversation,
    check_tools,
    estimate_tokens,
    tokens_for_bytes,
)
from domain.organizations import Team
from domain.pricing import CallCost, price_cached_call, price_call
from domain.routing import AliasTarget, route_order
from domain.text import ensure_storable, storable
from domain.usage import NO_USAGE, TokenUsage

MAX_PURPOSE_LENGTH = 500
log = logging.getLogger(__name__)
T = TypeVar("T")


class CallRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a client asks for: an alias and a chat, plus optional sampling knobs and tools.

    The conversation and tools are checked on construction (``InvalidValueError``), so a
    request that no provider could take is refused before anything is counted or held.
    """

    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    json_mode: bool = False
    purpose: str | None = None
    tools: tuple[ToolSpec, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def __post_init__(self) -> None:
        check_tools(self.tools, self.tool_choice)
        check_conversation(self.messages)


class CallResult(msgspec.Struct, frozen=True, kw_only=True):
    call: LlmCall
    content: str
    tool_calls: tuple[ToolCall, ...] = ()
    rate_limits: tuple[RateLimitWindow, ...] = ()  # the team's windows as this call left them


class ClientGoneError(ProviderError):
    """The client went away before the call ended: the call's outcome, not the provider's fault."""


class CallStarted(msgspec.Struct, frozen=True, kw_only=True):
    call_id: CallId
    job_id: JobId
    model: str
    provider: ProviderName


class CallFinished(msgspec.Struct, frozen=True, kw_only=True):
    call: LlmCall
    tool_calls: tuple[ToolCall, ...] = ()  # the streamed calls, assembled


class CallFailed(msgspec.Struct, frozen=True, kw_only=True):
    call: LlmCall
    code: str
    detail: str


StreamItem = TextDelta | ToolCallDelta | CallFinished | CallFailed


class _Credential(msgspec.Struct, frozen=True, kw_only=True):
    id: CredentialId
    api_key: str
    api_base: str | None
    key_hint: str = ""

    def __repr__(self) -> str:
        return f"_Credential(id={self.id})"


class _Route(msgspec.Struct, frozen=True, kw_only=True):
    """One target of a call's route, with the credential it is reached with."""

    target: AliasTarget
    provider: ProviderTarget
    key: TargetKey
    credential_hint: str = ""


class _Prepared(msgspec.Struct, kw_only=True):
    call_id: CallId
    job_id: JobId
    team: Team
    alias: ModelAlias
    routes: list[_Route]  # in the order they are tried (fallbacks: issue 12)
    request: LlmRequest
    purpose: str | None
    started: float
    admission: Admission | None = None  # rate limits (issue 12): what was counted for this call
    route_index: int = 0  # the route being tried, then the one that served
    attempts_before: int = 0  # provider attempts made at the routes before it
    cache_key: str | None = None  # response cache (issue 12): None when the alias caches nothing
    cached: CachedAnswer | None = None  # the cached answer this call replays
    # The one record of this call's outcome, once someone started writing it.
    outcome: "asyncio.Future[LlmCall] | None" = None

    @property
    def rate_limits(self) -> tuple[RateLimitWindow, ...]:
        return self.admission.windows if self.admission is not None else ()

    @property
    def route(self) -> _Route:
        return self.routes[self.route_index]

    @property
    def target(self) -> ProviderTarget:
        return self.route.provider


class CallStream(msgspec.Struct, frozen=True, kw_only=True):
    """An opened stream: the provider already answered, so the client may get a 200.

    ``close`` must be awaited when the consumer is done (or gone), shielded from
    cancellation: it ends the relay and makes sure the call's outcome is recorded.
    """

    started: CallStarted
    items: AsyncGenerator[StreamItem, None]
    close: Callable[[], Awaitable[None]]
    rate_limits: tuple[RateLimitWindow, ...] = ()  # the team's windows as this call left them


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
        self._uow = uow
        self._ledger = ledger
        self._metrics = metrics
        self._providers = providers
        self._vault = vault
        self._clock = clock
        self._ids = ids
        self._lease = timedelta(seconds=lease_s)
        self._record_attempts = max(1, record_attempts)
        self._record_retry_s = record_retry_s
        self._reference = reference
        self._rate_limits = rate_limits or CallRateLimits()
        self._breakers = breakers or CircuitBreakers(clock, metrics)
        self._caching = ResponseCaching(response_cache)

    async def admit(self, principal: TeamPrincipal, request: CallRequest) -> Admission:
        """Count a call against its team's rate limits now (429 ``rate_limited`` when over),
        for a caller that must know before it creates the call's job; pass the admission on
        to ``call`` or ``open_stream`` so the call is not counted twice."""
        team = await self._team(principal)
        team.ensure_active()
        return await self._rate_limits.admit(team, request.messages)

    async def call(
        self, principal: TeamPrincipal, job_id: JobId, request: CallRequest, *, admitted: Admission | None = None
    ) -> CallResult:
        prepared = await self._prepare(principal, job_id, request, admitted)
        # The provider call and its record run as their own task: a client that goes away
        # does not stop it, so the call is recorded with what the provider really used.
        task = _background(self._complete(prepared))
        return await asyncio.shield(task)

    async def _complete(self, prepared: _Prepared) -> CallResult:
        cached = await self._caching.lookup(prepared.cache_key)
        if cached is not None:  # never reaches the provider
            call = await self._record_cached(prepared, cached, ttft_ms=None, streamed=False)
            return CallResult(call=call, content=cached.content, rate_limits=prepared.rate_limits)
        while True:
            client = self._providers[prepared.route.target.provider]
            try:
                response = await client.complete(prepared.target, prepared.request)
            except ProviderError as exc:
                if self._fall_back(prepared, exc):
                    continue
                await self._record_failure(prepared, exc, received=0, ttft_ms=None, streamed=False)
                raise
            except Exception:
                # A bug below us: the provider may have been reached; record it as failed.
                await self._record_failure(
                    prepared, ProviderError("the call failed unexpectedly"), received=0, ttft_ms=None, streamed=False
                )
                raise
            break
        self._breakers.succeeded(prepared.route.key)
        call = await self._record_success(prepared, response, ttft_ms=None, streamed=False)
        if not response.tool_calls:  # a cached answer is text: tool calls are never replayed
            await self._caching.keep(prepared.cache_key, prepared.alias, prepared.route.target, call, response.content)
        return CallResult(
            call=call, content=response.content, tool_calls=response.tool_calls, rate_limits=prepared.rate_limits
        )

    def _fall_back(self, prepared: _Prepared, exc: ProviderError) -> bool:
        """After ``exc`` at the current route (its own retries done, nothing relayed to the
        client yet): move to the next route when the error allows it (fallbacks, issue 12)."""
        if counts_against_target(exc):
            self._breakers.failed(prepared.route.key)
        if not may_fall_back(exc) or prepared.route_index + 1 >= len(prepared.routes):
            return False
        failed = prepared.route
        prepared.attempts_before += exc.attempts
        prepared.route_index += 1
        log.warning(
            "provider_fallback",
            extra={
                "call_id": str(prepared.call_id),
                "model": prepared.alias.alias,
                "from": f"{failed.target.provider}/{failed.target.provider_model}",
                "to": f"{prepared.route.target.provider}/{prepared.route.target.provider_model}",
                "code": exc.code,
                "attempts": exc.attempts,
            },
        )
        return True

    async def open_stream(
        self, principal: TeamPrincipal, job_id: JobId, request: CallRequest, *, admitted: Admission | None = None
    ) -> CallStream:
        """Prepare, hold and wait for the provider's first event.

        Errors up to the first event raise (the client gets a problem response);
        after it, failures arrive as a ``CallFailed`` item.
        """
        prepared = await self._prepare(principal, job_id, request, admitted)
        cached = await self._caching.lookup(prepared.cache_key)
        if cached is not None:  # replayed: never reaches the provider
            prepared.cached = cached
            upstream: AsyncIterator[StreamEvent] = _replay(cached)
        else:
            upstream = self._providers[prepared.route.target.provider].stream(prepared.target, prepared.request)
        while True:
            try:
                first = await anext(aiter(upstream))
            except ProviderError as exc:
                # Nothing reached the client yet: another route may still serve (issue 12).
                if self._fall_back(prepared, exc):
                    with contextlib.suppress(Exception):
                        await _close(upstream)
                    upstream = self._providers[prepared.route.target.provider].stream(prepared.target, prepared.request)
                    continue
                await self._record_failure(prepared, exc, received=0, ttft_ms=None, streamed=True)
                raise
            except BaseException:
                # Cancelled (client gone) after the request was sent: the prompt was billed.
                abandoned = ClientGoneError("stream abandoned before the provider answered")
                await asyncio.shield(self._abandon(prepared, upstream, 0, None, abandoned))
                raise
            break
        started = CallStarted(
            call_id=prepared.call_id,
            job_id=prepared.job_id,
            model=prepared.alias.alias,
            provider=prepared.route.target.provider,
        )
        items = self._relay(prepared, upstream, first)

        async def close() -> None:
            # Returns once the call's one outcome is recorded (or its record has failed).
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await items.aclose()
            if prepared.outcome is None:  # the relay never started: the client left at once
                gone = ClientGoneError("the client disconnected before the stream was relayed")
                await self._abandon(prepared, upstream, 0, None, gone)
            if prepared.outcome is not None:
                await asyncio.wait([prepared.outcome])  # never raises the record's own error

        return CallStream(started=started, items=items, close=close, rate_limits=prepared.rate_limits)

    async def _relay(
        self, prepared: _Prepared, upstream: AsyncIterator[StreamEvent], first: StreamEvent
    ) -> AsyncGenerator[StreamItem, None]:
        received = 0  # bytes of text relayed: all a broken stream's estimate needs, in constant memory
        # The text itself is kept only for the response cache, and only up to its bound.
        kept: list[str] | None = [] if prepared.cache_key is not None and prepared.cached is None else None
        ttft_ms: int | None = None
        event: StreamEvent | None = first
        renew_at = self._clock.monotonic() + self._lease.total_seconds() / 3
        try:
            while event is not None:
                if isinstance(event, TextDelta | ToolCallDelta):
                    if ttft_ms is None:
                        ttft_ms = self._elapsed_ms(prepared)
                    text = event.content if isinstance(event, TextDelta) else event.arguments + (event.name or "")
                    received += len(text.encode("utf-8"))
                    if isinstance(event, ToolCallDelta):
                        kept = None  # an answer with tool calls is not cached
                    elif kept is not None:
                        kept = self._caching.collect(kept, event.content, received)
                    yield event
                else:
                    response = LlmResponse(
                        content="",
                        finish_reason=event.finish_reason,
                        usage=event.usage,
                        provider_model=event.provider_model,
                        usage_estimated=event.usage_estimated,
                        attempts=event.attempts,
                    )
                    if prepared.cached is not None:
                        call = await self._record_cached(prepared, prepared.cached, ttft_ms=ttft_ms, streamed=True)
                    else:
                        # A stream succeeds at its end: one cut mid-way is the target's failure.
                        self._breakers.succeeded(prepared.route.key)
                        call = await self._record_success(prepared, response, ttft_ms=ttft_ms, streamed=True)
                        if kept is not None and not event.tool_calls:
                            await self._caching.keep(
                                prepared.cache_key, prepared.alias, prepared.route.target, call, "".join(kept)
                            )
                    yield CallFinished(call=call, tool_calls=event.tool_calls)
                    return
                if self._clock.monotonic() >= renew_at:
                    await self._renew(prepared)
                    renew_at = self._clock.monotonic() + self._lease.total_seconds() / 3
                try:
                    event = await anext(upstream)
                except StopAsyncIteration:
                    event = None
            exc = ProviderResponseError("the provider ended the stream without a final event")
            self._stream_cut(prepared, exc)
            call = await self._record_failure(prepared, exc, received=received, ttft_ms=ttft_ms, streamed=True)
            yield CallFailed(call=call, code=exc.code, detail=exc.detail)
        except ProviderError as exc:
            self._stream_cut(prepared, exc)
            call = await self._record_failure(prepared, exc, received=received, ttft_ms=ttft_ms, streamed=True)
            yield CallFailed(call=call, code=exc.code, detail=exc.detail)
        finally:
            if prepared.outcome is None:
                # The client went away (or the consumer stopped) mid-stream: cancel upstream,
                # then bill what was generated.
                abandoned = ClientGoneError("the client disconnected before the stream ended")
                await asyncio.shield(self._abandon(prepared, upstream, received, ttft_ms, abandoned))
            else:
                # An outcome is being recorded (perhaps the request was cancelled while it
                # was): let that one record finish; never write a second one.
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.shield(prepared.outcome)

    def _stream_cut(self, prepared: _Prepared, exc: ProviderError) -> None:
        """A stream the provider broke after its first event: it counts against the target's
        breaker (a cut stream is the provider's failure) but never falls back, since the
        client has bytes of this target's answer. A broken or malformed stream counts like a
        5xx; a content filter or a client gone does not. A replay is the cache's, no target's."""
        if prepared.cached is None and (counts_against_target(exc) or isinstance(exc, ProviderResponseError)):
            self._breakers.failed(prepared.route.key)

    async def _abandon(
        self,
        prepared: _Prepared,
        upstream: AsyncIterator[StreamEvent],
        received: int,
        ttft_ms: int | None,
        reason: ProviderError,
    ) -> None:
        record = self._record_failure(
            prepared, reason, received=received, ttft_ms=ttft_ms, streamed=True, estimate=True
        )
        with contextlib.suppress(Exception):  # a dead upstream must not keep the call unrecorded
            await _close(upstream)
        with contextlib.suppress(Exception):  # failures are logged by the record itself
            await record

    async def _prepare(
        self, principal: TeamPrincipal, job_id: JobId, request: CallRequest, admitted: Admission | None = None
    ) -> _Prepared:
        if request.purpose is not None:
            if len(request.purpose) > MAX_PURPOSE_LENGTH:
                raise InvalidValueError("purpose must be at most 500 characters")
            ensure_storable(request.purpose, "purpose")
        ensure_storable(request.model, "model")
        call_id = CallId(self._ids.new_id())
        # Reference data comes from the reference reader (cached, invalidated on change);
        # the job and the credits are always checked in the database, by the statement
        # that holds.
        team = await self._team(principal)
        team.ensure_active()
        # Rate limits (issue 12): counted before anything is held; a refusal records no call.
        admission = admitted if admitted is not None else await self._rate_limits.admit(team, request.messages)
        alias = await self._reference.alias(request.model)
        if alias is None or (alias.organization_id not in (None, team.organization_id)):
            raise ModelNotAllowedError(f"model '{request.model}' is not available to this team")
        ensure_may_use(team.access_groups, alias)
        llm_request = LlmRequest(
            messages=request.messages,
            max_tokens=alias.max_tokens_for(request.max_tokens),
            temperature=request.temperature,
            top_p=request.top_p,
            stop=request.stop,
            json_mode=request.json_mode,
            tools=request.tools,
            tool_choice=request.tool_choice,
            parallel_tool_calls=request.parallel_tool_calls,
        )
        routes = await self._routes(team, alias, llm_request)
        # Any route may serve (issue 12): the hold covers the most expensive one.
        held = max(
            team.budget.call_hold(
                messages=llm_request.messages,
                max_tokens=llm_request.max_tokens,
                sheet=r.target.customer_prices,
                tools=llm_request.tools,
            )
            for r in routes
        )
        now = self._clock.now()
        lease = CallLease(
            call_id=call_id,
            job_id=job_id,
            team_id=team.id,
            held=held,
            alias=alias.alias,
            provider=alias.provider,
            expires_at=now + self._lease,
            created_at=now,
        )
        await self._ledger.reserve(lease, at=now)
        # Healthy targets first; this call takes the trial of a half-open one it may try.
        order = healthy_first([r.key for r in routes], self._breakers, call_id)
        return _Prepared(
            call_id=call_id,
            job_id=job_id,
            team=team,
            alias=alias,
            routes=[routes[i] for i in order],
            request=llm_request,
            purpose=request.purpose,
            started=self._clock.monotonic(),
            admission=admission,
            cache_key=self._caching.key(team.organization_id, alias, llm_request),
        )

    async def _routes(self, team: Team, alias: ModelAlias, request: LlmRequest) -> list[_Route]:
        """The targets this call may try, in order (issue 12): the alias's route order, then
        only those the organization has a credential for (healthy ones first: ``_prepare``)."""
        order = route_order(
            alias.own_targets,
            alias.fallback_targets,
            alias.routing,
            prompt_tokens=sum(estimate_tokens(m.content) for m in request.messages),
            max_tokens=request.max_tokens,
        )
        routes: list[_Route] = []
        refusal: UnsupportedFeatureError | None = None
        for target in order:
            try:
                # What a provider cannot take (an image by URL on Gemini, ...) rules its
                # targets out before anything is held; sends nothing.
                self._providers[target.provider].check(target.provider_model, request)
            except UnsupportedFeatureError as exc:
                refusal = refusal or exc
                continue
            credential = await self._credential(team, target.provider)
            if credential is None:
                continue  # an organization without this provider cannot use this target
            routes.append(
                _Route(
                    target=target,
                    provider=ProviderTarget(
                        provider=target.provider,
                        model=target.provider_model,
                        api_key=credential.api_key,
                        api_base=credential.api_base,
                        credential_id=credential.id,
                    ),
                    key=TargetKey(
                        provider=target.provider,
                        provider_model=target.provider_model,
                        credential=str(credential.id),
                    ),
                    credential_hint=credential.key_hint,
                )
            )
        if not routes and refusal is not None:
            raise refusal  # 422 unsupported_feature: no target can serve the request as asked
        if not routes:
            raise ProviderNotConfiguredError(f"no active {alias.provider} credential for this organization")
        return routes

    async def _team(self, principal: TeamPrincipal) -> Team:
        team = await self._reference.team(principal.team_id)
        if team is None:
            raise NotFoundError("team not found")
        return team

    async def _credential(self, team: Team, provider: ProviderName) -> "_Credential | None":
        stored = await self._reference.active_credential(team.organization_id, provider)
        if stored is None:
            return None
        return _Credential(
            id=stored.id,
            api_key=self._vault.decrypt(stored.encrypted_key),
            api_base=stored.api_base,
            key_hint=stored.key_hint,
        )

    async def _renew(self, prepared: _Prepared) -> None:
        """Keep a running stream's lease alive; a database blip only shortens it."""
        now = self._clock.now()
        try:
            async with self._uow() as uow:
                await uow.calls.renew_lease(prepared.job_id, prepared.call_id, until=now + self._lease, at=now)
                await uow.commit()
        except UnavailableError:
            log.warning("lease_renewal_failed", extra={"call_id": str(prepared.call_id)})

    def _elapsed_ms(self, prepared: _Prepared) -> int:
        return max(0, round((self._clock.monotonic() - prepared.started) * 1000))

    async def _record_success(
        self, prepared: _Prepared, response: LlmResponse, *, ttft_ms: int | None, streamed: bool
    ) -> LlmCall:
        return await self._record_once(
            prepared,
            status=CallStatus.SUCCEEDED,
            usage=response.usage,
            usage_estimated=response.usage_estimated,
            finish_reason=response.finish_reason,
            provider_model=response.provider_model or prepared.route.target.provider_model,
            attempts=prepared.attempts_before + response.attempts,
            ttft_ms=ttft_ms,
            streamed=streamed,
            error=None,
        )

    async def _record_failure(
        self,
        prepared: _Prepared,
        exc: ProviderError,
        *,
        received: int,
        ttft_ms: int | None,
        streamed: bool,
        estimate: bool = False,
    ) -> LlmCall:
        """``received``: bytes of text relayed to the client before the failure."""
        if prepared.cached is not None:  # a replay the client left: the answer was served from the cache
            return await self._record_cached(prepared, prepared.cached, ttft_ms=ttft_ms, streamed=streamed)
        usage, estimated = exc.usage, exc.usage_estimated
        if usage is None and (estimate or received):
            usage, estimated = estimate_usage(prepared.request.messages, received), True
        return await self._record_once(
            prepared,
            status=CallStatus.FAILED,
            usage=usage or NO_USAGE,
            usage_estimated=estimated,
            finish_reason=FinishReason.ERROR,
            provider_model=prepared.route.target.provider_model,
            attempts=prepared.attempts_before + exc.attempts,
            ttft_ms=ttft_ms,
            streamed=streamed,
            error=exc,
        )

    async def _record_cached(
        self, prepared: _Prepared, answer: CachedAnswer, *, ttft_ms: int | None, streamed: bool
    ) -> LlmCall:
        """A call answered from the response cache (issue 12): no provider attempt, provider
        cost 0, the customer price of the answer × the alias's cached price factor."""
        return await self._record_once(
            prepared,
            status=CallStatus.SUCCEEDED,
            usage=answer.usage,
            usage_estimated=False,
            finish_reason=answer.finish_reason,
            provider_model=answer.provider_model,
            attempts=0,
            ttft_ms=ttft_ms,
            streamed=streamed,
            error=None,
            cached=answer,
        )

    async def _record_once(self, prepared: _Prepared, **outcome: Any) -> LlmCall:
        """Record the call's outcome unless one is already being recorded (then wait for it).

        The record runs as its own task, shielded: the cancellation of the request that
        triggered it must not stop it.
        """
        if prepared.outcome is None:
            prepared.outcome = _background(self._record(prepared, **outcome))
        return await asyncio.shield(prepared.outcome)

    async def _record(
        self,
        prepared: _Prepared,
        *,
        status: CallStatus,
        usage: TokenUsage,
        usage_estimated: bool,
        finish_reason: FinishReason,
        provider_model: str,
        attempts: int,
        ttft_ms: int | None,
        streamed: bool,
        error: ProviderError | None,
        cached: CachedAnswer | None = None,
    ) -> LlmCall:
        alias, team = prepared.alias, prepared.team
        route = prepared.route
        # A half-open target's trial this call took and did not decide is handed back.
        self._breakers.release([r.key for r in prepared.routes], prepared.call_id)
        cost: CallCost
        if cached is not None:
            factor = alias.cached_response_price_factor
            sheet = _served_by(alias, cached).customer_prices
            cost = price_cached_call(usage, customer=sheet, factor=factor)
            actual = team.budget.call_credits(usage, cost, token_factor=factor)
        else:
            # Priced at the target that served (or failed last), not at the alias's primary.
            cost = price_call(usage, provider=route.target.provider_costs, customer=route.target.customer_prices)
            actual = team.budget.call_credits(usage, cost)
        latency_ms = self._elapsed_ms(prepared)
        now = self._clock.now()
        call = LlmCall(
            id=prepared.call_id,
            job_id=prepared.job_id,
            team_id=team.id,
            alias=alias.alias,
            provider=cached.provider if cached is not None else route.target.provider,
            provider_model=storable(provider_model)[:200],
            status=status,
            usage=usage,
            cost=cost,
            credits=actual,
            usage_estimated=usage_estimated,
            created_at=now,
            latency_ms=latency_ms,
            ttft_ms=ttft_ms,
            finish_reason=finish_reason,
            attempts=attempts,
            streamed=streamed,
            error_code=error.code if error else None,
            error_message=storable(error.detail[:1000]) if error else None,
            credential_id=None if cached is not None else route.provider.credential_id,
            purpose=prepared.purpose,
            cached=cached is not None,
        )
        for attempt in range(1, self._record_attempts + 1):
            try:
                recorded = await self._write(prepared, call, actual, now)
            except UnavailableError:
                if attempt == self._record_attempts:
                    # The lease stays: once it expires the sweeper captures the hold.
                    log.error("call_record_failed", extra={"call_id": str(call.id), "attempts": attempt})
                    raise
                await asyncio.sleep(self._record_retry_s * 2 ** (attempt - 1))
            else:
                break
        self._metrics.call_recorded(recorded)
        if error is not None and not isinstance(error, ClientGoneError):
            log.warning(
                "provider_call_failed",
                extra={
                    "call_id": str(call.id),
                    "provider": str(route.target.provider),
                    "model": alias.alias,
                    "credential": route.credential_hint,
                    "error": type(error).__name__,
                    "code": error.code,
                    "detail": error.detail[:300],  # the provider's own message, redacted by the adapter
                    "attempts": attempts,
                },
            )
        await self._rate_limits.settle(prepared.admission, recorded.usage)  # rate limits (issue 12)
        if recorded.overdraft_credits > 0:
            log.warning(
                "call used more credits than its hold allowed",
                extra={
                    "call_id": str(call.id),
                    "team_id": str(team.id),
                    "overdraft_credits": str(recorded.overdraft_credits),
                },
            )
        return recorded

    async def _write(self, prepared: _Prepared, call: LlmCall, actual: Decimal, now: datetime) -> LlmCall:
        recorded = await self._ledger.record(call, actual=actual, at=now)
        if recorded is None:
            # The sweeper captured this call's hold (its lease expired while the record
            # could not be written): the captured debit stands, for an operator to review.
            log.warning(
                "call_outcome_after_capture",
                extra={"call_id": str(call.id), "credits": str(actual), "status": call.status.value},
            )
            return call
        return recorded


def estimate_usage(messages: list[ChatMessage], received_bytes: int) -> TokenUsage:
    """Usage estimated from what was sent and received, when the provider reported none."""
    return TokenUsage(input=sum(estimate_tokens(m.content) for m in messages), output=tokens_for_bytes(received_bytes))


def _served_by(alias: ModelAlias, answer: CachedAnswer) -> AliasTarget:
    """The target of ``alias`` that produced a cached answer (its primary when none matches
    any more): a replay costs what that target's answer costs, times the cached factor."""
    for target in (*alias.own_targets, *alias.fallback_targets):
        if (target.provider, target.provider_model) == (answer.provider, answer.provider_model):
            return target
    return alias.primary


async def _replay(answer: CachedAnswer) -> AsyncIterator[StreamEvent]:
    """A cached answer as a stream: its text in one delta, then its end."""
    if answer.content:
        yield TextDelta(answer.content)
    yield StreamEnd(finish_reason=answer.finish_reason, usage=answer.usage, provider_model=answer.provider_model)


async def _close(upstream: AsyncIterator[Any]) -> None:
    closer = getattr(upstream, "aclose", None)
    if closer is not None:
        await closer()


def _background(work: Awaitable[T]) -> "asyncio.Future[T]":
    """Run ``work`` as its own task; its error is always retrieved (logged if nobody awaits it)."""
    task = asyncio.ensure_future(work)
    task.add_done_callback(_retrieve)
    return task


def _retrieve(task: "asyncio.Future[Any]") -> None:
    if not task.cancelled():
        task.exception()
