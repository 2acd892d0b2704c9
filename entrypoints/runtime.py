"""Opening and closing what the service runs on: persistence, provider clients, vault."""

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from adapters.catalog.genai import GenaiPricesCatalog
from adapters.memory.store import MemoryStore, MemoryUnitOfWork
from adapters.metrics import PrometheusMetrics
from adapters.security.argon2 import Argon2PasswordHasher
from adapters.security.jwt import JwtTokenCodec
from adapters.system import RandomSecrets, SystemClock, Uuid7Ids
from adapters.vault.fernet import FernetVault
from adapters.webhooks import HttpWebhookSender
from application.ports.providers import ProviderClients
from entrypoints.bootstrap import Services, build_services
from entrypoints.settings import Settings

ADMIN_TOKEN_TTL_S = 900  # short-lived: 15 minutes


@dataclass(frozen=True, slots=True)
class Runtime:
    services: Services
    database_ok: Callable[[], Awaitable[bool]]
    description: str
    metrics: PrometheusMetrics


@asynccontextmanager
async def open_memory_runtime(settings: Settings, providers: ProviderClients | None = None) -> AsyncIterator[Runtime]:
    """Everything in process memory: for tests and demos only (nothing is durable)."""
    store = MemoryStore()
    sender = HttpWebhookSender()
    metrics = PrometheusMetrics()

    async def always_ok() -> bool:
        return True

    services = build_services(
        uow=lambda: MemoryUnitOfWork(store),
        providers=providers or {},
        vault=FernetVault(settings.fernet_keys),
        catalog=GenaiPricesCatalog(),
        clock=SystemClock(),
        ids=Uuid7Ids(),
        secrets=RandomSecrets(),
        hasher=Argon2PasswordHasher(),
        tokens=JwtTokenCodec(settings.jwt_secret, ttl_s=ADMIN_TOKEN_TTL_S),
        token_ttl_s=ADMIN_TOKEN_TTL_S,
        webhook_sender=sender,
        metrics=metrics,
        job_ttl_s=settings.job_ttl_s,
    )
    try:
        yield Runtime(services=services, database_ok=always_ok, description="memory", metrics=metrics)
    finally:
        await sender.aclose()


open_runtime = open_memory_runtime  # replaced by the Postgres runtime once it lands
