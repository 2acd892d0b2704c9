"""The call use cases: one LLM call inside a job, plain or streamed.

The path of a call: one short transaction checks the team, job and alias and holds the
worst-case credits; the provider is called with no database connection held; a second
transaction settles the hold, records the call and adds it to the job's totals.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from decimal import Decimal
from typing import TypeVar

import msgspec

from application.caching import TtlCache
from application.errors import NotFoundError, ProviderError, ProviderNotConfiguredError
from application.ports.observability import Metrics
from application.ports.providers import ProviderClients, ProviderTarget
from application.ports.system import Clock, IdGenerator
from application.ports.unit_of_work import UnitOfWork, UnitOfWorkFactory
from application.ports.vault import CredentialVault
from application.principal import TeamPrincipal
from application.services._access import own_job, own_team
from domain.access import ModelAlias, ensure_may_use
from domain.calls import CallStatus, LlmCall
from domain.catalog import Provider
from domain.errors import InvalidValueError, ModelNotAllowedError
from domain.ids import CallId, CredentialId, JobId
from domain.jobs import JobStatus
from domain.ledger import EntryType
from domain.llm import (
    ChatMessage,
    FinishReason,
    LlmRequest,
    LlmResponse,
    StreamEnd,
    TextDelta,
    estimate_tokens,
)
from domain.organizations import Team
from domain.pricing import price_call
from domain.usage import NO_USAGE, TokenUsage

MAX_PURPOSE_LENGTH = 500
log = logging.getLogger(__name__)
T = TypeVar("T")


class CallRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What a client asks for: an alias and a chat, plus optional sampling knobs."""

    model: str
    messages: list[ChatMessage]
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    stop: list[str] | None = None
    json_mode: bool = False
    purpose: str | None = None


class CallResult(msgspec.Struct, frozen=True, kw_only=True):
    call: LlmCall
    content: str


class CallStarted(msgspec.Struct, frozen=True, kw_only=True):
    call_id: CallId
    job_id: JobId
    model: str
    provider: Provider


class CallFinished(msgspec.Struct, frozen=True, kw_only=True):
    call: LlmCall


class CallFailed(msgspec.Struct, frozen=True, kw_only=True):
    call: LlmCall
    code: str
    detail: str


StreamItem = TextDelta | CallFinished | CallFailed


class _Credential(msgspec.Struct, frozen=True, kw_only=True):
    id: CredentialId
    api_key: str
    api_base: str | None

    def __repr__(self) -> str:
        return f"_Credential(id={self.id})"


class _Prepared(msgspec.Struct, kw_only=True):
    call_id: CallId
    job_id: JobId
    team: Team
    alias: ModelAlias
    target: ProviderTarget
    request: LlmRequest
    held: Decimal
    purpose: str | None
    started: float


class CallStream(msgspec.Struct, frozen=True, kw_only=True):
    """An opened stream: the provider already answered, so the client may get a 200."""

    started: CallStarted
    items: AsyncGenerator[StreamItem, None]


class CallService:
    """Rules:

    - the team must be active and own the job; the job must not be finished;
    - the alias must be reachable through one of the team's access groups (unknown
      aliases answer the same 403, so alias names do not leak);
    - the worst-case credits are held before the provider is called (402 when they
      are not available; the provider is then never called);
    - a call that fails at the provider is recorded ``failed`` and billed at whatever
      usage the provider reported; its hold is released;
    - a stream the client abandons is recorded with the usage seen so far.
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
    ) -> None:
        self._uow = uow
        self._metrics = metrics
        self._providers = providers
        self._vault = vault
        self._clock = clock
        self._ids = ids
        self._teams: TtlCache[Team] = TtlCache(clock)
        self._aliases: TtlCache[ModelAlias] = TtlCache(clock)
        self._credentials: TtlCache[_Credential] = TtlCache(clock)

    async def call(self, principal: TeamPrincipal, job_id: JobId, request: CallRequest) -> CallResult:
        prepared = await self._prepare(principal, job_id, request)
        client = self._providers[prepared.alias.provider]
        try:
            response = await client.complete(prepared.target, prepared.request)
        except ProviderError as exc:
            await self._shielded_record_failure(prepared, exc, text="", ttft_ms=None, streamed=False)
            raise
        except BaseException:
            # Cancelled (client gone) or a bug: the provider may have billed; record and release.
            abandoned = ProviderError("call abandoned before the provider answered")
            await self._shielded_record_failure(prepared, abandoned, text="", ttft_ms=None, streamed=False)
            raise
        call = await asyncio.shield(self._record_success(prepared, response, ttft_ms=None, streamed=False))
        return CallResult(call=call, content=response.content)

    async def open_stream(self, principal: TeamPrincipal, job_id: JobId, request: CallRequest) -> CallStream:
        """Prepare, hold and wait for the provider's first event.

        Errors up to the first event raise (the client gets a problem response);
        after it, failures arrive as a ``CallFailed`` item.
        """
        prepared = await self._prepare(principal, job_id, request)
        upstream = self._providers[prepared.alias.provider].stream(prepared.target, prepared.request)
        try:
            first = await anext(aiter(upstream))
        except ProviderError as exc:
            await self._shielded_record_failure(prepared, exc, text="", ttft_ms=None, streamed=True)
            raise
        except BaseException:
            abandoned = ProviderError("stream abandoned before the provider answered")
            await self._shielded_record_failure(prepared, abandoned, text="", ttft_ms=None, streamed=True)
            raise
        started = CallStarted(
            call_id=prepared.call_id,
            job_id=prepared.job_id,
            model=prepared.alias.alias,
            provider=prepared.alias.provider,
        )
        return CallStream(started=started, items=self._relay(prepared, upstream, first))

    async def _relay(
        self, prepared: _Prepared, upstream: AsyncIterator[TextDelta | StreamEnd], first: TextDelta | StreamEnd
    ) -> AsyncGenerator[StreamItem, None]:
        pieces: list[str] = []
        ttft_ms: int | None = None
        event: TextDelta | StreamEnd | None = first
        finished = False
        try:
            while event is not None:
                if isinstance(event, TextDelta):
                    if ttft_ms is None:
                        ttft_ms = self._elapsed_ms(prepared)
                    pieces.append(event.content)
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
                    call = await asyncio.shield(
                        self._record_success(prepared, response, ttft_ms=ttft_ms, streamed=True)
                    )
                    finished = True
                    yield CallFinished(call=call)
                    return
                try:
                    event = await anext(upstream)
                except StopAsyncIteration:
                    event = None
            exc = ProviderError("the provider ended the stream without a final event")
            finished = True
            call = await self._shielded_record_failure(
                prepared, exc, text="".join(pieces), ttft_ms=ttft_ms, streamed=True
            )
            yield CallFailed(call=call, code=exc.code, detail=exc.detail)
        except ProviderError as exc:
            finished = True
            call = await self._shielded_record_failure(
                prepared, exc, text="".join(pieces), ttft_ms=ttft_ms, streamed=True
            )
            yield CallFailed(call=call, code=exc.code, detail=exc.detail)
        finally:
            if not finished:
                # The client went away (or the consumer stopped): cancel upstream, then bill
                # what was generated. Shielded: the request's own cancellation must not stop it.
                await asyncio.shield(self._abandon(prepared, upstream, "".join(pieces), ttft_ms))

    async def _abandon(
        self, prepared: _Prepared, upstream: AsyncIterator[TextDelta | StreamEnd], text: str, ttft_ms: int | None
    ) -> None:
        closer = getattr(upstream, "aclose", None)
        if closer is not None:
            with contextlib.suppress(Exception):  # a dead upstream must not keep the call unrecorded
                await closer()
        abandoned = ProviderError("the client disconnected before the stream ended")
        await self._shielded_record_failure(
            prepared, abandoned, text=text, ttft_ms=ttft_ms, streamed=True, estimate=True
        )

    async def _prepare(self, principal: TeamPrincipal, job_id: JobId, request: CallRequest) -> _Prepared:
        if request.purpose is not None and len(request.purpose) > MAX_PURPOSE_LENGTH:
            raise InvalidValueError("purpose must be at most 500 characters")
        call_id = CallId(self._ids.new_id())
        # Reference data comes from short-lived caches; the job and the credits are
        # always checked in the database, in the transaction that holds.
        team = await self._teams.get_or_load(principal.team_id, lambda: self._read(lambda u: own_team(u, principal)))
        if team is None:  # pragma: no cover - own_team raises instead
            raise NotFoundError("team not found")
        team.ensure_active()
        alias = await self._aliases.get_or_load(
            request.model, lambda: self._read(lambda u: u.aliases.get(request.model))
        )
        if alias is None or (alias.organization_id not in (None, team.organization_id)):
            raise ModelNotAllowedError(f"model '{request.model}' is not available to this team")
        ensure_may_use(team.access_groups, alias)
        credential = await self._credentials.get_or_load(
            (team.organization_id, alias.provider), lambda: self._load_credential(team, alias.provider)
        )
        if credential is None and alias.provider is not Provider.FAKE:
            raise ProviderNotConfiguredError(f"no active {alias.provider} credential for this organization")
        llm_request = LlmRequest(
            messages=request.messages,
            max_tokens=alias.max_tokens_for(request.max_tokens),
            temperature=request.temperature,
            top_p=request.top_p,
            stop=request.stop,
            json_mode=request.json_mode,
        )
        held = team.budget.call_hold(
            messages=llm_request.messages, max_tokens=llm_request.max_tokens, sheet=alias.customer_prices
        )
        async with self._uow() as uow:
            job = await own_job(uow, principal, job_id)
            job.ensure_accepts_calls()
            now = self._clock.now()
            if held > 0:
                await uow.credits.apply(
                    team.id,
                    EntryType.HOLD,
                    -held,
                    at=now,
                    job_id=job_id,
                    call_id=call_id,
                    idempotency_key=f"hold:{call_id}",
                )
            if job.status is JobStatus.PENDING:
                await uow.jobs.set_status(job_id, JobStatus.IN_PROGRESS)
            await uow.commit()
        target = ProviderTarget(
            provider=alias.provider,
            model=alias.provider_model,
            api_key=credential.api_key if credential else "",
            api_base=credential.api_base if credential else None,
            credential_id=credential.id if credential else None,
        )
        return _Prepared(
            call_id=call_id,
            job_id=job_id,
            team=team,
            alias=alias,
            target=target,
            request=llm_request,
            held=held,
            purpose=request.purpose,
            started=self._clock.monotonic(),
        )

    async def _read(self, query: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        async with self._uow() as uow:
            return await query(uow)

    async def _load_credential(self, team: Team, provider: Provider) -> "_Credential | None":
        stored = await self._read(lambda u: u.credentials.active_for(team.organization_id, provider))
        if stored is None:
            return None
        # Decrypted once per cache period, kept only in this process's memory.
        return _Credential(id=stored.id, api_key=self._vault.decrypt(stored.encrypted_key), api_base=stored.api_base)

    def _elapsed_ms(self, prepared: _Prepared) -> int:
        return max(0, round((self._clock.monotonic() - prepared.started) * 1000))

    async def _record_success(
        self, prepared: _Prepared, response: LlmResponse, *, ttft_ms: int | None, streamed: bool
    ) -> LlmCall:
        return await self._record(
            prepared,
            status=CallStatus.SUCCEEDED,
            usage=response.usage,
            usage_estimated=response.usage_estimated,
            finish_reason=response.finish_reason,
            provider_model=response.provider_model or prepared.alias.provider_model,
            attempts=response.attempts,
            ttft_ms=ttft_ms,
            streamed=streamed,
            error=None,
        )

    async def _shielded_record_failure(
        self,
        prepared: _Prepared,
        exc: ProviderError,
        *,
        text: str,
        ttft_ms: int | None,
        streamed: bool,
        estimate: bool = False,
    ) -> LlmCall:
        usage, estimated = exc.usage, exc.usage_estimated
        if usage is None and (estimate or text):
            usage, estimated = self._estimate(prepared, text), True
        record = self._record(
            prepared,
            status=CallStatus.FAILED,
            usage=usage or NO_USAGE,
            usage_estimated=estimated,
            finish_reason=FinishReason.ERROR,
            provider_model=prepared.alias.provider_model,
            attempts=exc.attempts,
            ttft_ms=ttft_ms,
            streamed=streamed,
            error=exc,
        )
        # Recording must survive the cancellation of the request that triggered it.
        return await asyncio.shield(record)

    @staticmethod
    def _estimate(prepared: _Prepared, text: str) -> TokenUsage:
        prompt = sum(estimate_tokens(m.content) for m in prepared.request.messages)
        return TokenUsage(input=prompt, output=estimate_tokens(text))

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
    ) -> LlmCall:
        alias, team = prepared.alias, prepared.team
        cost = price_call(usage, provider=alias.provider_costs, customer=alias.customer_prices)
        actual = team.budget.call_credits(usage, cost)
        latency_ms = self._elapsed_ms(prepared)
        now = self._clock.now()
        async with self._uow() as uow:
            settlement = await uow.credits.settle(
                team.id, held=prepared.held, actual=actual, at=now, job_id=prepared.job_id, call_id=prepared.call_id
            )
            call = LlmCall(
                id=prepared.call_id,
                job_id=prepared.job_id,
                team_id=team.id,
                alias=alias.alias,
                provider=alias.provider,
                provider_model=provider_model,
                status=status,
                usage=usage,
                cost=cost,
                credits=settlement.debit,
                overdraft_credits=settlement.overdraft,
                usage_estimated=usage_estimated,
                created_at=now,
                latency_ms=latency_ms,
                ttft_ms=ttft_ms,
                finish_reason=finish_reason,
                attempts=attempts,
                streamed=streamed,
                error_code=error.code if error else None,
                error_message=error.detail[:1000] if error else None,
                credential_id=prepared.target.credential_id,
                purpose=prepared.purpose,
            )
            await uow.calls.add(call)
            await uow.jobs.add_call_totals(prepared.job_id, call.summary())
            await uow.commit()
        self._metrics.call_recorded(call)
        if settlement.overdraft > 0:
            log.warning(
                "call used more credits than its hold allowed",
                extra={
                    "call_id": str(call.id),
                    "team_id": str(team.id),
                    "overdraft_credits": str(settlement.overdraft),
                },
            )
        return call
