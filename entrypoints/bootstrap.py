"""The composition root: the only place where adapters meet use cases."""

from dataclasses import dataclass

from application.caching import CachedReferenceReader, UnwatchedChanges
from application.metering import MeteredCallLedger
from application.ports.catalog import PriceCatalog
from application.ports.network import HostResolver
from application.ports.observability import Metrics
from application.ports.providers import ProviderClients
from application.ports.rate_limits import TeamRateLimiter
from application.ports.reference import ReferenceChanges, ReferenceReader
from application.ports.repositories import CallLedger
from application.ports.response_cache import ResponseCache
from application.ports.security import LoginThrottle, PasswordHasher, TokenCodec
from application.ports.system import Clock, IdGenerator, SecretGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.vault import CredentialVault
from application.ports.webhooks import WebhookSender
from application.services._outbound import OutboundUrlCheck
from application.services.admin_auth import AdminAuthService
from application.services.admin_users import AdminUserService
from application.services.auth import ClientAuthService
from application.services.calls import CallService
from application.services.credentials import CredentialService
from application.services.credits import CreditService
from application.services.economics import EconomicsService
from application.services.jobs import JobService
from application.services.litellm_import import LiteLlmImporter
from application.services.models import ModelService
from application.services.one_call_jobs import OneCallJobService
from application.services.openai_compat import OpenAiCompatService
from application.services.organizations import OrganizationService
from application.services.rate_limits import CallRateLimits
from application.services.routing import DEFAULT_COOL_DOWN_S, DEFAULT_FAILURE_THRESHOLD, CircuitBreakers
from application.services.usage import UsageService
from application.services.webhooks import WebhookService
from domain.outbound import DEVELOPMENT_POLICY, AddressPolicy


@dataclass(frozen=True, slots=True)
class Services:
    client_auth: ClientAuthService
    jobs: JobService
    calls: CallService
    one_call_jobs: OneCallJobService
    credits: CreditService
    usage: UsageService
    organizations: OrganizationService
    models: ModelService
    credentials: CredentialService
    admin_auth: AdminAuthService
    admin_users: AdminUserService
    webhooks: WebhookService
    litellm_import: LiteLlmImporter
    openai: OpenAiCompatService
    economics: EconomicsService


def build_services(
    *,
    uow: UnitOfWorkFactory,
    providers: ProviderClients,
    vault: CredentialVault,
    catalog: PriceCatalog,
    clock: Clock,
    ids: IdGenerator,
    secrets: SecretGenerator,
    hasher: PasswordHasher,
    tokens: TokenCodec,
    token_ttl_s: int,
    login_throttle: LoginThrottle,
    webhook_sender: WebhookSender,
    metrics: Metrics,
    job_ttl_s: int,
    webhook_retry_base_s: float = 5.0,
    ledger: CallLedger,
    call_lease_s: float = 300.0,
    completion_wait_s: float = 10.0,
    api_base_policy: AddressPolicy = DEVELOPMENT_POLICY,
    webhook_policy: AddressPolicy = DEVELOPMENT_POLICY,
    resolver: HostResolver | None = None,
    rate_limiter: TeamRateLimiter | None = None,
    reference: ReferenceReader,
    reference_changes: ReferenceChanges | None = None,
    response_cache: ResponseCache | None = None,
    breaker_failures: int = DEFAULT_FAILURE_THRESHOLD,
    breaker_cool_down_s: float = DEFAULT_COOL_DOWN_S,
) -> Services:
    # Keys, teams, aliases and credentials: cached in process, forgotten on every change.
    cached = CachedReferenceReader(
        reference, clock=clock, changes=reference_changes or UnwatchedChanges(), metrics=metrics
    )
    ledger = MeteredCallLedger(ledger, metrics)  # counts holds refused
    models = ModelService(uow=uow, catalog=catalog, clock=clock)
    credentials = CredentialService(
        uow=uow,
        vault=vault,
        clock=clock,
        ids=ids,
        api_base_check=OutboundUrlCheck(policy=api_base_policy, resolver=resolver),
    )
    jobs = JobService(
        uow=uow,
        ledger=ledger,
        clock=clock,
        ids=ids,
        metrics=metrics,
        job_ttl_s=job_ttl_s,
        completion_wait_s=completion_wait_s,
    )
    calls = CallService(
        uow=uow,
        ledger=ledger,
        reference=cached,
        providers=providers,
        vault=vault,
        clock=clock,
        ids=ids,
        metrics=metrics,
        lease_s=call_lease_s,
        rate_limits=CallRateLimits(rate_limiter),
        breakers=CircuitBreakers(clock, metrics, failure_threshold=breaker_failures, cool_down_s=breaker_cool_down_s),
        response_cache=response_cache,
    )
    one_call_jobs = OneCallJobService(jobs=jobs, calls=calls)
    organizations = OrganizationService(uow=uow, clock=clock, ids=ids, secrets=secrets)
    return Services(
        client_auth=ClientAuthService(reference=cached),
        jobs=jobs,
        calls=calls,
        one_call_jobs=one_call_jobs,
        credits=CreditService(uow=uow, clock=clock),
        usage=UsageService(uow=uow, clock=clock),
        organizations=organizations,
        models=models,
        credentials=credentials,
        admin_auth=AdminAuthService(
            uow=uow,
            hasher=hasher,
            tokens=tokens,
            token_ttl_s=token_ttl_s,
            clock=clock,
            ids=ids,
            throttle=login_throttle,
        ),
        admin_users=AdminUserService(uow=uow, hasher=hasher, clock=clock),
        webhooks=WebhookService(
            uow=uow,
            sender=webhook_sender,
            vault=vault,
            clock=clock,
            ids=ids,
            retry_base_s=webhook_retry_base_s,
            url_check=OutboundUrlCheck(policy=webhook_policy, resolver=resolver),
        ),
        litellm_import=LiteLlmImporter(
            models=models, credentials=credentials, organizations=organizations, catalog=catalog
        ),
        openai=OpenAiCompatService(uow=uow, calls=calls, one_call_jobs=one_call_jobs, clock=clock),
        economics=EconomicsService(uow=uow),
    )
