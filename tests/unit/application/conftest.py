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
from adapters.rate_limits.team_limiter import LimitsTeamRateLimiter
from adapters.security.argon2 import Argon2PasswordHasher
from adapters.security.jwt import JwtTokenCodec
from adapters.security.login_throttle import LimitsLoginThrottle
from adapters.vault.fernet import FernetVault
from adapters.webhooks import HttpWebhookSender
from application.principal import TeamPrincipal
from domain.budgets import BudgetMode
from domain.catalog import Provider
from domain.organizations import Organization, Team
from domain.pricing import PriceSheet
from entrypoints.bootstrap import Services, build_services
from tests.support.seeding import create_team, seed_organization

D = Decimal
HUNDRED = D(100)
# $2 / $8 per 1M for the customer, $1 / $4 for the provider: easy exact arithmetic.


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
        team, key = await create_team(self.services, self.organization, mode, credits, groups, **rates)
        return team, await self.services.client_auth.authenticate(key)


@pytest.fixture
async def world() -> World:
    store = MemoryStore()
    provider = ScriptedProviderClient()
    clock = FakeClock()
    services = build_services(
        uow=lambda: MemoryUnitOfWork(store),
        ledger=MemoryCallLedger(store),
        reference=MemoryReferenceReader(store),
        providers={Provider.OPENAI: provider, Provider.FAKE: provider},
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
    organization = await seed_organization(services)
    return World(store=store, services=services, provider=provider, clock=clock, organization=organization)


AsyncFn = Callable[..., Coroutine[Any, Any, Any]]
