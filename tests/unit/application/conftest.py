"""The application wired on in-memory fakes: every port faked, no I/O."""

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from limits.aio.storage import MemoryStorage

from adapters.memory.call_ledger import MemoryCallLedger
from adapters.memory.providers import ScriptedProviderClient
from adapters.memory.reference import MemoryReferenceReader
from adapters.memory.store import MemoryStore
from adapters.memory.system import CountingSecrets, FakeClock, SequentialIds
from adapters.memory.unit_of_work import MemoryUnitOfWork
from adapters.metrics import PrometheusMetrics
from adapters.providers.fake import FAKE_PROVIDER
from adapters.rate_limits.team_limiter import LimitsTeamRateLimiter
from adapters.security.argon2 import Argon2PasswordHasher
from adapters.security.jwt import JwtTokenCodec
from adapters.security.login_throttle import LimitsLoginThrottle
from adapters.vault.fernet import FernetVault
from adapters.webhooks import HttpWebhookSender
from application.principal import TeamPrincipal
from domain.budgets import BudgetMode, BudgetPolicy
from domain.catalog import Provider
from domain.organizations import Organization, Team
from domain.pricing import PriceSheet
from entrypoints.bootstrap import Services, build_services

D = Decimal
HUNDRED = D(100)
# $2 / $8 per 1M for the customer, $1 / $4 for the provider: easy exact arithmetic.
CUSTOMER = PriceSheet(input_per_million=D("2"), output_per_million=D("8"))
PROVIDER = PriceSheet(input_per_million=D("1"), output_per_million=D("4"))


class StaticCatalog:
    def __init__(self, prices: dict[tuple[Provider, str], PriceSheet] | None = None) -> None:
        self._prices = prices or {}

    def provider_prices(self, provider: Provider, model: str) -> PriceSheet | None:
        return self._prices.get((provider, model))


@dataclass
class World:
    store: MemoryStore
    services: Services
    provider: ScriptedProviderClient
    clock: FakeClock
    organization: Organization

    async def team(
        self, mode: BudgetMode, credits: Decimal | None = HUNDRED, groups: tuple[str, ...] = ("standard",), **rates: Any
    ) -> tuple[Team, TeamPrincipal]:
        team, key = await self.services.organizations.create_team(
            organization_id=self.organization.id,
            name=f"team-{mode}",
            budget=BudgetPolicy(mode=mode, **rates),
            credits=credits,
            access_groups=groups,
        )
        principal = await self.services.client_auth.authenticate(key.api_key)
        return team, principal


@pytest.fixture
async def world() -> World:
    store = MemoryStore()
    provider = ScriptedProviderClient()
    clock = FakeClock()
    services = build_services(
        uow=lambda: MemoryUnitOfWork(store),
        ledger=MemoryCallLedger(store),
        reference=MemoryReferenceReader(store),
        providers={Provider.OPENAI: provider, FAKE_PROVIDER: provider},
        vault=FernetVault([FernetVault.generate_key()]),
        catalog=StaticCatalog(),
        clock=clock,
        ids=SequentialIds(),
        secrets=CountingSecrets(),
        hasher=Argon2PasswordHasher(time_cost=1, memory_cost_kib=8192, parallelism=1),
        tokens=JwtTokenCodec("t" * 40),
        token_ttl_s=900,
        login_throttle=LimitsLoginThrottle(MemoryStorage()),
        webhook_sender=HttpWebhookSender(),
        metrics=PrometheusMetrics(),
        job_ttl_s=3600,
        completion_wait_s=0.2,
        call_lease_s=300,
        rate_limiter=LimitsTeamRateLimiter(MemoryStorage()),
    )
    organization = await services.organizations.create_organization(name="Acme")
    await services.models.create_alias(
        alias="smart",
        provider=Provider.OPENAI,
        provider_model="gpt-test",
        customer_prices=CUSTOMER,
        provider_costs=PROVIDER,
        default_max_tokens=100,
        access_groups=("standard",),
    )
    await services.models.create_alias(
        alias="premium",
        provider=Provider.OPENAI,
        provider_model="gpt-big",
        customer_prices=CUSTOMER,
        provider_costs=PROVIDER,
        access_groups=("premium",),
    )
    await services.credentials.add_credential(
        organization_id=organization.id, provider=Provider.OPENAI, name="main", api_key="sk-test-provider-secret-1234"
    )
    return World(store=store, services=services, provider=provider, clock=clock, organization=organization)


AsyncFn = Callable[..., Coroutine[Any, Any, Any]]
