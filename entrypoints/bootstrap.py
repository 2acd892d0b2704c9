"""The composition root: the only place where adapters meet use cases."""

from dataclasses import dataclass

from application.ports.catalog import PriceCatalog
from application.ports.providers import ProviderClients
from application.ports.system import Clock, IdGenerator, SecretGenerator
from application.ports.unit_of_work import UnitOfWorkFactory
from application.ports.vault import CredentialVault
from application.services.auth import ClientAuthService
from application.services.calls import CallService
from application.services.credentials import CredentialService
from application.services.credits import CreditService
from application.services.jobs import JobService
from application.services.models import ModelService
from application.services.organizations import OrganizationService
from application.services.usage import UsageService


@dataclass(frozen=True, slots=True)
class Services:
    client_auth: ClientAuthService
    jobs: JobService
    calls: CallService
    credits: CreditService
    usage: UsageService
    organizations: OrganizationService
    models: ModelService
    credentials: CredentialService


def build_services(
    *,
    uow: UnitOfWorkFactory,
    providers: ProviderClients,
    vault: CredentialVault,
    catalog: PriceCatalog,
    clock: Clock,
    ids: IdGenerator,
    secrets: SecretGenerator,
    job_ttl_s: int,
) -> Services:
    return Services(
        client_auth=ClientAuthService(uow=uow),
        jobs=JobService(uow=uow, clock=clock, ids=ids, job_ttl_s=job_ttl_s),
        calls=CallService(uow=uow, providers=providers, vault=vault, clock=clock, ids=ids),
        credits=CreditService(uow=uow, clock=clock),
        usage=UsageService(uow=uow),
        organizations=OrganizationService(uow=uow, clock=clock, ids=ids, secrets=secrets),
        models=ModelService(uow=uow, catalog=catalog),
        credentials=CredentialService(uow=uow, vault=vault, clock=clock, ids=ids),
    )
