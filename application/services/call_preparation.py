"""Preparing a call: the team, its rate limits, the alias and its routes, the hold.

Everything a call's record will write is validated here, before the provider is called,
so recording cannot fail on client input; the worst-case credits are held (with the
call's lease) by the one statement of ``CallLedger.reserve``.
"""

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta

import msgspec

from application.errors import ProviderError, ProviderNotConfiguredError
from application.ports.observability import TargetKey
from application.ports.providers import ProviderClient, ProviderClients, ProviderTarget
from application.ports.rate_limits import RateLimitWindow
from application.ports.reference import ReferenceReader
from application.ports.repositories import CallLease, CallLedger
from application.ports.response_cache import CachedAnswer
from application.ports.system import Clock, IdGenerator
from application.ports.vault import CredentialVault
from application.principal import TeamPrincipal
from application.services._access import found
from application.services.call_values import MAX_PURPOSE_LENGTH, CallRequest
from application.services.rate_limits import Admission, CallRateLimits
from application.services.response_cache import ResponseCaching
from application.services.routing import CircuitBreakers, counts_against_target, healthy_first, may_fall_back
from domain.access import ModelAlias, ensure_offered_to
from domain.calls import LlmCall
from domain.catalog import ProviderName
from domain.errors import InvalidValueError, ModelNotAllowedError, UnsupportedFeatureError
from domain.ids import CallId, CredentialId, JobId
from domain.llm import LlmRequest, estimate_prompt_tokens
from domain.organizations import Team
from domain.routing import AliasTarget, route_order
from domain.text import ensure_storable

log = logging.getLogger(__name__)


class Credential(msgspec.Struct, frozen=True, kw_only=True):
    id: CredentialId
    api_key: str
    api_base: str | None
    key_hint: str = ""

    def __repr__(self) -> str:
        return f"Credential(id={self.id})"


class Route(msgspec.Struct, frozen=True, kw_only=True):
    """One target of a call's route, with the credential it is reached with."""

    target: AliasTarget
    provider: ProviderTarget
    key: TargetKey
    credential_hint: str = ""


class PreparedCall(msgspec.Struct, kw_only=True):
    """A call held and leased, on its way to (or back from) the provider."""

    call_id: CallId
    job_id: JobId
    team: Team
    alias: ModelAlias
    routes: list[Route]  # in the order they are tried (fallbacks: issue 12)
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
    def route(self) -> Route:
        return self.routes[self.route_index]

    @property
    def target(self) -> ProviderTarget:
        return self.route.provider

    def fall_back(self, exc: ProviderError, breakers: CircuitBreakers) -> bool:
        """After ``exc`` at the current route (its own retries done, nothing relayed to the
        client yet): move to the next route when the error allows it (fallbacks, issue 12)."""
        if counts_against_target(exc):
            breakers.failed(self.route.key)
        if not may_fall_back(exc) or self.route_index + 1 >= len(self.routes):
            return False
        failed = self.route
        self.attempts_before += exc.attempts
        self.route_index += 1
        log.warning(
            "provider_fallback",
            extra={
                "call_id": str(self.call_id),
                "model": self.alias.alias,
                "from": f"{failed.target.provider}/{failed.target.provider_model}",
                "to": f"{self.route.target.provider}/{self.route.target.provider_model}",
                "code": exc.code,
                "attempts": exc.attempts,
            },
        )
        return True


@dataclass(frozen=True, kw_only=True)
class CallPath:
    """What every step of the call path shares."""

    ledger: CallLedger
    clock: Clock
    lease: timedelta
    rate_limits: CallRateLimits
    breakers: CircuitBreakers
    caching: ResponseCaching


@dataclass(frozen=True, kw_only=True)
class CallPreparer:
    """Prepares calls: see the module docstring and ``CallService``'s rules."""

    path: CallPath
    providers: ProviderClients
    vault: CredentialVault
    ids: IdGenerator
    reference: ReferenceReader

    def client(self, prepared: PreparedCall) -> ProviderClient:
        """The provider client of the route being tried."""
        return self.providers[prepared.route.target.provider]

    async def prepare(
        self, principal: TeamPrincipal, job_id: JobId, request: CallRequest, admitted: Admission | None = None
    ) -> PreparedCall:
        if request.purpose is not None:
            if len(request.purpose) > MAX_PURPOSE_LENGTH:
                raise InvalidValueError("purpose must be at most 500 characters")
            ensure_storable(request.purpose, "purpose")
        ensure_storable(request.model, "model")
        call_id = CallId(self.ids.new_id())
        # Reference data comes from the reference reader (cached, invalidated on change);
        # the job and the credits are always checked in the database, by the statement
        # that holds.
        team = await self.active_team(principal)
        # Rate limits (issue 12): counted before anything is held; a refusal records no call.
        admission = admitted if admitted is not None else await self.path.rate_limits.admit(team, request.messages)
        alias = await self.reference.alias(request.model)
        if alias is None:
            raise ModelNotAllowedError(f"model '{request.model}' is not available to this team")
        ensure_offered_to(team.organization_id, team.access_groups, alias)
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
        now = self.path.clock.now()
        lease = CallLease(
            call_id=call_id,
            job_id=job_id,
            team_id=team.id,
            held=held,
            alias=alias.alias,
            provider=alias.provider,
            expires_at=now + self.path.lease,
            created_at=now,
        )
        await self.path.ledger.reserve(lease, at=now)
        # Healthy targets first; this call takes the trial of a half-open one it may try.
        order = healthy_first([r.key for r in routes], self.path.breakers, call_id)
        return PreparedCall(
            call_id=call_id,
            job_id=job_id,
            team=team,
            alias=alias,
            routes=[routes[i] for i in order],
            request=llm_request,
            purpose=request.purpose,
            started=self.path.clock.monotonic(),
            admission=admission,
            cache_key=self.path.caching.key(team.organization_id, alias, llm_request),
        )

    async def active_team(self, principal: TeamPrincipal) -> Team:
        team = found(await self.reference.team(principal.team_id), "team")
        team.ensure_active()
        return team

    async def _routes(self, team: Team, alias: ModelAlias, request: LlmRequest) -> list[Route]:
        """The targets this call may try, in order (issue 12): the alias's route order, then
        only those the organization has a credential for (healthy ones first: ``prepare``)."""
        order = route_order(
            alias.own_targets,
            alias.fallback_targets,
            alias.routing,
            prompt_tokens=estimate_prompt_tokens(request.messages),
            max_tokens=request.max_tokens,
        )
        routes: list[Route] = []
        refusal: UnsupportedFeatureError | None = None
        for target in order:
            try:
                # What a provider cannot take (an image by URL on Gemini, ...) rules its
                # targets out before anything is held; sends nothing.
                self.providers[target.provider].check(target.provider_model, request)
            except UnsupportedFeatureError as exc:
                refusal = refusal or exc
                continue
            credential = await self._credential(team, target.provider)
            if credential is None:
                continue  # an organization without this provider cannot use this target
            routes.append(
                Route(
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

    async def _credential(self, team: Team, provider: ProviderName) -> Credential | None:
        stored = await self.reference.active_credential(team.organization_id, provider)
        if stored is None:
            return None
        return Credential(
            id=stored.id,
            api_key=self.vault.decrypt(stored.encrypted_key),
            api_base=stored.api_base,
            key_hint=stored.key_hint,
        )
